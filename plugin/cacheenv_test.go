package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheEnv(t *testing.T) {
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "runtime-token")
	t.Setenv("ACTIONS_CACHE_URL", "https://cache.example/")
	t.Setenv("ACTIONS_CACHE_SERVICE_V2", "")
	// The SDK's chain stops at the environment: no shared files, no
	// instance metadata.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-env")
	t.Setenv("AWS_SESSION_TOKEN", "session-env")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	got := cacheEnv().Fill([]build.CacheSpec{
		{Type: "gha", Attrs: map[string]string{"scope": "s"}},
		{Type: "s3", Attrs: map[string]string{"bucket": "b"}},
	})
	assert.Equal(t, []build.CacheSpec{
		{Type: "gha", Attrs: map[string]string{"scope": "s", "token": "runtime-token", "url": "https://cache.example/"}},
		{Type: "s3", Attrs: map[string]string{"bucket": "b", "access_key_id": "AKIDENV", "secret_access_key": "secret-env", "session_token": "session-env"}},
	}, got)
}

// TestBuildRequestFillsGHA: a build's gha cache gets the runner's token
// and URL from the environment, as buildx fills them.
func TestBuildRequestFillsGHA(t *testing.T) {
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "runner-token")
	t.Setenv("ACTIONS_CACHE_URL", "https://cache.example/")
	t.Setenv("ACTIONS_RESULTS_URL", "")
	t.Setenv("ACTIONS_CACHE_SERVICE_V2", "")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	dockerCLI := clitest.New(t)
	r, err := newRequest(dockerCLI, newEngineProbe(dockerCLI), dir, &buildOptions{call: "build", cacheTo: []string{"type=gha,mode=max"}, cacheFrom: []string{"type=gha"}})
	require.NoError(t, err)
	defer r.cleanup()
	require.Len(t, r.opts.CacheExports, 1)
	assert.Equal(t, "runner-token", r.opts.CacheExports[0].Attrs["token"])
	assert.Equal(t, "https://cache.example/", r.opts.CacheExports[0].Attrs["url"])
	require.Len(t, r.opts.CacheImports, 1)
	assert.Equal(t, "runner-token", r.opts.CacheImports[0].Attrs["token"])
}
