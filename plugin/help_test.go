package plugin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/streams"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "golden file missing: run go test ./plugin -update")
	assert.Equal(t, string(want), string(got))
}

func newTestCLI(t *testing.T) (*command.DockerCli, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cli, err := command.NewDockerCli(command.WithOutputStream(&out), command.WithErrorStream(&out), command.WithInputStream(streams.NewIn(os.Stdin)))
	require.NoError(t, err)
	return cli, &out
}

func TestHelpGolden(t *testing.T) {
	t.Setenv("BUILDKIT_PROGRESS", "")
	t.Setenv("DOCKER_BUILD2_ROOT", "")
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "")
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"help-root.golden", []string{"--help"}},
		{"help-build.golden", []string{"build", "--help"}},
		{"help-version.golden", []string{"version", "--help"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			dockerCLI, out := newTestCLI(t)
			cmd := NewRootCmd(Name, false, dockerCLI)
			cmd.SetOut(out)
			cmd.SetErr(out)
			cmd.SetArgs(tc.args)
			require.NoError(t, cmd.Execute())
			assertGolden(t, tc.golden, out.Bytes())
		})
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	m := Metadata()
	assert.Equal(t, "0.1.0", m.SchemaVersion)
	assert.NotEmpty(t, m.Vendor)
	assert.NotEmpty(t, m.ShortDescription)
	assert.Equal(t, Version, m.Version)
}
