package nodes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeBuildxInstance writes a builder as buildx's store saves one: a JSON
// file named as the builder in instances/.
func writeBuildxInstance(t *testing.T, dir, name, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "buildx", "instances"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "buildx", "instances", name), []byte(content), 0o600))
}

func TestBuildxStore(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	s := Store{Dir: filepath.Join(cfg, "build2")}
	writeBuildxInstance(t, cfg, "ci", `{"Name":"ci","Driver":"docker-container","Nodes":[{"Name":"ci0","Endpoint":"default",`+
		`"Platforms":[{"architecture":"arm64","os":"linux","variant":"v8"}],"DriverOpts":{"image":"moby/buildkit:v0.20.0","network":"host"},`+
		`"Flags":["--debug"],"Files":{"buildkitd.toml":"ZGVidWcgPSB0cnVlCg=="}}],"Dynamic":false}`)
	writeBuildxInstance(t, cfg, "rem", `{"Name":"rem","Driver":"remote","Nodes":[{"Name":"rem0","Endpoint":"tcp://10.0.0.1:1234",`+
		`"Platforms":null,"DriverOpts":{"cacert":"/ca.pem","cert":"/c.pem","key":"/k.pem","servername":"bk"},"Flags":null,"Files":null}],"Dynamic":false}`)
	writeBuildxInstance(t, cfg, "k8s", `{"Name":"k8s","Driver":"kubernetes","Nodes":[{"Name":"k8s0","Endpoint":"kubernetes:///k8s"}],"Dynamic":false}`)

	ci, err := s.Get("ci")
	require.NoError(t, err)
	assert.Equal(t, &Builder{Name: "ci", Driver: DriverDockerContainer, Buildx: true, Nodes: []Node{{
		Name: "ci0", Endpoint: "default", Driver: DriverDockerContainer, Platforms: []string{"linux/arm64/v8"},
		DriverOpts:     map[string]string{"image": "moby/buildkit:v0.20.0", "network": "host"},
		BuildkitdFlags: []string{"--debug"}, BuildkitdConfig: []byte("debug = true\n"),
	}}}, ci)
	assert.Equal(t, "docker-container://buildx_buildkit_ci0", ci.Nodes[0].Remote().Address, `the "default" context is the current engine`)

	rem, err := s.Get("rem")
	require.NoError(t, err)
	n := rem.Nodes[0]
	assert.Equal(t, []string{"tcp://10.0.0.1:1234", "/ca.pem", "/c.pem", "/k.pem", "bk"},
		[]string{n.Remote().Address, n.TLSCACert, n.TLSCert, n.TLSKey, n.TLSServerName}, "remote's TLS driver options")

	_, err = s.Get("k8s")
	require.EqualError(t, err, `builder "k8s" uses buildx's kubernetes driver, which docker-build2 does not run: build with docker buildx, or create one docker-build2 runs (docker build2 builder create --driver docker-container or --driver remote)`)
	_, err = s.Get("../buildx/instances/ci")
	require.EqualError(t, err, `no builder named "../buildx/instances/ci": see docker build2 builder ls`)

	// docker-build2's own builder of a name wins over buildx's.
	require.NoError(t, s.Create(&Builder{Name: "rem", Nodes: []Node{{Name: "own", Endpoint: "unix:///own.sock"}}}))
	rem, err = s.Get("rem")
	require.NoError(t, err)
	assert.False(t, rem.Buildx)
	assert.Equal(t, "own", rem.Nodes[0].Name)

	all, err := s.ListAll()
	require.NoError(t, err)
	var names []string
	for _, b := range all {
		names = append(names, b.Name)
		if b.Name == "k8s" {
			assert.NotEmpty(t, b.Unusable)
		}
	}
	assert.Equal(t, []string{"rem", "ci", "k8s"}, names, "own builders, then buildx's")

	// buildx's builders are read-only, but may be the current one.
	require.EqualError(t, s.Remove("ci"), `builder "ci" belongs to buildx, which docker-build2 only reads: change it with docker buildx`)
	require.NoError(t, s.Use("ci"))
	assert.Equal(t, "ci", s.Current())
	require.Error(t, s.Use("k8s"))
	assert.FileExists(t, filepath.Join(cfg, "buildx", "instances", "ci"))
}

func TestBuildxStoreBadJSON(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	writeBuildxInstance(t, cfg, "bad", `{`)
	_, err := Store{Dir: filepath.Join(cfg, "build2")}.Get("bad")
	require.ErrorContains(t, err, `buildx builder "bad": `)
	require.ErrorContains(t, err, "is not valid JSON")
}

func TestContainerConfig(t *testing.T) {
	t.Parallel()
	n := Node{
		Name: "ci0", Driver: DriverDockerContainer, BuildkitdFlags: []string{"--debug"}, BuildkitdConfig: []byte("x"),
		DriverOpts: map[string]string{"image": "bk:local", "network": "host", "env.FOO": "bar", "memory": "1g", "restart-policy": "on-failure:3", "default-load": "true"},
	}
	cfg, hc, err := ContainerConfig(n)
	require.NoError(t, err)
	assert.Equal(t, "bk:local", cfg.Image)
	assert.Equal(t, []string{"--config", "/etc/buildkit/buildkitd.toml", "--debug"}, cfg.Cmd)
	assert.Equal(t, []string{"FOO=bar"}, cfg.Env)
	assert.True(t, hc.Privileged)
	assert.True(t, *hc.Init)
	assert.Equal(t, "host", string(hc.NetworkMode))
	assert.Equal(t, int64(1<<30), hc.Memory)
	assert.Equal(t, "on-failure", string(hc.RestartPolicy.Name))
	assert.Equal(t, 3, hc.RestartPolicy.MaximumRetryCount)
	require.Len(t, hc.Mounts, 1)
	assert.Equal(t, "buildx_buildkit_ci0_state", hc.Mounts[0].Source)
	assert.Equal(t, "/var/lib/buildkit", hc.Mounts[0].Target)

	cfg, hc, err = ContainerConfig(Node{Name: "d", Driver: DriverDockerContainer})
	require.NoError(t, err)
	assert.Equal(t, DefaultImage, cfg.Image)
	assert.Empty(t, cfg.Cmd)
	assert.Equal(t, "unless-stopped", string(hc.RestartPolicy.Name), "as buildx")

	_, hc, err = ContainerConfig(Node{Name: "d", DriverOpts: map[string]string{"privileged": "false"}})
	require.NoError(t, err)
	assert.False(t, hc.Privileged)
	assert.Equal(t, []string{"SYS_ADMIN", "NET_ADMIN"}, hc.CapAdd)
	assert.Equal(t, []string{}, hc.MaskedPaths)
	require.Len(t, hc.Mounts, 2)
	assert.Equal(t, "/sys/fs/cgroup", hc.Mounts[1].Target)

	for opt, want := range map[string]string{
		"colour=red":   "invalid driver option colour for docker-container driver",
		"env.=x":       `invalid env option "env.", expecting env.FOO=bar`,
		"memory=lots":  "driver option memory=lots: ",
		"cpu-quota=no": "driver option cpu-quota=no: ",
	} {
		k, v, _ := strings.Cut(opt, "=")
		_, _, err := ContainerConfig(Node{Name: "d", DriverOpts: map[string]string{k: v}})
		require.ErrorContains(t, err, want, opt)
	}
	assert.Equal(t, "docker-container://buildx_buildkit_d?context=other", Node{Name: "d", Driver: DriverDockerContainer, Endpoint: "other"}.Remote().Address)
}
