package build

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttachPolicyNone: with no policy file and no --policy, or with
// policies disabled, no session is attached and the builder is not even
// asked anything (a nil solver would panic if it were).
func TestAttachPolicyNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o600))
	withRego := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withRego, "Dockerfile"), []byte("FROM scratch\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(withRego, "Dockerfile.rego"), []byte("package docker\n"), 0o600))
	for name, opts := range map[string]Options{
		"no file":          {ContextDir: dir, DockerfileDir: dir, DockerfileName: "Dockerfile"},
		"disabled":         {ContextDir: withRego, DockerfileDir: withRego, DockerfileName: "Dockerfile", Policy: []policy.Config{{Disabled: true}}},
		"other dockerfile": {ContextDir: withRego, DockerfileDir: withRego, DockerfileName: "app.Dockerfile"},
		"tar context":      {ContextTar: io.NopCloser(strings.NewReader("")), DockerfileName: "Dockerfile"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var so client.SolveOpt
			release, err := attachPolicy(t.Context(), nil, opts, &so, nil)
			require.NoError(t, err)
			assert.Nil(t, release)
			assert.Nil(t, so.SourcePolicyProvider)
		})
	}
}
