// Package nodes keeps the named builders, each a list of BuildKit daemons
// (nodes) that serve some platforms, and plans which node builds which
// platform of a build.
//
// Imports: build/remote, build/internal/atomicfile, containerd's platforms
// and the standard library; never docker/cli (the store's directory comes
// in as a value).
package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/docker-build2/docker-build2/build/internal/atomicfile"
	"github.com/docker-build2/docker-build2/build/remote"
)

// Node is one BuildKit daemon of a named builder.
type Node struct {
	Name          string   `json:"name"`
	Endpoint      string   `json:"endpoint"`
	Platforms     []string `json:"platforms,omitempty"`
	TLSCACert     string   `json:"tlscacert,omitempty"`
	TLSCert       string   `json:"tlscert,omitempty"`
	TLSKey        string   `json:"tlskey,omitempty"`
	TLSServerName string   `json:"tlsservername,omitempty"`

	// Driver is the builder's driver, copied onto each node when it is
	// read: DriverRemote (Endpoint is the daemon's address) or
	// DriverDockerContainer (Endpoint is the docker context, "" for the
	// current engine).
	Driver string `json:"-"`
	// DriverOpts are the driver's options (--driver-opt), as buildx names
	// them.
	DriverOpts map[string]string `json:"driveropts,omitempty"`
	// BuildkitdFlags and BuildkitdConfig (a buildkitd.toml) configure the
	// daemon a docker-container node starts.
	BuildkitdFlags  []string `json:"buildkitdflags,omitempty"`
	BuildkitdConfig []byte   `json:"buildkitdconfig,omitempty"`
}

// Remote is how to connect to the node.
func (n Node) Remote() remote.Config {
	if n.Driver == DriverDockerContainer {
		addr := "docker-container://" + n.ContainerName()
		if n.Endpoint != "" && n.Endpoint != "default" {
			addr += "?context=" + url.QueryEscape(n.Endpoint)
		}
		return remote.Config{Address: addr}
	}
	return remote.Config{Address: n.Endpoint, TLSCACert: n.TLSCACert, TLSCert: n.TLSCert, TLSKey: n.TLSKey, TLSServerName: n.TLSServerName}
}

// The drivers docker-build2 runs a named builder's nodes with.
const (
	DriverRemote          = "remote"
	DriverDockerContainer = "docker-container"
)

// Builder is a named builder.
type Builder struct {
	Name string `json:"name"`
	// Driver is DriverRemote ("" in files written before there were
	// drivers) or DriverDockerContainer.
	Driver string `json:"driver,omitempty"`
	Nodes  []Node `json:"nodes"`
	// Buildx is set for a builder read from buildx's store, which
	// docker-build2 uses but does not change.
	Buildx bool `json:"-"`
	// Unusable, for a buildx builder, says why docker-build2 cannot build
	// on it (its driver); Get returns it as the error.
	Unusable string `json:"-"`
}

// DriverName is the builder's driver, DriverRemote when none is stored.
func (b *Builder) DriverName() string {
	if b.Driver == "" {
		return DriverRemote
	}
	return b.Driver
}

// setDriver copies the builder's driver onto its nodes.
func (b *Builder) setDriver() {
	for i := range b.Nodes {
		b.Nodes[i].Driver = b.DriverName()
	}
}

// Default is the name of the embedded builder, which the store never holds.
const Default = "default"

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidName reports whether name can name a builder or a node.
func ValidName(name string) bool { return validName.MatchString(name) }

// driverHints say what stands in for buildx's drivers docker-build2 does
// not run.
var driverHints = map[string]string{
	"kubernetes": " (a BuildKit pod that runs in Kubernetes: --driver remote kube-pod://POD)",
	"cloud":      " (Docker Build Cloud is Docker's service, which docker-build2 does not reach)",
	"docker":     " (the embedded builder, default, stands in for the Docker engine's own)",
}

// Validate checks a builder before it is stored.
func (b *Builder) Validate() error {
	if !ValidName(b.Name) || b.Name == Default {
		return fmt.Errorf("builder name %q: use letters, digits, '.', '_' and '-' (and not %q)", b.Name, Default)
	}
	if len(b.Nodes) == 0 {
		return fmt.Errorf("builder %s: give at least one node", b.Name)
	}
	if d := b.DriverName(); d != DriverRemote && d != DriverDockerContainer {
		return fmt.Errorf("builder %s: driver %q: use %s or %s%s", b.Name, d, DriverRemote, DriverDockerContainer, driverHints[d])
	}
	seen := map[string]bool{}
	for _, n := range b.Nodes {
		if !ValidName(n.Name) {
			return fmt.Errorf("builder %s: node name %q: use letters, digits, '.', '_' and '-'", b.Name, n.Name)
		}
		n.Driver = b.DriverName()
		if err := checkDriverOpts(n); err != nil {
			return fmt.Errorf("builder %s, node %s: %w", b.Name, n.Name, err)
		}
		if seen[n.Name] {
			return fmt.Errorf("builder %s: node %q is given twice", b.Name, n.Name)
		}
		seen[n.Name] = true
	}
	return nil
}

