package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	gofs "io/fs"
	"sync"

	"github.com/tonistiigi/fsutil"
)

// ContextChangedError says a file of a local context or Dockerfile directory
// vanished or changed size while it was being sent. fsutil's sender would
// send such a file as empty (or short) and the build would go on.
type ContextChangedError struct {
	Mount string // "context" or "dockerfile"
	Path  string
	Err   error
}

func (e *ContextChangedError) Error() string {
	return fmt.Sprintf("the build %s changed while it was being sent: %s: %v; run the build again once the files stop changing", e.Mount, e.Path, e.Err)
}

func (e *ContextChangedError) Unwrap() error { return e.Err }

var errSizeChanged = errors.New("its size changed")

// guardFS watches a context being sent: a file that cannot be opened, or
// whose length differs from what the walk reported, stops the build.
type guardFS struct {
	fsutil.FS
	mount string
	fail  func(error)

	mu    sync.Mutex
	sizes map[string]int64
}

func newGuardFS(fs fsutil.FS, mount string, fail func(error)) *guardFS {
	return &guardFS{FS: fs, mount: mount, fail: fail, sizes: map[string]int64{}}
}

func (g *guardFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	return g.FS.Walk(ctx, target, func(p string, e gofs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, ierr := e.Info(); ierr == nil {
				g.mu.Lock()
				g.sizes[p] = fi.Size()
				g.mu.Unlock()
			}
		}
		return fn(p, e, err)
	})
}

func (g *guardFS) Open(p string) (io.ReadCloser, error) {
	rc, err := g.FS.Open(p)
	if err != nil {
		g.fail(&ContextChangedError{Mount: g.mount, Path: p, Err: cause(err)})
		return nil, err
	}
	g.mu.Lock()
	size, ok := g.sizes[p]
	g.mu.Unlock()
	if !ok {
		return rc, nil
	}
	return &countingReader{ReadCloser: rc, want: size, done: func(n int64) {
		if n != size {
			g.fail(&ContextChangedError{Mount: g.mount, Path: p, Err: fmt.Errorf("%w: %d bytes when listed, %d when sent", errSizeChanged, size, n)})
		}
	}}, nil
}

type countingReader struct {
	io.ReadCloser
	n    int64
	want int64
	done func(int64)
	once sync.Once
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n += int64(n)
	if errors.Is(err, io.EOF) {
		c.once.Do(func() { c.done(c.n) })
	}
	return n, err
}

// cause drops the "op path:" prefix of a *PathError.
func cause(err error) error {
	var pe *gofs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
