package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/buildx/util/sourcemeta"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
)

// contextState is the LLB state of a remote context (a Git repository or
// an HTTP(S) tarball), as the Dockerfile frontend reads it; nil for
// anything else.
func contextState(url string) *llb.State {
	if url == "" {
		return nil
	}
	keepGit := false
	if st, ok, _ := dockerui.DetectGitContext(url, &keepGit); ok {
		return st
	}
	st, filename, ok := dockerui.DetectHTTPContext(url)
	if !ok || filename == "" {
		return nil
	}
	unpacked := llb.Scratch().File(llb.Copy(*st, filename, "/", &llb.CopyInfo{AttemptUnpack: true}))
	return &unpacked
}

// remotePath is a policy file's path in a remote context.
func remotePath(name string) (string, error) {
	clean := strings.TrimPrefix(path.Join("/", filepath.ToSlash(name)), "/")
	if clean == "" || clean == "." {
		return "", fmt.Errorf("invalid remote policy filename %q", name)
	}
	return clean, nil
}

// remoteFS reads a remote context's files, the context solved once on the
// resolver's builder when first read.
type remoteFS struct {
	ctx      context.Context
	resolver *sourcemeta.Resolver
	state    llb.State

	once sync.Once
	ref  gwclient.Reference
	err  error
}

func newRemoteFS(ctx context.Context, resolver *sourcemeta.Resolver, st llb.State) *remoteFS {
	return &remoteFS{ctx: context.WithoutCancel(ctx), resolver: resolver, state: st}
}

func (r *remoteFS) reference() (gwclient.Reference, error) {
	r.once.Do(func() { r.ref, r.err = r.resolver.ResolveState(r.ctx, r.state) })
	return r.ref, r.err
}

// read reads name; ok is false when the context has no such file.
func (r *remoteFS) read(name string) (_ []byte, ok bool, _ error) {
	p, err := remotePath(name)
	if err != nil {
		return nil, false, err
	}
	ref, err := r.reference()
	if err != nil {
		return nil, false, fmt.Errorf("reading policy file %s from the build context: %w", name, err)
	}
	if _, err := ref.StatFile(r.ctx, gwclient.StatRequest{Path: p}); err != nil {
		if notFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("failed to stat policy file %s: %w", name, err)
	}
	dt, err := ref.ReadFile(r.ctx, gwclient.ReadRequest{Filename: p})
	if err != nil {
		return nil, false, fmt.Errorf("failed to read policy file %s: %w", name, err)
	}
	return dt, true, nil
}

// notFound reports a missing file, which the gateway reports as text.
func notFound(err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") || strings.Contains(msg, "no such file")
}

// Open and Stat make remoteFS the file system of a remote context's
// policies (their imports and data files).
func (r *remoteFS) Open(name string) (fs.File, error) {
	dt, ok, err := r.read(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{Reader: bytes.NewReader(dt), info: memInfo{name: path.Base(name), size: int64(len(dt))}}, nil
}

func (r *remoteFS) Stat(name string) (fs.FileInfo, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	return f.Stat()
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
