package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	gofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/moby/buildkit/cache"
	"github.com/moby/buildkit/cache/contenthash"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/snapshot"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/source"
	"github.com/moby/buildkit/source/local"
	"github.com/moby/buildkit/util/bklog"
	"github.com/opencontainers/go-digest"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The embedded solver reads a local context in place: the client of a
// build tells it, through the session, the directory of each local mount
// it may read so (see inPlaceProvider), and the local source then makes,
// instead of receiving every file into a snapshot of its cache,
//
//   - a snapshot whose directory is a symlink to the context directory
//     (nothing is ever written into it: it is only ever a lower layer of
//     overlayfs, and removing it removes the symlink alone), and
//   - on top of it, a snapshot holding only the whiteouts of the paths that
//     the mount's filters (.dockerignore, include patterns, follow paths)
//     leave out,
//
// so that every reader (RUN --mount, COPY, a stage built on the context)
// sees, through overlayfs, what the session transfer would have written.
// The content checksums BuildKit keys its cache with are computed here, as
// the transfer computes them, from a digest cache kept in the state dir
// for files whose inode, size, times and mode did not change.
//
// Both snapshots are made anew for each build and never found again by a
// later one (the local source's cache key holds the session), so a file
// edited after the build cannot make a cached result stale; the client
// checks after the build that no file it read changed meanwhile.

// inPlaceMethod is the session method the client answers for a local
// mount the solver may read in place.
const inPlaceMethod = "/docker_build2.inplace.v1.InPlace/Dir"

// inPlaceRequest asks the client for the directory of a local mount, with
// the filters the local source applies to it.
type inPlaceRequest struct {
	Name            string   `json:"name"`
	IncludePatterns []string `json:"include,omitempty"`
	ExcludePatterns []string `json:"exclude,omitempty"`
	FollowPaths     []string `json:"follow,omitempty"`
}

// inPlaceReply is the directory, empty when the mount is to be sent (the
// client finds it small, or cannot read it).
type inPlaceReply struct {
	Dir string `json:"dir,omitempty"`
}

// dockerfileMount is the local mount of the Dockerfile's directory.
const dockerfileMount = "dockerfile"

// inPlaceSource is BuildKit's local source, reading the directories that
// a client offers in place.
type inPlaceSource struct {
	source.Source
	cm cache.Manager
	sn snapshot.Snapshotter
	// digests is the directory of the digest caches.
	digests string
}

// newInPlaceSource wraps BuildKit's local source; sn is the worker's
// snapshotter, which must be overlayfs.
func newInPlaceSource(cm cache.Manager, sn snapshot.Snapshotter, stateRoot string) (source.Source, error) {
	stock, err := local.NewSource(local.Opt{CacheAccessor: cm})
	if err != nil {
		return nil, err
	}
	return &inPlaceSource{Source: stock, cm: cm, sn: sn, digests: filepath.Join(stateRoot, "inplace")}, nil
}

func (s *inPlaceSource) Resolve(ctx context.Context, id source.Identifier, sm *session.Manager, vtx solver.Vertex) (source.SourceInstance, error) {
	inst, err := s.Source.Resolve(ctx, id, sm, vtx)
	if err != nil {
		return nil, err
	}
	lid, ok := id.(*local.LocalIdentifier)
	// The Dockerfile's directory is read for a file or two: the transfer
	// sends them into a snapshot it keeps for the next build, cheaper than
	// the two snapshots of a view.
	if !ok || lid.MetadataOnly || lid.Name == dockerfileMount {
		return inst, nil
	}
	return &inPlaceInstance{SourceInstance: inst, src: s, id: *lid, sm: sm}, nil
}

type inPlaceInstance struct {
	source.SourceInstance
	src *inPlaceSource
	id  local.LocalIdentifier
	sm  *session.Manager
}

