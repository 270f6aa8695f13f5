package daemonconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Config is the part of daemon.json the embedded builder applies.
type Config struct {
	// Features holds the "features" object; only "buildkit" is used.
	Features Features `json:"features,omitzero"`
	// Builder is the "builder" object.
	Builder Builder `json:"builder,omitzero"`
	// RegistryMirrors are mirrors of Docker Hub (docker.io), tried in order.
	RegistryMirrors []string `json:"registry-mirrors,omitempty"`
	// InsecureRegistries are hosts reached over plain HTTP or without
	// certificate verification.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
}

// Features is daemon.json's "features" object.
type Features struct {
	// BuildKit turns BuildKit on or off; nil means not set.
	BuildKit *bool `json:"buildkit,omitempty"`
}

// Builder is daemon.json's "builder" object.
type Builder struct {
	GC           GC           `json:"gc,omitzero"`
	Entitlements Entitlements `json:"entitlements,omitzero"`
	History      History      `json:"history,omitzero"`
}

// GC is "builder.gc". Sizes are strings such as "10GB" or "20%", as dockerd
// takes them.
type GC struct {
	Enabled              *bool    `json:"enabled,omitempty"`
	DefaultKeepStorage   string   `json:"defaultKeepStorage,omitempty"`
	DefaultReservedSpace string   `json:"defaultReservedSpace,omitempty"`
	DefaultMaxUsedSpace  string   `json:"defaultMaxUsedSpace,omitempty"`
	DefaultMinFreeSpace  string   `json:"defaultMinFreeSpace,omitempty"`
	Policy               []GCRule `json:"policy,omitempty"`
}

// GCRule is one entry of "builder.gc.policy".
type GCRule struct {
	All           bool     `json:"all,omitempty"`
	Filter        []string `json:"filter,omitempty"`
	KeepStorage   string   `json:"keepStorage,omitempty"`
	ReservedSpace string   `json:"reservedSpace,omitempty"`
	MaxUsedSpace  string   `json:"maxUsedSpace,omitempty"`
	MinFreeSpace  string   `json:"minFreeSpace,omitempty"`
	KeepDuration  string   `json:"keepDuration,omitempty"`
}

// Entitlements is "builder.entitlements".
type Entitlements struct {
	NetworkHost      *bool `json:"network-host,omitempty"`
	SecurityInsecure *bool `json:"security-insecure,omitempty"`
}

// BuildKit reports features.buildkit and whether it is set at all.
func (c *Config) BuildKit() (enabled, set bool) {
	if c.Features.BuildKit == nil {
		return false, false
	}
	return *c.Features.BuildKit, true
}

// AllowedEntitlements returns the entitlements the builder may grant, with
// dockerd's defaults: network.host on, security.insecure off.
func (c *Config) AllowedEntitlements() []string {
	var out []string
	if e := c.Builder.Entitlements.NetworkHost; e == nil || *e {
		out = append(out, "network.host")
	}
	if e := c.Builder.Entitlements.SecurityInsecure; e != nil && *e {
		out = append(out, "security.insecure")
	}
	return out
}

// Load decodes daemon.json from r; name is used in error messages.
func Load(r io.Reader, name string) (*Config, error) {
	dt, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	cfg := &Config{}
	if len(bytes.TrimSpace(dt)) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(dt, cfg); err != nil {
		return nil, decodeError(name, dt, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// LoadFile reads the daemon.json at path. A missing file is an empty Config
// (dockerd runs without one); an unreadable one is an error naming it.
func LoadFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &Config{}, nil
		}
		return nil, fmt.Errorf("reading daemon config: %w", err)
	}
	defer func() { _ = f.Close() }()
	return Load(f, path)
}

// Validate checks values the JSON types cannot: URLs, hosts, the sizes
// and durations of builder.gc, and builder.history.
func (c *Config) Validate() error {
	for i, m := range c.RegistryMirrors {
		if !strings.HasPrefix(m, "http://") && !strings.HasPrefix(m, "https://") {
			return fmt.Errorf("registry-mirrors[%d]: %q must start with http:// or https://", i, m)
		}
	}
	for i, h := range c.InsecureRegistries {
		if strings.TrimSpace(h) == "" {
			return fmt.Errorf("insecure-registries[%d]: empty host", i)
		}
	}
	if _, err := c.BuildKitGC(); err != nil {
		return err
	}
	_, err := c.BuildHistory()
	return err
}

func decodeError(name string, dt []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset counts the offending byte as read.
		line, col := position(dt, syn.Offset-1)
		return fmt.Errorf("%s:%d:%d: malformed JSON: %w", name, line, col, syn)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		line, col := position(dt, typ.Offset)
		return fmt.Errorf("%s:%d:%d: key %q: got a JSON %s, want %s", name, line, col, typ.Field, typ.Value, jsonType(typ.Type.Kind().String()))
	}
	return fmt.Errorf("%s: %w", name, err)
}

func jsonType(kind string) string {
	switch kind {
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64":
		return "a number"
	}
	return kind
}

// position turns a byte offset into a 1-based line and column.
func position(dt []byte, off int64) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > int64(len(dt)) {
		off = int64(len(dt))
	}
	line, col = 1, 1
	for _, b := range dt[:off] {
		if b == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}
