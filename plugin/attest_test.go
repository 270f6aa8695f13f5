package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMayBeInGit(t *testing.T) {
	t.Setenv("GIT_DIR", "")
	outside := t.TempDir()
	if mayBeInGit(outside) {
		t.Skip("the temporary directory is inside a Git checkout here")
	}

	repo := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(repo, ".git"), 0o755))
	sub := filepath.Join(repo, "app", "src")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	assert.True(t, mayBeInGit(repo), "the checkout's root")
	assert.True(t, mayBeInGit(sub), "a directory under it")

	worktree := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(worktree, ".git"), []byte("gitdir: /elsewhere\n"), 0o644))
	assert.True(t, mayBeInGit(worktree), "a worktree's .git file")

	t.Setenv("GIT_DIR", "/some/repo.git")
	assert.True(t, mayBeInGit(outside), "$GIT_DIR names a repository for any directory")
}
