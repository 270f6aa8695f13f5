package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteMode is not parallel: it sets the process's umask.
func TestWriteMode(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, umask := range []int{0o077, 0o022, 0} {
		syscall.Umask(umask)
		for _, mode := range []os.FileMode{0o644, 0o600, 0o755} {
			dir := t.TempDir()
			name := filepath.Join(dir, "file")
			require.NoError(t, Write(name, []byte("content"), mode))
			st, err := os.Stat(name)
			require.NoError(t, err)
			assert.Equal(t, mode, st.Mode().Perm(), "umask %#o, mode %v", umask, mode)
			dt, err := os.ReadFile(name)
			require.NoError(t, err)
			assert.Equal(t, "content", string(dt))
			assert.Equal(t, []string{"file"}, entries(t, dir), "no temporary file is left")
		}
	}
}

func TestWriteReplaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(name, []byte("a much longer old content"), 0o600))
	require.NoError(t, Write(name, []byte("new"), 0o644))
	dt, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "new", string(dt))
	st, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "the new file's mode, not the old one's")
	assert.Equal(t, []string{"file"}, entries(t, dir))
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.Error(t, Write(filepath.Join(dir, "missing", "file"), []byte("x"), 0o644), "no directory to write in")

	// A directory in the way: the rename fails and the temporary file goes.
	target := filepath.Join(dir, "sub")
	require.NoError(t, os.MkdirAll(filepath.Join(target, "child"), 0o755))
	require.Error(t, Write(target, []byte("x"), 0o644))
	assert.Equal(t, []string{"sub"}, entries(t, dir), "no temporary file is left")
}

// TestWriteFIFO: a FIFO is written in place, not replaced by a file.
func TestWriteFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	require.True(t, Special(fifo))

	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo) // blocks until Write opens it
		if err != nil {
			got <- "open: " + err.Error()
			return
		}
		defer func() { _ = f.Close() }()
		dt, err := io.ReadAll(f)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(dt)
	}()
	require.NoError(t, Write(fifo, []byte("through the pipe"), 0o644))
	select {
	case s := <-got:
		assert.Equal(t, "through the pipe", s)
	case <-time.After(10 * time.Second):
		t.Fatal("the reader got nothing")
	}
	st, err := os.Lstat(fifo)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeNamedPipe, "still a FIFO")
	assert.Equal(t, []string{"pipe"}, entries(t, dir))
}

func TestWriteDevice(t *testing.T) {
	t.Parallel()
	dev := nullDevice(t)
	require.True(t, Special(dev))
	require.NoError(t, Write(dev, []byte("discarded"), 0o644))
	st, err := os.Stat(dev)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeCharDevice, "still a device")
	assert.Equal(t, []string{"null"}, entries(t, filepath.Dir(dev)), "no temporary file beside it")
}

// nullDevice makes a null device (char 1:3) in a new temporary directory.
// Tests write to it, never to /dev/null: a regression that renamed a file
// over the destination would destroy the machine's /dev/null (the tests
// run as root).
func nullDevice(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("cannot make a device node (needs CAP_MKNOD): %v", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("cannot open a device node here (a nodev mount?): %v", err)
	}
	_ = f.Close()
	return p
}

func TestSpecial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name string
		want bool
	}{
		{os.DevNull, true},
		{file, false},
		{dir, false},
		{filepath.Join(dir, "missing"), false},
	} {
		assert.Equal(t, tc.want, Special(tc.name), tc.name)
	}
}

func TestCreateDiscard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.tar")
	f, err := Create(dest, 0o644)
	require.NoError(t, err)
	assert.Equal(t, dest, f.Dest())
	assert.Equal(t, dir, filepath.Dir(f.Name()), "the temporary file is beside its destination")
	assert.Regexp(t, `^\.out\.tar\.tmp-`, filepath.Base(f.Name()))
	_, err = f.WriteString("half")
	require.NoError(t, err)
	f.Discard() // open: closed, then removed
	assert.Empty(t, entries(t, dir))
	f.Discard() // twice is harmless
	assert.Empty(t, entries(t, dir))
}

func TestCreateCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.tar")
	require.NoError(t, os.WriteFile(dest, []byte("old"), 0o600))
	f, err := Create(dest, 0o640)
	require.NoError(t, err)
	_, err = f.WriteString("whole")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	dt, err := os.ReadFile(dest)
	require.NoError(t, err)
	assert.Equal(t, "old", string(dt), "the destination is untouched until Commit")
	require.Len(t, entries(t, dir), 2)

	require.NoError(t, f.Commit())
	dt, err = os.ReadFile(dest)
	require.NoError(t, err)
	assert.Equal(t, "whole", string(dt))
	st, err := os.Stat(dest)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	assert.Equal(t, []string{"out.tar"}, entries(t, dir))

	f.Discard() // after Commit: the destination stays
	assert.FileExists(t, dest)
}

func TestCreateMissingDir(t *testing.T) {
	t.Parallel()
	_, err := Create(filepath.Join(t.TempDir(), "missing", "out.tar"), 0o644)
	require.Error(t, err)
}

// TestCreateRemovesStale: a temporary file a killed process left for the
// same destination goes when the next one is created; one of a process
// still running stays.
func TestCreateRemovesStale(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.tar")
	// PID 2^22+1 is above the kernel's pid_max: no such process.
	dead := filepath.Join(dir, ".out.tar.tmp-4194305-123")
	alive := filepath.Join(dir, ".out.tar.tmp-1-456")
	other := filepath.Join(dir, ".other.tar.tmp-4194305-789")
	for _, p := range []string{dead, alive, other} {
		require.NoError(t, os.WriteFile(p, []byte("left"), 0o600))
	}
	f, err := Create(dest, 0o644)
	require.NoError(t, err)
	f.Discard()
	assert.NoFileExists(t, dead, "left by a process that is gone")
	assert.FileExists(t, alive, "PID 1 runs")
	assert.FileExists(t, other, "another destination's")
}
