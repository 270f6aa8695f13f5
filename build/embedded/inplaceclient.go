package embedded

import (
	"context"
	"encoding/json"
	"errors"
	gofs "io/fs"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// InPlaceMount is a local mount of a build that the embedded solver may
// read in place instead of receiving it through the session.
type InPlaceMount interface {
	fsutil.FS
	// InPlaceDir is its directory.
	InPlaceDir() string
	// Changed is told of a file of it that changed or vanished while the
	// build read it in place, and returns the error that fails the build.
	Changed(path string, err error) error
}

// ErrChanged is the cause a file that changed while a build read it in
// place is reported with.
var ErrChanged = errors.New("it changed while the build was reading it")

// ErrRemoved is the cause for a file removed while a build read it in
// place.
var ErrRemoved = errors.New("it was removed while the build was reading it")

// inPlaceProvider answers the solver's requests for the directories of the
// build's local mounts, and remembers what each one held when asked.
type inPlaceProvider struct {
	mounts map[string]InPlaceMount
	// always: read in place whatever the size.
	always bool

	mu    sync.Mutex
	asked map[string]*dirState
}

// dirState is the state of a mount's entries when the solver asked for it.
type dirState struct {
	mount InPlaceMount
	dir   string
	files map[string]fileState
	// dirs is how many directories the filters keep.
	dirs int
}

// A view costs two new snapshots per build; the transfer of a context
// this small into the snapshot it keeps costs less (measured on a cached
// rebuild of a 2 MB context: 4-7 ms sent, 15-30 ms read in place).
const (
	smallBytes   = 8 << 20
	smallEntries = 1000
)

// small reports whether the entries the filters keep, directories
// included, are few and small enough to send.
func (d *dirState) small() bool {
	if len(d.files)+d.dirs > smallEntries {
		return false
	}
	var size uint64
	for _, st := range d.files {
		if st.mode&unix.S_IFMT == unix.S_IFREG {
			size += st.size
		}
	}
	return size <= smallBytes
}

type fileState struct {
	ino, size    uint64
	mode         uint32
	mtime, ctime int64
}

func newInPlaceProvider(so client.SolveOpt, always bool) *inPlaceProvider {
	p := &inPlaceProvider{mounts: map[string]InPlaceMount{}, always: always, asked: map[string]*dirState{}}
	for name, fs := range so.LocalMounts {
		if m, ok := fs.(InPlaceMount); ok {
			p.mounts[name] = m
		}
	}
	if len(p.mounts) == 0 {
		return nil
	}
	return p
}

type inPlaceServer interface {
	dir(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

var inPlaceDesc = grpc.ServiceDesc{
	ServiceName: "docker_build2.inplace.v1.InPlace",
	HandlerType: (*inPlaceServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Dir",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.BytesValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(inPlaceServer).dir(ctx, in)
		},
	}},
}

// Register implements session.Attachable.
func (p *inPlaceProvider) Register(s *grpc.Server) { s.RegisterService(&inPlaceDesc, p) }

// dir answers with the directory of a mount, once it recorded the state of
// the entries the request's filters keep: before the solver reads any.
func (p *inPlaceProvider) dir(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	var req inPlaceRequest
	if err := json.Unmarshal(in.GetValue(), &req); err != nil {
		return nil, err
	}
	var reply inPlaceReply
	if m, ok := p.mounts[req.Name]; ok {
		if dir, err := filepath.Abs(m.InPlaceDir()); err == nil {
			// A small mount goes by the transfer, which then holds what the
			// build reads: nothing of it is to be checked after the build.
			if d, err := walkState(ctx, m, dir, req); err == nil && (p.always || !d.small()) {
				p.mu.Lock()
				p.asked[req.Name] = d
				p.mu.Unlock()
				reply.Dir = dir
			}
		}
	}
	out, err := json.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(out), nil
}

// walkState records the files (not directories) of dir that the filters of
// req keep, and counts the directories they keep. A file added during the
// build is not looked for: the outputs of a build often go into its
// context (-o out .), as with the transfer, which would send it or not.
func walkState(ctx context.Context, m InPlaceMount, dir string, req inPlaceRequest) (*dirState, error) {
	d := &dirState{mount: m, dir: dir, files: map[string]fileState{}}
	if len(req.IncludePatterns)+len(req.ExcludePatterns)+len(req.FollowPaths) == 0 {
		// Every entry is kept: a plain walk, then one lstat a file by a
		// few workers (fsutil's walk stats and lists the extended
		// attributes of each, one after the other).
		var rels []string
		err := filepath.WalkDir(dir, func(full string, e gofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if full != dir {
					d.dirs++
				}
				return nil
			}
			rel, err := filepath.Rel(dir, full)
			if err != nil {
				return err
			}
			rels = append(rels, rel)
			return context.Cause(ctx)
		})
		if err != nil {
			return nil, err
		}
		states := make([]fileState, len(rels))
		errs := make([]error, len(rels))
		parallel(len(rels), func(i int) bool {
			states[i], errs[i] = stateOf(filepath.Join(dir, rels[i]))
			return errs[i] == nil
		})
		for i, rel := range rels {
			if errs[i] != nil {
				return nil, errs[i]
			}
			d.files[filepath.ToSlash(rel)] = states[i]
		}
		return d, nil
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	if fs, err = fsutil.NewFilterFS(fs, &fsutil.FilterOpt{IncludePatterns: req.IncludePatterns, ExcludePatterns: req.ExcludePatterns, FollowPaths: req.FollowPaths}); err != nil {
		return nil, err
	}
	err = fs.Walk(ctx, "/", func(p string, e gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			d.dirs++
			return nil
		}
		st, err := stateOf(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		d.files[filepath.ToSlash(p)] = st
		return nil
	})
	return d, err
}

func stateOf(full string) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return fileState{}, &gofs.PathError{Op: "lstat", Path: full, Err: err}
	}
	return fileState{ino: st.Ino, size: uint64(st.Size), mode: st.Mode, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// check fails the build, naming the first entry (by path), when an entry
// of a mount read in place changed or vanished since the solver asked for
// it. The entries are looked at by a few workers: one lstat each, on the
// critical path of every build.
func (p *inPlaceProvider) check() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(p.asked)) {
		d := p.asked[name]
		rels := slices.Sorted(maps.Keys(d.files))
		errs := make([]error, len(rels))
		parallel(len(rels), func(i int) bool {
			errs[i] = d.changed(rels[i])
			return errs[i] == nil
		})
		for i, err := range errs {
			if err != nil {
				return d.mount.Changed(rels[i], err)
			}
		}
	}
	return nil
}

// changed is why the entry rel changed or vanished, or nil.
func (d *dirState) changed(rel string) error {
	was := d.files[rel]
	now, err := stateOf(filepath.Join(d.dir, filepath.FromSlash(rel)))
	switch {
	case errors.Is(err, gofs.ErrNotExist):
		return ErrRemoved
	case err != nil:
		return err
	case now != was:
		return ErrChanged
	}
	return nil
}

// parallel calls f for 0..n-1 from a few workers, each taking every
// workers-th index in order; a worker stops at its first false, after
// which none of its indexes can be the first that failed.
func parallel(n int, f func(i int) bool) {
	workers := min(runtime.NumCPU(), 4)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if !f(i) {
					return
				}
			}
		})
	}
	wg.Wait()
}
