package build

import (
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
			g := newGuardFS(base, "context", func(err error) { failed = err })

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
			assert.Contains(t, changed.Error(), "the build context changed while it was being sent: a.txt")
			assert.Contains(t, changed.Error(), tc.want)
			assert.NotErrorIs(t, failed, io.EOF)
		})
	}
}