// Store keeps named builders as JSON files in Dir/builders, and the name
// of the current one in Dir/current. It reads, and never writes, buildx's
// builders in BuildxDir (default: buildx beside Dir, as ~/.docker/buildx
// is beside ~/.docker/build2).
type Store struct {
	Dir       string
	BuildxDir string
}

func (s Store) buildx() buildxStore {
	if s.BuildxDir != "" {
		return buildxStore{dir: s.BuildxDir}
	}
	return buildxStore{dir: filepath.Join(filepath.Dir(s.Dir), "buildx")}
}

func (s Store) path(name string) string { return filepath.Join(s.Dir, "builders", name+".json") }
func (s Store) currentPath() string     { return filepath.Join(s.Dir, "current") }
func notFound(name string) error {
	return fmt.Errorf("no builder named %q: see docker build2 builder ls", name)
}
func (s Store) exists(name string) bool { _, err := os.Stat(s.path(name)); return err == nil }
func (s Store) mkdir(parts ...string) error {
	return os.MkdirAll(filepath.Join(append([]string{s.Dir}, parts...)...), 0o700)
}

// Get reads the builder called name, from this store or else, read-only,
// from buildx's.
func (s Store) Get(name string) (*Builder, error) {
	dt, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		b, err := s.buildx().get(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil, notFound(name)
		}
		return b, err
	}
	if err != nil {
		return nil, err
	}
	var b Builder
	if err := json.Unmarshal(dt, &b); err != nil {
		return nil, fmt.Errorf("builder %q: %s is not valid JSON: %w", name, s.path(name), err)
	}
	b.setDriver()
	return &b, nil
}

// List returns every builder, by name.
func (s Store) List() ([]*Builder, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "builders"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Builder
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			b, err := s.Get(name)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListAll is List followed by the builders of buildx's store that this
// store has no builder of that name for; a buildx builder whose driver
// docker-build2 does not run is listed with Unusable set.
func (s Store) ListAll() ([]*Builder, error) {
	own, err := s.List()
	if err != nil {
		return nil, err
	}
	theirs, err := s.buildx().list()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, b := range own {
		have[b.Name] = true
	}
	for _, b := range theirs {
		if !have[b.Name] {
			own = append(own, b)
		}
	}
	return own, nil
}

// Create stores a new builder; one of that name must not exist.
func (s Store) Create(b *Builder) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if s.exists(b.Name) {
		return fmt.Errorf("builder %q exists already: remove it first (docker build2 builder rm %s)", b.Name, b.Name)
	}
	if err := s.mkdir("builders"); err != nil {
		return err
	}
	b.setDriver()
	return s.write(b)
}

// Put replaces (or stores) a builder of this store, as --append does.
func (s Store) Put(b *Builder) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if err := s.mkdir("builders"); err != nil {
		return err
	}
	b.setDriver()
	return s.write(b)
}

// Has reports whether this store (not buildx's) holds a builder of that name.
func (s Store) Has(name string) bool { return s.exists(name) }

func (s Store) write(b *Builder) error {
	dt, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(b.Name), append(dt, '\n'), 0o600)
}

// Remove deletes the builder called name; it stops being the current one.
func (s Store) Remove(name string) error {
	if !s.exists(name) {
		if _, err := s.buildx().get(name); err == nil {
			return readOnly(name)
		}
		return notFound(name)
	}
	if err := os.Remove(s.path(name)); err != nil {
		return err
	}
	if s.Current() == name {
		_ = os.Remove(s.currentPath())
	}
	return nil
}

// Current is the name of the builder chosen with Use; "" is the embedded one.
func (s Store) Current() string {
	dt, err := os.ReadFile(s.currentPath())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(dt))
}

// Use makes name the current builder; Default goes back to the embedded one.
func (s Store) Use(name string) error {
	if name == Default {
		if err := os.Remove(s.currentPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if !s.exists(name) {
		if _, err := s.Get(name); err != nil {
			return err
		}
	}
	if err := s.mkdir(); err != nil {
		return err
	}
	return atomicfile.Write(s.currentPath(), []byte(name+"\n"), 0o600)
}
