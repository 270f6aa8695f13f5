package plugin

import (
	"testing"

	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		{"help-policy-eval.golden", []string{"policy", "eval", "--help"}},
		{"help-policy-test.golden", []string{"policy", "test", "--help"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			dockerCLI := clitest.New(t)
			cmd := NewRootCmd(Name, false, dockerCLI)
			cmd.SetOut(dockerCLI.OutBuffer())
			cmd.SetErr(dockerCLI.ErrBuffer())
			cmd.SetArgs(tc.args)
			require.NoError(t, cmd.Execute())
			assert.Empty(t, dockerCLI.ErrBuffer().String())
			clitest.Golden(t, tc.golden, dockerCLI.OutBuffer().Bytes())
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
