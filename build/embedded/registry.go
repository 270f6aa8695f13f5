package embedded

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/moby/buildkit/util/resolver"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	resolverconfig "github.com/moby/buildkit/util/resolver/config"
)

// RegistryHosts is how the embedded solver reaches registries, for other
// registry clients to reach them the same way: daemon.json's mirrors and
// insecure registries, and docker's certs.d layout in certsDir. It sets no
// credentials.
func RegistryHosts(d *daemonconfig.Config, certsDir string) docker.RegistryHosts {
	return resolver.NewRegistryConfig(registryConfig(d, certsDir))
}

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

// gcConfig is builder.gc as BuildKit's GC configuration; daemonconfig
// checked its values when it loaded them.
func gcConfig(d *daemonconfig.Config) config.GCConfig {
	cfg, _ := d.BuildKitGC()
	return cfg
}
