package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	gofs "io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/symlink"
	"github.com/tonistiigi/fsutil"
)

// ContextChangedError says a file of a local context or Dockerfile directory
// vanished or changed size while it was being sent (fsutil's sender would
// send it as empty, or short, and the build would go on), or changed while
// the embedded solver read the directory in place.
type ContextChangedError struct {
	Mount string // "context" or "dockerfile"
	Path  string
	Err   error
}

func (e *ContextChangedError) Error() string {
	return fmt.Sprintf("the build %s changed during the build: %s: %v; run the build again once the files stop changing", e.Mount, e.Path, e.Err)
}

func (e *ContextChangedError) Unwrap() error { return e.Err }

var errSizeChanged = errors.New("its size changed")

// guardFS watches a context being sent: a file that cannot be opened, or
// whose length differs from what the walk reported, stops the build.
//
// It also remembers the symlinks it sent, so that a build failing on a
// symlink loop can name the links at fault.
type guardFS struct {
	fsutil.FS
	root  string
	mount string
	fail  func(error)

	mu       sync.Mutex
	sizes    map[string]int64
	symlinks map[string]struct{}
}

func newGuardFS(fs fsutil.FS, root, mount string, fail func(error)) *guardFS {
	return &guardFS{FS: fs, root: root, mount: mount, fail: fail, sizes: map[string]int64{}, symlinks: map[string]struct{}{}}
}

func (g *guardFS) Walk(ctx context.Context, target string, fn gofs.WalkDirFunc) error {
	return g.FS.Walk(ctx, target, func(p string, e gofs.DirEntry, err error) error {
		switch {
		case err != nil:
		case e.Type().IsRegular():
			if fi, ierr := e.Info(); ierr == nil {
				g.mu.Lock()
				g.sizes[p] = fi.Size()
				g.mu.Unlock()
			}
		case e.Type()&gofs.ModeSymlink != 0:
			g.mu.Lock()
			g.symlinks[p] = struct{}{}
			g.mu.Unlock()
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

// InPlaceDir is the directory the embedded solver may read in place.
func (g *guardFS) InPlaceDir() string { return g.root }

// Changed fails the build for a file that changed while the embedded
// solver read the directory in place.
func (g *guardFS) Changed(p string, err error) error {
	e := &ContextChangedError{Mount: g.mount, Path: p, Err: err}
	g.fail(e)
	return e
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

// SymlinkLoopError says a build failed because a path it copies from a
// local context resolves through a loop of symlinks.
type SymlinkLoopError struct {
	Mount string   // "context" or "dockerfile"
	Links []string // "path -> target", sorted by path
	Err   error
}

func (e *SymlinkLoopError) Error() string {
	return fmt.Sprintf("%v: the build %s has a loop of symlinks: %s; make one of them point at a file or directory, or exclude them in .dockerignore",
		e.Err, e.Mount, strings.Join(e.Links, ", "))
}

func (e *SymlinkLoopError) Unwrap() error { return e.Err }

// tooManyLinks is in the error of both BuildKit's checksum of a path and
// moby/sys/symlink's scoped resolution when symlinks loop; neither exports
// a sentinel error that survives the gRPC boundary.
const tooManyLinks = "too many links"

// loops returns "path -> target" for each symlink sent that resolves
// through a loop inside the context, resolving absolute links from the
// context's root as BuildKit does.
func (g *guardFS) loops() []string {
	g.mu.Lock()
	links := slices.Sorted(maps.Keys(g.symlinks))
	g.mu.Unlock()
	var out []string
	for _, p := range links {
		full := filepath.Join(g.root, filepath.FromSlash(p))
		if _, err := symlink.FollowSymlinkInScope(full, g.root); err == nil || !strings.Contains(err.Error(), tooManyLinks) {
			continue
		}
		target, err := os.Readlink(full)
		if err != nil {
			continue
		}
		out = append(out, p+" -> "+target)
	}
	return out
}

// explainLoop turns BuildKit's bare "too many links" into an error that
// names the looping symlinks of the local mounts, when there are any.
func explainLoop(err error, mounts map[string]fsutil.FS) error {
	if err == nil || !strings.Contains(err.Error(), tooManyLinks) {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(mounts)) {
		g, ok := mounts[name].(*guardFS)
		if !ok {
			continue
		}
		if links := g.loops(); len(links) > 0 {
			return &SymlinkLoopError{Mount: g.mount, Links: links, Err: err}
		}
	}
	return err
}
