package plugin

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/docker/cli/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuilderCommands walks a named builder through create, ls, use,
// inspect and rm, with the store beside the fake CLI's config file. Its
// nodes are sockets nobody listens on, so they show as errors.
func TestBuilderCommands(t *testing.T) {
	t.Parallel()
	dockerCLI := clitest.New(t)
	sockets := t.TempDir()
	amd := "unix://" + filepath.Join(sockets, "amd.sock")
	arm := "unix://" + filepath.Join(sockets, "arm.sock")
	storeDir := filepath.Join(dockerCLI.ConfigDir(), "build2")

	// row matches a line of ls: NAME/NODE, ENDPOINT, STATUS, PLATFORMS.
	row := func(cells ...string) *regexp.Regexp {
		for i, c := range cells {
			cells[i] = regexp.QuoteMeta(c)
		}
		return regexp.MustCompile(`(?m)^` + strings.Join(cells, `\s+`))
	}
	steps := []struct {
		name    string
		args    []string
		want    []*regexp.Regexp // on stdout
		notWant []*regexp.Regexp
		check   func(t *testing.T)
	}{
		{
			name: "ls with no builder",
			args: []string{"builder", "ls"},
			want: []*regexp.Regexp{row("NAME/NODE", "DRIVER/ENDPOINT", "STATUS", "PLATFORMS"), row("default *", "embedded")},
		},
		{
			name: "create",
			args: []string{"builder", "create", "fleet", "--node", "amd=" + amd, "--platform", "linux/amd64", "--node", "arm=" + arm, "--platform", "linux/arm64,linux/arm/v7"},
			want: []*regexp.Regexp{regexp.MustCompile(`^fleet\n$`)},
			check: func(t *testing.T) {
				t.Helper()
				b, err := nodes.Store{Dir: storeDir}.Get("fleet")
				require.NoError(t, err)
				assert.Equal(t, &nodes.Builder{Name: "fleet", Nodes: []nodes.Node{
					{Name: "amd", Endpoint: amd, Platforms: []string{"linux/amd64"}, Driver: nodes.DriverRemote},
					{Name: "arm", Endpoint: arm, Platforms: []string{"linux/arm64", "linux/arm/v7"}, Driver: nodes.DriverRemote},
				}}, b)
			},
		},
		{
			name: "ls shows the nodes unreachable",
			args: []string{"builder", "ls"},
			want: []*regexp.Regexp{
				row("default *", "embedded"),
				regexp.MustCompile(`(?m)^fleet\s+remote\s*$`),
				regexp.MustCompile(`(?m)^ \\_ amd\s+` + regexp.QuoteMeta(amd) + `\s+error: cannot reach the BuildKit daemon at ` + regexp.QuoteMeta(amd) + `: .*\s+linux/amd64$`),
				regexp.MustCompile(`(?m)^ \\_ arm\s+` + regexp.QuoteMeta(arm) + `\s+error: .*\s+linux/arm64, linux/arm/v7$`),
			},
		},
		{
			name: "use",
			args: []string{"builder", "use", "fleet"},
			check: func(t *testing.T) {
				t.Helper()
				assert.Equal(t, "fleet", nodes.Store{Dir: storeDir}.Current())
			},
		},
		{
			name:    "ls marks the current builder",
			args:    []string{"ls"}, // "docker builder ls" through the builder alias
			want:    []*regexp.Regexp{regexp.MustCompile(`(?m)^fleet \*\s+remote\s*$`), regexp.MustCompile(`(?m)^default\s+embedded`)},
			notWant: []*regexp.Regexp{regexp.MustCompile(`default \*`)},
		},
		{
			name: "inspect the current builder",
			args: []string{"builder", "inspect"},
			want: []*regexp.Regexp{
				regexp.MustCompile(`(?m)^Name:\s+fleet$`), regexp.MustCompile(`(?m)^Driver:\s+remote$`),
				regexp.MustCompile(`(?m)^Node:\s+amd\nEndpoint:\s+` + regexp.QuoteMeta(amd) + `\nStatus:\s+error: .*\nPlatforms:\s+linux/amd64$`),
				regexp.MustCompile(`(?m)^Node:\s+arm\nEndpoint:\s+` + regexp.QuoteMeta(arm) + `\nStatus:\s+error: .*\nPlatforms:\s+linux/arm64, linux/arm/v7$`),
			},
		},
		{
			name: "inspect default",
			args: []string{"builder", "inspect", "default"},
			want: []*regexp.Regexp{regexp.MustCompile(`^Name: +default\nDriver: +embedded \(BuildKit \S+\)\n$`)},
		},
		{
			name: "use default",
			args: []string{"use", "default"},
			check: func(t *testing.T) {
				t.Helper()
				assert.Empty(t, nodes.Store{Dir: storeDir}.Current())
				assert.NoFileExists(t, filepath.Join(storeDir, "current"))
			},
		},
		{
			name: "inspect with default current",
			args: []string{"inspect"},
			want: []*regexp.Regexp{regexp.MustCompile(`^Name: +default\nDriver: +embedded `)},
		},
		{
			name: "use again, then rm",
			args: []string{"builder", "use", "fleet"},
		},
		{
			name: "rm",
			args: []string{"builder", "rm", "fleet"},
			want: []*regexp.Regexp{regexp.MustCompile(`^fleet\n$`)},
			check: func(t *testing.T) {
				t.Helper()
				assert.NoFileExists(t, filepath.Join(storeDir, "builders", "fleet.json"))
				assert.Empty(t, nodes.Store{Dir: storeDir}.Current(), "a removed builder is no longer current")
			},
		},
		{
			name:    "ls after rm",
			args:    []string{"builder", "ls"},
			want:    []*regexp.Regexp{row("default *", "embedded")},
			notWant: []*regexp.Regexp{regexp.MustCompile(`fleet|amd|arm`)},
		},
	}
	for _, st := range steps {
		dockerCLI.ResetOutputBuffers()
		require.NoError(t, execute(t, dockerCLI, st.args...), "%s: %v", st.name, st.args)
		out := dockerCLI.OutBuffer().String()
		for _, re := range st.want {
			assert.Regexp(t, re, out, st.name)
		}
		for _, re := range st.notWant {
			assert.NotRegexp(t, re, out, st.name)
		}
		assert.Empty(t, dockerCLI.ErrBuffer().String(), st.name)
		if st.check != nil {
			st.check(t)
		}
	}
}