func (i *inPlaceInstance) Snapshot(ctx context.Context, jobCtx solver.JobContext) (cache.ImmutableRef, error) {
	var ref cache.ImmutableRef
	try := func(ctx context.Context, c session.Caller) error {
		r, err := i.snapshot(ctx, c)
		ref = r
		return err
	}
	var err error
	if i.id.SessionID != "" {
		tctx, cancel := context.WithTimeoutCause(ctx, 5*time.Second, fmt.Errorf("no session %s", i.id.SessionID))
		var c session.Caller
		c, err = i.sm.Get(tctx, i.id.SessionID, false)
		cancel()
		if err == nil {
			err = try(ctx, c)
		}
	} else {
		err = i.sm.Any(ctx, jobCtx.Session(), func(ctx context.Context, _ string, c session.Caller) error { return try(ctx, c) })
	}
	if err == nil {
		return ref, nil
	}
	bklog.G(ctx).Debugf("local %s not read in place: %v", i.id.Name, err)
	return i.SourceInstance.Snapshot(ctx, jobCtx)
}

// snapshot makes the in-place snapshot of the mount, or returns why not
// for the usual transfer.
func (i *inPlaceInstance) snapshot(ctx context.Context, c session.Caller) (_ cache.ImmutableRef, retErr error) {
	if !c.Supports(inPlaceMethod) {
		return nil, errors.New("the client offers no directories")
	}
	reply, err := askDir(ctx, c, i.id)
	if err != nil {
		return nil, err
	}
	if reply.Dir == "" {
		return nil, errors.New("the client offers no directory for it")
	}
	dir := reply.Dir
	start := time.Now()
	v, err := newView(dir, i.id)
	if err != nil {
		return nil, err
	}
	walked := time.Now()
	lower, err := i.linkTo(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lower.Release(context.WithoutCancel(ctx)) }()

	top, err := i.src.cm.New(ctx, lower, nil, cache.WithRecordType(client.UsageRecordTypeLocalSource),
		cache.WithDescription(fmt.Sprintf("local source for %s, read in place (filters)", i.id.Name)))
	if err != nil {
		return nil, err
	}
	defer func() {
		if top != nil {
			_ = top.Release(context.WithoutCancel(ctx))
		}
	}()
	if err := v.whiteout(ctx, i.src.sn, top); err != nil {
		return nil, err
	}
	mounted := time.Now()
	// As BuildKit's local source: the checksums are those of the mutable
	// ref, which its committed ref finds them by.
	if err := i.checksums(ctx, top, v, start); err != nil {
		return nil, err
	}
	hashed := time.Now()
	ref, err := top.Commit(ctx)
	if err != nil {
		return nil, err
	}
	top = nil
	defer func() {
		if retErr != nil {
			_ = ref.Release(context.WithoutCancel(ctx))
		}
	}()
	// The kernel may refuse this directory as a lower layer (overlapping
	// the state dir, a file system overlayfs does not take): find it out
	// before any step depends on it.
	if err := tryMount(ctx, ref); err != nil {
		return nil, err
	}
	bklog.G(ctx).Debugf("local %s read in place from %s in %v (walk %v, snapshots %v, checksums %v)", i.id.Name, dir, time.Since(start), walked.Sub(start), mounted.Sub(walked), hashed.Sub(mounted))
	return ref, nil
}

