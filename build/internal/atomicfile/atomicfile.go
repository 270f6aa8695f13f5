// Package atomicfile writes files so that no half-written one is ever left
// behind: into a temporary file beside the destination, renamed over it
// once complete. Devices, FIFOs and sockets (/dev/stdout, a pipe) are
// written in place instead, since renaming over them would destroy them.
// Modes are explicit because the embedded solver runs with umask 0.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Special reports whether name is a device, FIFO or socket.
func Special(name string) bool {
	st, err := os.Stat(name)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// Write writes dt to name with mode.
func Write(name string, dt []byte, mode os.FileMode) error {
	if Special(name) {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(dt)
		if err1 := f.Close(); err == nil {
			err = err1
		}
		return err
	}
	f, err := Create(name, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(dt)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		f.Discard()
	}
	return err
}

// File is a temporary file that becomes its destination on Commit.
type File struct {
	*os.File
	dest string
}

// Create makes the temporary file for dest, in dest's directory, with mode.
// Its name carries this process's ID: the temporary files for dest that a
// process killed before it could discard them left are removed here.
func Create(dest string, mode os.FileMode) (*File, error) {
	removeStale(dest)
	f, err := os.CreateTemp(filepath.Dir(dest), tempPrefix(dest)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, dest: dest}, nil
}

// tempPrefix is how the temporary files for dest are named, before the ID
// of the process that made them.
func tempPrefix(dest string) string { return "." + filepath.Base(dest) + ".tmp-" }

// removeStale removes dest's temporary files whose process is gone.
func removeStale(dest string) {
	prefix := filepath.Join(filepath.Dir(dest), tempPrefix(dest))
	matches, _ := filepath.Glob(prefix + "*")
	for _, m := range matches {
		pid, _, ok := strings.Cut(strings.TrimPrefix(m, prefix), "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 || n == os.Getpid() {
			continue
		}
		if errors.Is(syscall.Kill(n, 0), syscall.ESRCH) {
			_ = os.Remove(m)
		}
	}
}

// Dest is the name the file gets on Commit.
func (f *File) Dest() string { return f.dest }

// Commit renames the (closed) file to its destination.
func (f *File) Commit() error { return os.Rename(f.Name(), f.dest) }

// Discard removes the temporary file, closing it first if need be.
func (f *File) Discard() {
	_ = f.Close()
	_ = os.Remove(f.Name())
}
