// Package atomicfile writes files so that no half-written one is ever left
// behind: into a temporary file beside the destination, renamed over it
// once complete. Devices, FIFOs and sockets (/dev/stdout, a pipe) are
// written in place instead, since renaming over them would destroy them.
// Modes are explicit because the embedded solver runs with umask 0.
package atomicfile

import (
	"os"
	"path/filepath"
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
func Create(dest string, mode os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
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

// Dest is the name the file gets on Commit.
func (f *File) Dest() string { return f.dest }

// Commit renames the (closed) file to its destination.
func (f *File) Commit() error { return os.Rename(f.Name(), f.dest) }

// Discard removes the temporary file, closing it first if need be.
func (f *File) Discard() {
	_ = f.Close()
	_ = os.Remove(f.Name())
}
