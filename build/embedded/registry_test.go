package embedded

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/moby/buildkit/util/disk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryConfig(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(certs, "reg.example:5000"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(certs, "not-a-dir"), nil, 0o644))
	d := &daemonconfig.Config{
		RegistryMirrors:    []string{"http://127.0.0.1:5000", "https://mirror.example/path/"},
		InsecureRegistries: []string{"insecure.example:443"},
	}
	m := registryConfig(d, certs)

	assert.Equal(t, []string{"127.0.0.1:5000", "mirror.example/path"}, m["docker.io"].Mirrors)
	require.NotNil(t, m["127.0.0.1:5000"].PlainHTTP)
	assert.True(t, *m["127.0.0.1:5000"].PlainHTTP, "an http:// mirror is reached over plain HTTP")
	assert.Nil(t, m["mirror.example"].PlainHTTP)
	require.NotNil(t, m["insecure.example:443"].Insecure)
	assert.True(t, *m["insecure.example:443"].Insecure)
	assert.Equal(t, []string{filepath.Join(certs, "reg.example:5000")}, m["reg.example:5000"].TLSConfigDir)
	require.NotNil(t, m["reg.example:5000"].PlainHTTP)
	assert.False(t, *m["reg.example:5000"].PlainHTTP, "a certs.d entry means TLS")
	assert.NotContains(t, m, "not-a-dir")

	assert.Empty(t, registryConfig(nil, ""))
}

func TestGCConfig(t *testing.T) {
	t.Parallel()
	no := false
	dstat := disk.DiskStat{Total: 100 << 30, Free: 50 << 30}

	// No builder.gc: BuildKit's default policies.
	cfg := gcConfig(&daemonconfig.Config{})
	assert.Len(t, gcPolicy(cfg, dstat), 4)

	// Disabled: no policy at all.
	cfg = gcConfig(&daemonconfig.Config{Builder: daemonconfig.Builder{GC: daemonconfig.GC{Enabled: &no}}})
	assert.Empty(t, gcPolicy(cfg, dstat))

	// The legacy defaultKeepStorage is the reserved space of the defaults.
	cfg = gcConfig(&daemonconfig.Config{Builder: daemonconfig.Builder{GC: daemonconfig.GC{DefaultKeepStorage: "10GB"}}})
	rules := gcPolicy(cfg, dstat)
	require.NotEmpty(t, rules)
	assert.Equal(t, int64(10<<30), rules[len(rules)-1].ReservedSpace, "sizes are docker's binary units")

	// Explicit policies replace the defaults.
	cfg = gcConfig(&daemonconfig.Config{Builder: daemonconfig.Builder{GC: daemonconfig.GC{Policy: []daemonconfig.GCRule{
		{KeepStorage: "1GB", Filter: []string{"type==source.local"}, KeepDuration: "48h"},
		{All: true, MaxUsedSpace: "20%"},
	}}}})
	rules = gcPolicy(cfg, dstat)
	require.Len(t, rules, 2)
	assert.Equal(t, int64(1<<30), rules[0].ReservedSpace)
	assert.Equal(t, []string{"type==source.local"}, rules[0].Filter)
	assert.Equal(t, "48h0m0s", rules[0].KeepDuration.String())
	assert.True(t, rules[1].All)
	assert.InDelta(t, float64(20<<30), float64(rules[1].MaxUsedSpace), float64(1<<30), "20% of the disk")
}
