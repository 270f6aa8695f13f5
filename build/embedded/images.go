package embedded

import (
	"context"

	"github.com/containerd/containerd/v2/core/images"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// imageNamespace is the containerd namespace of the worker's content,
// leases and images.
const imageNamespace = "buildkit"

// imageStore is the worker's image store: the images built with a name
// (the image exporter stores them) that FROM and COPY --from resolve
// before the registry. It lives in the worker's containerd metadata
// database, so its images keep their content from the garbage collector.
func imageStore(db *ctdmetadata.DB) images.Store {
	return nsImages{ctdmetadata.NewImageStore(db)}
}

// nsImages is an image store whose every call is in imageNamespace:
// BuildKit's exporter and resolver call it with contexts that name none.
type nsImages struct{ s images.Store }

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
