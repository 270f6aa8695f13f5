package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
)

// registryConfig maps daemon.json's registry-mirrors and insecure-registries
// to BuildKit's per-host registry configuration, and gives each host that
// has a directory in certsDir (docker's /etc/docker/certs.d layout: ca.crt,
// client.cert, client.key) its certificates.
func registryConfig(d *daemonconfig.Config, certsDir string) map[string]resolverconfig.RegistryConfig {
	m := map[string]resolverconfig.RegistryConfig{}
	if certsDir != "" {
		entries, _ := os.ReadDir(certsDir)
		no := false
		for _, e := range entries {
			if e.IsDir() {
				// A certs.d entry means TLS, even for a loopback host that
				// BuildKit would otherwise reach over plain HTTP.
				c := m[e.Name()]
				c.TLSConfigDir = append(c.TLSConfigDir, filepath.Join(certsDir, e.Name()))
				c.PlainHTTP = &no
				m[e.Name()] = c
			}
		}
	}
	if d == nil {
		return m
	}
	yes := true
	var mirrors []string
	for _, u := range d.RegistryMirrors {
		host := strings.TrimSuffix(u, "/")
		plain := strings.HasPrefix(host, "http://")
		host = strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://")
		mirrors = append(mirrors, host)
		if plain {
			c := m[hostOnly(host)]
			c.PlainHTTP = &yes
			m[hostOnly(host)] = c
		}
	}
	if len(mirrors) > 0 {
		c := m["docker.io"]
		c.Mirrors = mirrors
		m["docker.io"] = c
	}
	for _, h := range d.InsecureRegistries {
		h = strings.TrimPrefix(strings.TrimPrefix(h, "http://"), "https://")
		c := m[h]
		c.PlainHTTP = &yes
		c.Insecure = &yes
		m[h] = c
	}
	return m
}

func hostOnly(hostPath string) string {
	h, _, _ := strings.Cut(hostPath, "/")
	return h
}

// gcConfig maps builder.gc to BuildKit's GC configuration, as dockerd does:
// defaultKeepStorage is the legacy name of defaultReservedSpace.
func gcConfig(d *daemonconfig.Config) (config.GCConfig, error) {
	var out config.GCConfig
	if d == nil {
		return out, nil
	}
	gc := d.Builder.GC
	out.GC = gc.Enabled
	if err := parseSizes([]sizeField{
		// defaultKeepStorage is the legacy name of defaultReservedSpace;
		// the newer key wins when both are set.
		{"builder.gc.defaultKeepStorage", gc.DefaultKeepStorage, &out.GCReservedSpace},
		{"builder.gc.defaultReservedSpace", gc.DefaultReservedSpace, &out.GCReservedSpace},
		{"builder.gc.defaultMaxUsedSpace", gc.DefaultMaxUsedSpace, &out.GCMaxUsedSpace},
		{"builder.gc.defaultMinFreeSpace", gc.DefaultMinFreeSpace, &out.GCMinFreeSpace},
	}); err != nil {
		return out, err
	}
	for i, r := range gc.Policy {
		p := config.GCPolicy{All: r.All, Filters: r.Filter}
		key := fmt.Sprintf("builder.gc.policy[%d]", i)
		if err := parseSizes([]sizeField{
			{key + ".keepStorage", r.KeepStorage, &p.ReservedSpace},
			{key + ".reservedSpace", r.ReservedSpace, &p.ReservedSpace},
			{key + ".maxUsedSpace", r.MaxUsedSpace, &p.MaxUsedSpace},
			{key + ".minFreeSpace", r.MinFreeSpace, &p.MinFreeSpace},
		}); err != nil {
			return out, err
		}
		if err := p.KeepDuration.UnmarshalText([]byte(r.KeepDuration)); err != nil {
			return out, fmt.Errorf("%s.keepDuration: %q is not a duration (e.g. 48h)", key, r.KeepDuration)
		}
		out.GCPolicy = append(out.GCPolicy, p)
	}
	return out, nil
}

// sizeField is a daemon.json size (such as "10GB" or "20%") and where it goes.
type sizeField struct {
	key string
	val string
	dst *config.DiskSpace
}

// parseSizes parses the set fields in order; an error names the key.
func parseSizes(fields []sizeField) error {
	for _, f := range fields {
		if f.val == "" {
			continue
		}
		if err := f.dst.UnmarshalText([]byte(f.val)); err != nil {
			return fmt.Errorf("%s: %q is not a size (e.g. 10GB or 20%%)", f.key, f.val)
		}
	}
	return nil
}
