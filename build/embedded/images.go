package embedded

import (
	"context"
	"errors"
	"slices"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containerd/containerd/v2/core/images"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageNamespace is the containerd namespace of the worker's content,
// leases and images.
const imageNamespace = "buildkit"

// imageStore is the worker's image store: the images built with a name
// (the image exporter stores them) that FROM and COPY --from resolve
// before the registry. It lives in the worker's containerd metadata
// database, so its images keep their content from the garbage collector.
func imageStore(db *ctdmetadata.DB) images.Store {
	return nsImages{s: ctdmetadata.NewImageStore(db), db: db}
}

// nsImages is an image store whose every call is in imageNamespace:
// BuildKit's exporter and resolver call it with contexts that name none.
// It also tells what content its images keep (imageContent).
type nsImages struct {
	s  images.Store
	db *ctdmetadata.DB
}

func ns(ctx context.Context) context.Context { return namespaces.WithNamespace(ctx, imageNamespace) }

func (n nsImages) Get(ctx context.Context, name string) (images.Image, error) {
	return n.s.Get(ns(ctx), name)
}

func (n nsImages) List(ctx context.Context, filters ...string) ([]images.Image, error) {
	return n.s.List(ns(ctx), filters...)
}

func (n nsImages) Create(ctx context.Context, img images.Image) (images.Image, error) {
	return n.s.Create(ns(ctx), img)
}

func (n nsImages) Update(ctx context.Context, img images.Image, fieldpaths ...string) (images.Image, error) {
	return n.s.Update(ns(ctx), img, fieldpaths...)
}

func (n nsImages) Delete(ctx context.Context, name string, opts ...images.DeleteOpt) error {
	return n.s.Delete(ns(ctx), name, opts...)
}

// imageContent is what an image store knows of the content its images
// keep, besides the images.
type imageContent interface {
	// blobs lists the content target reaches that the content store has
	// (an index, its manifests, configs and layers), each blob once.
	blobs(ctx context.Context, target ocispecs.Descriptor) ([]Blob, error)
	// holders gives the leases holding each of the blobs dgsts, by lease
	// ID: BuildKit's cache records hold their layer blobs in a lease of
	// the record's ID.
	holders(ctx context.Context, dgsts map[digest.Digest]bool) (map[digest.Digest][]string, error)
	// collect removes the content and snapshots nothing keeps any more,
	// as containerd does after an image is deleted.
	collect(ctx context.Context) error
}

func (n nsImages) blobs(ctx context.Context, target ocispecs.Descriptor) ([]Blob, error) {
	ctx = ns(ctx)
	cs := n.db.ContentStore()
	seen := map[digest.Digest]bool{}
	var out []Blob
	err := images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, desc ocispecs.Descriptor) ([]ocispecs.Descriptor, error) {
		if seen[desc.Digest] {
			return nil, images.ErrSkipDesc
		}
		seen[desc.Digest] = true
		info, err := cs.Info(ctx, desc.Digest)
		if cerrdefs.IsNotFound(err) {
			// Not stored: a platform the image was not built for.
			return nil, images.ErrSkipDesc
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Blob{Digest: desc.Digest.String(), Size: info.Size, Layer: images.IsLayerType(desc.MediaType)})
		return images.Children(ctx, cs, desc)
	}), target)
	return out, err
}

func (n nsImages) holders(ctx context.Context, dgsts map[digest.Digest]bool) (map[digest.Digest][]string, error) {
	ctx = ns(ctx)
	lm := ctdmetadata.NewLeaseManager(n.db)
	ls, err := lm.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[digest.Digest][]string{}
	for _, l := range ls {
		rs, err := lm.ListResources(ctx, l)
		if errors.Is(err, cerrdefs.ErrNotFound) {
			continue // released since List
		}
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if d := digest.Digest(r.ID); r.Type == "content" && dgsts[d] && !slices.Contains(out[d], l.ID) {
				out[d] = append(out[d], l.ID)
			}
		}
	}
	return out, nil
}

func (n nsImages) collect(ctx context.Context) error {
	_, err := n.db.GarbageCollect(ns(ctx))
	return err
}
