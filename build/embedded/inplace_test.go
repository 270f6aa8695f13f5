package embedded

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCopyDirMeta: the special mode bits and the times go over with the
// permissions.
func TestCopyDirMeta(t *testing.T) {
	t.Parallel()
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	require.NoError(t, os.Mkdir(src, 0o700))
	require.NoError(t, os.Mkdir(dst, 0o700))
	mode := 0o751 | os.ModeDir | os.ModeSetgid | os.ModeSticky
	require.NoError(t, os.Chmod(src, mode))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	require.NoError(t, os.Chtimes(src, mtime, mtime))

	require.NoError(t, copyDirMeta(src, dst))
	fi, err := os.Lstat(dst)
	require.NoError(t, err)
	assert.Equal(t, mode, fi.Mode())
	assert.True(t, mtime.Equal(fi.ModTime()), fi.ModTime())
}