func TestBuilderCommandErrors(t *testing.T) {
	t.Parallel()
	sock := "unix://" + filepath.Join(t.TempDir(), "buildkitd.sock")
	tests := []struct {
		name string
		args []string
		// usage: a usage error (125) with a cause; flag: a flag error
		// (125, docker's Status); otherwise neither.
		usage, flag bool
		want        string
	}{
		{name: "create on no docker context", args: []string{"builder", "create", "fleet"}, usage: true, want: `"fleet" is no docker context`},
		{name: "create existing", args: []string{"builder", "create", "existing", "--node", "n=" + sock}, want: `builder "existing" exists already`},
		{name: "create default", args: []string{"builder", "create", "default", "--node", "n=" + sock}, usage: true, want: `builder name "default"`},
		{name: "create bad name", args: []string{"builder", "create", "bad/name", "--node", "n=" + sock}, usage: true, want: `builder name "bad/name"`},
		{name: "create same node twice", args: []string{"builder", "create", "twice", "--node", "n=" + sock, "--node", "n=" + sock}, usage: true, want: `node "n" is given twice`},
		{name: "create bad node", args: []string{"builder", "create", "fleet", "--node", "bad/node"}, flag: true, want: `invalid argument "bad/node" for "--node" flag`},
		{name: "platform before node", args: []string{"builder", "create", "fleet", "--platform", "linux/amd64", "--node", "n=" + sock}, usage: true, want: "give --node NAME=ADDRESS first"},
		{name: "tls before node", args: []string{"builder", "create", "fleet", "--tlscacert", "ca.pem", "--node", "n=" + sock}, flag: true, want: "give --node NAME=ADDRESS first"},
		{name: "bad node platform", args: []string{"builder", "create", "fleet", "--node", "n=" + sock, "--platform", "linux//amd64"}, flag: true, want: `--platform "linux//amd64"`},
		// Argument counts are checked by docker/cli's cli.ExactArgs and
		// cli.NoArgs: plain errors (exit 1), as in docker and buildx.
		{name: "create without name", args: []string{"builder", "create", "--node", "n=" + sock}, usage: true, want: "give the builder a name"},
		{name: "create two names", args: []string{"builder", "create", "--name", "a", "b", "--node", "n=" + sock}, usage: true, want: "both --name a and b"},
		{name: "create remote without endpoint", args: []string{"builder", "create", "--name", "r", "--driver", "remote"}, usage: true, want: "give the BuildKit daemon's address"},
		{name: "create unknown driver", args: []string{"builder", "create", "--name", "k", "--driver", "kubernetes"}, usage: true, want: `driver "kubernetes": use remote or docker-container`},
		{name: "create bad driver opt", args: []string{"builder", "create", "--name", "c", "--driver-opt", "colour=blue"}, usage: true, want: "invalid driver option colour for docker-container driver"},
		{name: "create bad remote opt", args: []string{"builder", "create", "--name", "r", "--driver", "remote", "--driver-opt", "image=x", sock}, usage: true, want: "invalid driver option image for remote driver"},
		{name: "create driver opt without value", args: []string{"builder", "create", "--name", "c", "--driver-opt", "image"}, usage: true, want: `--driver-opt "image": use KEY=VALUE`},
		{name: "create flags for remote", args: []string{"builder", "create", "--name", "r", "--driver", "remote", "--buildkitd-flags", "--debug", sock}, usage: true, want: "use them with --driver docker-container"},
		{name: "append to nothing", args: []string{"builder", "create", "--name", "nope", "--append", "--driver", "remote", sock}, want: `no builder named "nope"`},
		{name: "append other driver", args: []string{"builder", "create", "--name", "existing", "--append", "--driver", "docker-container"}, usage: true, want: "existing is a remote builder, not docker-container"},
		{name: "list form with append", args: []string{"builder", "create", "x", "--append", "--node", "n=" + sock}, usage: true, want: "create one node at a time"},
		{name: "rm default", args: []string{"builder", "rm", "default"}, want: "cannot be removed"},
		{name: "ls bad format", args: []string{"builder", "ls", "--format", "yaml"}, usage: true, want: `--format "yaml"`},
		{name: "rm unknown", args: []string{"builder", "rm", "nope"}, want: `no builder named "nope"`},
		{name: "use unknown", args: []string{"builder", "use", "nope"}, want: `no builder named "nope"`},
		{name: "inspect unknown", args: []string{"builder", "inspect", "nope"}, want: `no builder named "nope"`},
		{name: "ls with an argument", args: []string{"builder", "ls", "x"}, want: "'build2 builder ls' accepts no arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dockerCLI := clitest.New(t)
			s := builderStore(dockerCLI)
			require.NoError(t, s.Create(&nodes.Builder{Name: "existing", Nodes: []nodes.Node{{Name: "n", Endpoint: sock}}}))
			before := storeFiles(t, s.Dir)

			err := execute(t, dockerCLI, tc.args...)
			require.Error(t, err)
			require.ErrorContains(t, err, tc.want)
			var se cli.StatusError
			isStatus := errors.As(err, &se)
			switch {
			case tc.usage:
				requireUsageErr(t, err)
			case tc.flag:
				require.True(t, isStatus, "%v is not a cli.StatusError", err)
				assert.Equal(t, 125, se.StatusCode)
				assert.NotEmpty(t, se.Status, "flag errors carry docker's usage text")
			default:
				assert.False(t, isStatus && se.StatusCode == 125, "%v is not a usage error", err)
			}
			assert.Empty(t, dockerCLI.OutBuffer().String())
			assert.Equal(t, before, storeFiles(t, s.Dir), "a failed command leaves the store as it was")
		})
	}
}

// storeFiles maps each file under dir to its content.
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dt, err := os.ReadFile(p)
		files[p] = string(dt)
		return err
	}))
	return files
}