// linkTo makes the committed snapshot whose directory is a symlink to dir.
func (i *inPlaceInstance) linkTo(ctx context.Context, dir string) (cache.ImmutableRef, error) {
	base, err := i.src.cm.New(ctx, nil, nil, cache.WithRecordType(client.UsageRecordTypeLocalSource),
		cache.WithDescription(fmt.Sprintf("local source for %s, read in place", i.id.Name)))
	if err != nil {
		return nil, err
	}
	fsDir, err := bindSource(ctx, base)
	if err == nil {
		// The snapshot's directory becomes the context directory itself.
		err = os.Remove(fsDir)
	}
	if err == nil {
		err = os.Symlink(dir, fsDir)
	}
	if err != nil {
		_ = base.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	ref, err := base.Commit(ctx)
	if err != nil {
		_ = base.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	return ref, nil
}

// askDir asks the client for the directory of the mount.
func askDir(ctx context.Context, c session.Caller, id local.LocalIdentifier) (inPlaceReply, error) {
	var r inPlaceReply
	req, err := json.Marshal(inPlaceRequest{Name: id.Name, IncludePatterns: id.IncludePatterns, ExcludePatterns: id.ExcludePatterns, FollowPaths: id.FollowPaths})
	if err != nil {
		return r, err
	}
	resp := &wrapperspb.BytesValue{}
	if err := c.Conn().Invoke(ctx, inPlaceMethod, wrapperspb.Bytes(req), resp); err != nil {
		return r, err
	}
	if err := json.Unmarshal(resp.GetValue(), &r); err != nil {
		return r, err
	}
	if r.Dir != "" && !filepath.IsAbs(r.Dir) {
		return r, fmt.Errorf("directory %q is not absolute", r.Dir)
	}
	return r, nil
}

// bindSource returns the directory of a mutable ref without a parent.
func bindSource(ctx context.Context, m cache.MutableRef) (string, error) {
	mountable, err := m.Mount(ctx, false, nil)
	if err != nil {
		return "", err
	}
	mnt, err := singleMount(mountable, "bind", "rbind")
	if err != nil {
		return "", err
	}
	return mnt.Source, nil
}

// upperDir returns the overlayfs upper directory of a mutable ref made by
// cache.Manager.New, whose snapshot is named by its ID. (The ref's own
// Mount gives a directory of BuildKit's mount pool.)
func upperDir(ctx context.Context, sn snapshot.Snapshotter, m cache.MutableRef) (string, error) {
	mountable, err := sn.Mounts(ctx, m.ID())
	if err != nil {
		return "", err
	}
	mnt, err := singleMount(mountable, "overlay")
	if err != nil {
		return "", err
	}
	for _, o := range mnt.Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("snapshot mounted as %v", []mount.Mount{mnt})
}

// singleMount returns the mount of mountable, which must be one, of one of
// types; whatever it mounted is released on return.
func singleMount(mountable snapshot.Mountable, types ...string) (mount.Mount, error) {
	mounts, release, err := mountable.Mount()
	if err != nil {
		return mount.Mount{}, err
	}
	if release != nil {
		defer func() { _ = release() }()
	}
	if len(mounts) != 1 || !slices.Contains(types, mounts[0].Type) {
		return mount.Mount{}, fmt.Errorf("snapshot mounted as %v", mounts)
	}
	return mounts[0], nil
}

// tryMount mounts ref read-only once.
func tryMount(ctx context.Context, ref cache.ImmutableRef) error {
	mountable, err := ref.Mount(ctx, true, nil)
	if err != nil {
		return err
	}
	mounts, release, err := mountable.Mount()
	if err != nil {
		return err
	}
	if release != nil {
		defer func() { _ = release() }()
	}
	for _, m := range mounts {
		switch m.Type {
		case "bind", "rbind":
			// BuildKit mounted it already, in its mount pool.
			if _, err := os.Stat(m.Source); err != nil {
				return err
			}
			return nil
		case "overlay":
		default:
			return fmt.Errorf("snapshot mounted as %v", mounts)
		}
	}
	tmp, err := os.MkdirTemp("", "docker-build2-inplace-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	for _, m := range mounts {
		if err := m.Mount(tmp); err != nil {
			return err
		}
		if err := unix.Unmount(tmp, unix.MNT_DETACH); err != nil {
			return err
		}
	}
	return nil
}

// view is what a local mount shows of its directory: the entries its
// filters keep, as fsutil's sender walks them.
type view struct {
	dir string
	// entries are the kept entries in walk order; kept holds their paths.
	entries []entry
	kept    map[string]bool
	// filtered: some filter applies, whiteouts may be needed.
	filtered bool
}

type entry struct {
	path string // slash-separated, relative
	st   *fstypes.Stat
}

func newView(dir string, id local.LocalIdentifier) (*view, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%q is not a directory", dir)
	}
	if strings.ContainsAny(dir, ":,") {
		// overlayfs option syntax
		return nil, fmt.Errorf("%q has a colon or comma", dir)
	}
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	v := &view{dir: dir, kept: map[string]bool{}}
	v.filtered = len(id.IncludePatterns) > 0 || len(id.ExcludePatterns) > 0 || len(id.FollowPaths) > 0
	if v.filtered {
		if fs, err = fsutil.NewFilterFS(fs, &fsutil.FilterOpt{
			IncludePatterns: id.IncludePatterns,
			ExcludePatterns: id.ExcludePatterns,
			FollowPaths:     id.FollowPaths,
		}); err != nil {
			return nil, err
		}
	}
	err = fs.Walk(context.Background(), "/", func(p string, e gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		si, ok := info.(*fsutil.StatInfo)
		if !ok {
			return fmt.Errorf("%s: no stat", p)
		}
		p = filepath.ToSlash(p)
		v.entries = append(v.entries, entry{path: p, st: si.Stat})
		v.kept[p] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// whiteout writes into the upper directory of top (whose lower layer is
// the directory) a whiteout for each entry the filters leave out, and
// gives each directory it had to create the metadata of the one below.
func (v *view) whiteout(ctx context.Context, sn snapshot.Snapshotter, top cache.MutableRef) error {
	if !v.filtered {
		return nil
	}
	upper, err := upperDir(ctx, sn, top)
	if err != nil {
		return err
	}
	u := &upperTree{root: upper}
	err = filepath.WalkDir(v.dir, func(full string, d gofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(v.dir, full)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if v.kept[rel] {
			return nil
		}
		if err := u.whiteout(rel); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	return u.copyMeta(v.dir)
}

// upperTree is the upper directory of a view's whiteouts.
type upperTree struct {
	root string
	// made are the directories created in it, parents first.
	made []string
}

// whiteout hides rel, creating its parent directories in the upper tree.
func (u *upperTree) whiteout(rel string) error {
	if dir := path.Dir(rel); dir != "." {
		parts := strings.Split(dir, "/")
		for n := range parts {
			r := strings.Join(parts[:n+1], "/")
			p := filepath.Join(u.root, filepath.FromSlash(r))
			if _, err := os.Lstat(p); err == nil {
				continue
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			u.made = append(u.made, r)
		}
	}
	if err := unix.Mknod(filepath.Join(u.root, filepath.FromSlash(rel)), unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout for %s: %w", rel, err)
	}
	return nil
}

// copyMeta gives each directory of the upper tree, and its root, the
// metadata of the one below in dir: deepest first, as a child's metadata
// written after would change its parent's times.
func (u *upperTree) copyMeta(dir string) error {
	made := append([]string{"."}, u.made...)
	for n := len(made) - 1; n >= 0; n-- {
		if err := copyDirMeta(filepath.Join(dir, filepath.FromSlash(made[n])), filepath.Join(u.root, filepath.FromSlash(made[n]))); err != nil {
			return err
		}
	}
	return nil
}

// copyDirMeta gives dst the owner, mode and times of src.
func copyDirMeta(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat", src)
	}
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// checksums fills ref's content-checksum cache with a record for each
// entry, as the session transfer does while it writes them.
func (i *inPlaceInstance) checksums(ctx context.Context, ref cache.MutableRef, v *view, start time.Time) (retErr error) {
	filters, err := json.Marshal([][]string{i.id.IncludePatterns, i.id.ExcludePatterns, i.id.FollowPaths})
	if err != nil {
		return err
	}
	dc := loadDigestCache(i.src.digests, v.dir, filters)
	digests, err := dc.digests(ctx, v, start)
	if err != nil {
		return err
	}
	cc, err := contenthash.GetCacheContext(ctx, ref)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			contenthash.ClearCacheContext(ref)
		}
	}()
	for n, e := range v.entries {
		if err := cc.HandleChange(fsutil.ChangeKindAdd, e.path, &hashedInfo{StatInfo: &fsutil.StatInfo{Stat: e.st}, dgst: digests[n]}, nil); err != nil {
			return err
		}
	}
	if err := contenthash.SetCacheContext(ctx, ref, cc); err != nil {
		return err
	}
	dc.save()
	return nil
}

// hashedInfo is an entry with its content digest, as contenthash takes it.
type hashedInfo struct {
	*fsutil.StatInfo
	dgst digest.Digest
}

func (h *hashedInfo) Digest() digest.Digest { return h.dgst }

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fileDigest is the digest BuildKit's transfer gives an entry: its header
// and, for a regular file, its content.
func fileDigest(full string, st *fstypes.Stat) (digest.Digest, error) {
	h, err := contenthash.NewFromStat(st.Clone())
	if err != nil {
		return "", err
	}
	if gofs.FileMode(st.Mode).IsRegular() && st.Size > 0 {
		f, err := os.Open(full)
		if err != nil {
			return "", err
		}
		defer func() { _ = f.Close() }()
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		// A reader of its own: os.File's WriteTo allocates a buffer per call.
		if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, *buf); err != nil {
			return "", err
		}
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

var _ source.SourceInstance = (*inPlaceInstance)(nil)
