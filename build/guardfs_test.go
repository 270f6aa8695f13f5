package build

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"
)

// TestGuardFS: a context file that vanishes or changes size between the walk
// and its transfer stops the build with an error naming it.
func TestGuardFS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(path string)
		want   string
	}{
		{"vanished", func(p string) { require.NoError(t, os.Remove(p)) }, "no such file or directory"},
		{"truncated", func(p string) { require.NoError(t, os.Truncate(p, 3)) }, "its size changed: 11 bytes when listed, 3 when sent"},
		{"grown", func(p string) { require.NoError(t, os.WriteFile(p, []byte("hello world, longer"), 0o644)) }, "its size changed"},
		{"unchanged", func(string) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "a.txt")
			require.NoError(t, os.WriteFile(file, []byte("hello world"), 0o644))
			base, err := fsutil.NewFS(dir)
			require.NoError(t, err)
			var failed error
			g := newGuardFS(base, dir, "context", func(err error) { failed = err })

			var listed []string
			require.NoError(t, g.Walk(t.Context(), "/", func(p string, _ os.DirEntry, err error) error {
				listed = append(listed, p)
				return err
			}))
			require.Contains(t, listed, "a.txt")

			tc.change(file)
			rc, err := g.Open("a.txt")
			if err == nil {
				_, err = io.ReadAll(rc)
				require.NoError(t, err)
				require.NoError(t, rc.Close())
			}
			if tc.want == "" {
				assert.NoError(t, failed)
				return
			}
			var changed *ContextChangedError
			require.ErrorAs(t, failed, &changed)
			assert.Equal(t, "a.txt", changed.Path)
			assert.Contains(t, changed.Error(), "the build context changed during the build: a.txt")
			assert.Contains(t, changed.Error(), tc.want)
			assert.NotErrorIs(t, failed, io.EOF)
		})
	}
}

// TestExplainLoop: BuildKit's bare "too many links" names the looping
// symlinks the context sent, resolving absolute links from the context root;
// other errors, and loops that were not sent, are left alone.
func TestExplainLoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	require.NoError(t, os.Symlink("c", filepath.Join(dir, "a", "b")))
	require.NoError(t, os.Symlink("/a/b", filepath.Join(dir, "a", "c")))
	require.NoError(t, os.Symlink("a/b", filepath.Join(dir, "into")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	require.NoError(t, os.Symlink("f", filepath.Join(dir, "ok")))
	base, err := fsutil.NewFS(dir)
	require.NoError(t, err)
	g := newGuardFS(base, dir, "context", func(error) {})
	mounts := map[string]fsutil.FS{"context": g}
	tooMany := errors.New("failed to compute cache key: failed to calculate checksum of ref x::y: too many links")

	assert.Same(t, tooMany, explainLoop(tooMany, mounts), "nothing sent yet")
	require.NoError(t, g.Walk(t.Context(), "/", func(string, os.DirEntry, error) error { return nil }))

	other := errors.New("failed to solve: not found")
	assert.Same(t, other, explainLoop(other, mounts))
	require.NoError(t, explainLoop(nil, mounts))

	err = explainLoop(tooMany, mounts)
	var loop *SymlinkLoopError
	require.ErrorAs(t, err, &loop)
	require.ErrorIs(t, err, tooMany)
	assert.Equal(t, []string{"a/b -> c", "a/c -> /a/b", "into -> a/b"}, loop.Links)
	assert.Equal(t, tooMany.Error()+": the build context has a loop of symlinks: a/b -> c, a/c -> /a/b, into -> a/b;"+
		" make one of them point at a file or directory, or exclude them in .dockerignore", err.Error())
}
