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
	fstypes "github.com/tonistiigi/fsutil/types"
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

// lookup stats name in the context: st is nil when the context has no
// such file, and ref and p are where to read it from.
func (r *remoteFS) lookup(name string) (ref gwclient.Reference, p string, st *fstypes.Stat, err error) {
	p, err = remotePath(name)
	if err != nil {
		return nil, "", nil, err
	}
	ref, err = r.reference()
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading policy file %s from the build context: %w", name, err)
	}
	st, err = ref.StatFile(r.ctx, gwclient.StatRequest{Path: p})
	if err != nil {
		if notFound(err) {
			return nil, "", nil, nil
		}
		return nil, "", nil, fmt.Errorf("failed to stat policy file %s: %w", name, err)
	}
	return ref, p, st, nil
}

// read reads name; ok is false when the context has no such file.
func (r *remoteFS) read(name string) (_ []byte, ok bool, _ error) {
	ref, p, st, err := r.lookup(name)
	if err != nil || st == nil {
		return nil, false, err
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

// Stat only stats name, as buildx's remote policy file system does: OPA
// stats every import and data file before it reads it, and reading it
// here too would cost a second round trip to the builder.
func (r *remoteFS) Stat(name string) (fs.FileInfo, error) {
	_, _, st, err := r.lookup(name)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return memInfo{name: path.Base(name), size: st.Size}, nil
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
