package plugin

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReferenceUpToDate: docs/reference is what the command tree generates
// (one page per command); "make docs" regenerates it.
func TestReferenceUpToDate(t *testing.T) {
	for _, env := range []string{"DOCKER_BUILD2_ROOT", "BUILDKIT_PROGRESS", "DOCKER_BUILD2_DAEMON_CONFIG", "DOCKER_DEFAULT_PLATFORM", "BUILDKIT_HOST"} {
		t.Setenv(env, "")
	}
	dockerCLI := clitest.New(t)
	dir := t.TempDir()
	require.NoError(t, WriteReference(dockerCLI, dir))

	list := func(d string) []string {
		entries, err := os.ReadDir(d)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		return names
	}
	published := filepath.Join("..", "docs", "reference")
	generated := list(dir)
	require.Equal(t, generated, list(published), "pages added or removed: run make docs")
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(published, name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "%s is out of date: run make docs", name)
	}
}
