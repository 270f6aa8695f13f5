package imagetools

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/contentutil"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Push copies what img lists into the repository of each tag (mounting
// blobs from a source repository of the same registry, copying them
// across registries) and then pushes img under every tag. It reports one
// step per repository on status, which may be nil; it does not close it.
func (r *Resolver) Push(ctx context.Context, img *Image, tags []reference.Named, status chan<- *client.SolveStatus) error {
	ctx = withMediaTypes(r.withLog(ctx))
	byRepo := map[string][]reference.Named{}
	for _, t := range tags {
		byRepo[t.Name()] = append(byRepo[t.Name()], t)
	}
	repos := make([]string, 0, len(byRepo))
	for repo := range byRepo {
		repos = append(repos, repo)
	}
	sort.Strings(repos)
	eg, ctx := errgroup.WithContext(ctx)
	for _, repo := range repos {
		eg.Go(func() error {
			s := newStep(status, "pushing "+repo)
			err := r.pushRepo(ctx, img, byRepo[repo], s)
			s.done(err)
			return err
		})
	}
	return eg.Wait()
}

func (r *Resolver) pushRepo(ctx context.Context, img *Image, tags []reference.Named, s *step) error {
	res := r.resolver()
	pusher, err := res.Pusher(ctx, tags[0].Name())
	if err != nil {
		return fmt.Errorf("pushing %s: %w", tags[0].Name(), err)
	}
	ingester := contentutil.FromPusher(pusher)
	eg, ectx := errgroup.WithContext(ctx)
	for _, m := range img.manifests {
		eg.Go(func() error {
			s.log("copying %s from %s to %s", m.desc.Digest, m.src.Ref, tags[0].Name())
			f, err := res.Fetcher(ectx, m.src.Ref.String())
			if err != nil {
				return err
			}
			desc := m.desc
			desc.Annotations = maps.Clone(desc.Annotations)
			if desc.Annotations == nil {
				desc.Annotations = map[string]string{}
			}
			// containerd's pusher mounts a blob from the repository this
			// names when the target is on the same registry.
			desc.Annotations[sourceLabel(m.src.Ref)] = reference.Path(m.src.Ref)
			if err := contentutil.CopyChain(ectx, ingester, contentutil.FromFetcher(f), desc); err != nil {
				return fmt.Errorf("copying %s from %s to %s: %w", m.desc.Digest, m.src.Ref, tags[0].Name(), err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	for _, t := range tags {
		s.log("pushing %s to %s", img.Desc.Digest, t)
		if err := r.pushManifest(ctx, t, img); err != nil {
			return fmt.Errorf("pushing %s to %s: %w", img.Desc.Digest, t, err)
		}
	}
	return nil
}

// sourceLabel is the distribution-source label containerd's pusher reads
// for ref's registry: its host name without the port.
func sourceLabel(ref reference.Named) string {
	host := reference.Domain(ref)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return "containerd.io/distribution.source." + host
}

// PushManifest pushes the manifest or index dt, which desc describes,
// under ref; what it lists must be in the repository already.
func (r *Resolver) PushManifest(ctx context.Context, ref reference.Named, desc ocispecs.Descriptor, dt []byte) error {
	return r.pushManifest(withMediaTypes(r.withLog(ctx)), ref, &Image{Data: dt, Desc: desc})
}

func (r *Resolver) pushManifest(ctx context.Context, ref reference.Named, img *Image) error {
	p, err := r.resolver().Pusher(ctx, ref.String())
	if err != nil {
		return err
	}
	desc := img.Desc
	desc.Annotations = nil
	w, err := p.Push(ctx, desc)
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = content.Copy(ctx, w, bytes.NewReader(img.Data), desc.Size, desc.Digest)
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// withMediaTypes names the media types containerd's pusher does not know,
// so that attestations and signatures copy.
func withMediaTypes(ctx context.Context) context.Context {
	for mt, prefix := range map[string]string{
		"application/vnd.in-toto+json":                     "intoto",
		"application/vnd.oci.empty.v1+json":                "empty",
		"application/vnd.dev.cosign.artifact.sig.v1+json":  "cosign",
		"application/vnd.dev.cosign.simplesigning.v1+json": "simplesigning",
		"application/vnd.dev.sigstore.bundle.v0.3+json":    "sigstore-bundle",
	} {
		ctx = remotes.WithMediaTypeKeyPrefix(ctx, mt, prefix)
	}
	return ctx
}

var stepSeq atomic.Int64

// step is one synthetic vertex of the status, for the progress display.
type step struct {
	ch chan<- *client.SolveStatus
	v  client.Vertex
}

func newStep(ch chan<- *client.SolveStatus, name string) *step {
	now := time.Now()
	s := &step{ch: ch, v: client.Vertex{
		Digest:  digest.FromString("docker-build2 imagetools " + strconv.FormatInt(stepSeq.Add(1), 10) + " " + name),
		Name:    name,
		Started: &now,
	}}
	s.send(&client.SolveStatus{Vertexes: []*client.Vertex{&s.v}})
	return s
}

func (s *step) send(st *client.SolveStatus) {
	if s.ch != nil {
		s.ch <- st
	}
}

func (s *step) log(format string, args ...any) {
	s.send(&client.SolveStatus{Logs: []*client.VertexLog{{
		Vertex: s.v.Digest, Stream: 1, Data: fmt.Appendf(nil, format+"\n", args...), Timestamp: time.Now(),
	}}})
}

func (s *step) done(err error) {
	v := s.v
	now := time.Now()
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	s.send(&client.SolveStatus{Vertexes: []*client.Vertex{&v}})
}
