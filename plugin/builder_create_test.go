package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuilderCreateFlags parses buildx's create flags into the builder
// stored, without starting anything (remote nodes, no --bootstrap).
func TestBuilderCreateFlags(t *testing.T) {
	t.Parallel()
	cfgFile := filepath.Join(t.TempDir(), "buildkitd.toml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("debug = true\n"), 0o600))
	for _, tc := range []struct {
		name string
		args [][]string // create invocations, in order
		want *nodes.Builder
	}{
		{
			name: "remote with TLS driver options",
			args: [][]string{{"--name", "r", "--driver", "remote", "--driver-opt", "cacert=/ca.pem,cert=/c.pem", "--driver-opt", "key=/k.pem", "--platform", "linux/amd64,linux/arm64", "tcp://10.0.0.1:1234"}},
			want: &nodes.Builder{Name: "r", Driver: nodes.DriverRemote, Nodes: []nodes.Node{{
				Name: "r0", Endpoint: "tcp://10.0.0.1:1234", Driver: nodes.DriverRemote, Platforms: []string{"linux/amd64", "linux/arm64"},
				DriverOpts: map[string]string{"cacert": "/ca.pem", "cert": "/c.pem", "key": "/k.pem"},
				TLSCACert:  "/ca.pem", TLSCert: "/c.pem", TLSKey: "/k.pem",
			}}},
		},
		{
			name: "append a named node, then replace it",
			args: [][]string{
				{"--name", "r", "--driver", "remote", "unix:///a.sock"},
				{"--name", "r", "--append", "--node", "arm", "--platform", "linux/arm64", "unix:///b.sock"},
				{"--name", "r", "--append", "--node", "arm", "--platform", "linux/arm/v7", "unix:///c.sock"},
				{"--name", "r", "--append", "unix:///d.sock"},
			},
			want: &nodes.Builder{Name: "r", Driver: nodes.DriverRemote, Nodes: []nodes.Node{
				{Name: "r0", Endpoint: "unix:///a.sock", Driver: nodes.DriverRemote},
				{Name: "arm", Endpoint: "unix:///c.sock", Driver: nodes.DriverRemote, Platforms: []string{"linux/arm/v7"}},
				{Name: "r1", Endpoint: "unix:///d.sock", Driver: nodes.DriverRemote},
			}},
		},
		{
			name: "list form, with the name as --name",
			args: [][]string{{"--name", "fleet", "--node", "amd=unix:///a.sock", "--platform", "linux/amd64", "--tlscacert", "/ca.pem"}},
			want: &nodes.Builder{Name: "fleet", Nodes: []nodes.Node{{Name: "amd", Endpoint: "unix:///a.sock", Driver: nodes.DriverRemote, Platforms: []string{"linux/amd64"}, TLSCACert: "/ca.pem"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dockerCLI := clitest.New(t)
			for _, args := range tc.args {
				require.NoError(t, execute(t, dockerCLI, append([]string{"builder", "create"}, args...)...), "%v", args)
			}
			got, err := builderStore(dockerCLI).Get(tc.want.Name)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	t.Run("docker-container options, without starting", func(t *testing.T) {
		t.Parallel()
		o := &createOptions{
			name: "ci", driverOpts: []string{"image=bk:local,network=host", "env.BUILDKIT_STEP_LOG_MAX_SIZE=-1"},
			flags: `--debug --allow-insecure-entitlement "network.host"`, config: cfgFile,
		}
		b, err := o.builder(nodes.Store{Dir: t.TempDir()}, nil, func(string) bool { return false })
		require.NoError(t, err)
		assert.Equal(t, &nodes.Builder{Name: "ci", Driver: nodes.DriverDockerContainer, Nodes: []nodes.Node{{
			Name: "ci0", Driver: nodes.DriverDockerContainer,
			DriverOpts:     map[string]string{"image": "bk:local", "network": "host", "env.BUILDKIT_STEP_LOG_MAX_SIZE": "-1"},
			BuildkitdFlags: []string{"--debug", "--allow-insecure-entitlement", "network.host"}, BuildkitdConfig: []byte("debug = true\n"),
		}}}, b)

		o = &createOptions{}
		b, err = o.builder(nodes.Store{Dir: t.TempDir()}, []string{"other"}, func(c string) bool { return c == "other" })
		require.NoError(t, err)
		assert.Regexp(t, `^builder-[0-9a-f]{8}$`, b.Name, "a random name, as buildx")
		assert.Equal(t, "other", b.Nodes[0].Endpoint, "a docker context")
		assert.Equal(t, "docker-container://buildx_buildkit_"+b.Name+"0?context=other", b.Nodes[0].Remote().Address)
	})
}

// TestBuilderLsInspectGolden prints ls (table and json) and inspect of a
// remote, a docker-container and a buildx builder with fixed statuses.
func TestBuilderLsInspectGolden(t *testing.T) {
	t.Parallel()
	all := []*nodes.Builder{
		{Name: "ci", Driver: nodes.DriverDockerContainer, Nodes: []nodes.Node{
			{Name: "ci0", Driver: nodes.DriverDockerContainer, DriverOpts: map[string]string{"image": "bk:local", "network": "host"}, BuildkitdFlags: []string{"--debug"}},
			{Name: "ci1", Driver: nodes.DriverDockerContainer, Endpoint: "other"},
		}},
		{Name: "fleet", Driver: nodes.DriverRemote, Nodes: []nodes.Node{
			{Name: "amd", Endpoint: "tcp://10.0.0.1:1234", Driver: nodes.DriverRemote, Platforms: []string{"linux/amd64"}},
			{Name: "down", Endpoint: "unix:///run/none.sock", Driver: nodes.DriverRemote},
		}},
		{Name: "k8s", Driver: "kubernetes", Buildx: true, Unusable: "builder \"k8s\" uses buildx's kubernetes driver"},
	}
	status := func(n nodes.Node) nodeStatus {
		switch n.Name {
		case "ci0":
			return nodeStatus{Status: "running", Version: "v0.99.0", Platforms: []string{"linux/amd64", "linux/386"}}
		case "ci1":
			return nodeStatus{Status: "inactive"}
		case "amd":
			return nodeStatus{Status: "running", Version: "v0.98.0", Platforms: []string{"linux/amd64"}}
		}
		return nodeStatus{Status: "error", Err: errString("connection refused")}
	}
	var buf bytesBuffer
	require.NoError(t, printLs(&buf, all, "fleet", status))
	clitest.Golden(t, "builder-ls.golden", buf.Bytes())
	buf.Reset()
	require.NoError(t, printLsJSON(&buf, all[:2], "fleet", status))
	clitest.Golden(t, "builder-ls-json.golden", []byte(stripEmbeddedVersion(buf.String())))
	buf.Reset()
	require.NoError(t, printInspect(&buf, all[0], status))
	clitest.Golden(t, "builder-inspect.golden", buf.Bytes())
}

type errString string

func (e errString) Error() string { return string(e) }

type bytesBuffer = bytes.Buffer

// stripEmbeddedVersion hides the embedded BuildKit's version, which moves
// with go.mod.
func stripEmbeddedVersion(s string) string {
	return strings.ReplaceAll(s, `"Version":"`+build.BuildKitVersion()+`"`, `"Version":"VERSION"`)
}
