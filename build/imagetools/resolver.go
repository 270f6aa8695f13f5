package imagetools

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/distribution/reference"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// maxManifestSize bounds a manifest or index read into memory, as
// containerd bounds them.
const maxManifestSize = 8 << 20

// Resolver reaches registries through a set of RegistryHosts.
type Resolver struct {
	hosts docker.RegistryHosts
	log   *logrus.Entry
}

// New returns a Resolver using hosts for every registry. The registry
// client's log (every request that failed and was retried) goes to logw,
// debug level included; a nil logw drops it.
func New(hosts docker.RegistryHosts, logw io.Writer) *Resolver {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if logw != nil {
		l.SetOutput(logw)
		l.SetLevel(logrus.DebugLevel)
	}
	return &Resolver{hosts: hosts, log: logrus.NewEntry(l)}
}

// withLog gives ctx the resolver's logger, for containerd's registry
// client.
func (r *Resolver) withLog(ctx context.Context) context.Context {
	if r.log == nil {
		return ctx
	}
	return log.WithLogger(ctx, r.log)
}

// notFound adds the fix to a registry's "not found".
func notFound(err error) error {
	if errors.Is(err, cerrdefs.ErrNotFound) {
		return fmt.Errorf("%w: check the name, or push the image first", err)
	}
	return err
}

// resolver is a fresh containerd resolver: each one keeps its own tokens,
// so a push does not reuse a pull-scoped token.
func (r *Resolver) resolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: r.hosts})
}

// ParseRef reads an image reference as buildx does: normalized
// (docker.io/library/ prefixed), with the latest tag when it has neither
// tag nor digest.
func ParseRef(s string) (reference.Named, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, err
	}
	return reference.TagNameOnly(n), nil
}

// Get resolves ref and returns its manifest or index as stored, with its
// descriptor.
func (r *Resolver) Get(ctx context.Context, ref reference.Named) ([]byte, ocispecs.Descriptor, error) {
	ctx = r.withLog(ctx)
	res := r.resolver()
	_, desc, err := res.Resolve(ctx, ref.String())
	if err != nil {
		return nil, ocispecs.Descriptor{}, notFound(err)
	}
	f, err := res.Fetcher(ctx, ref.String())
	if err != nil {
		return nil, ocispecs.Descriptor{}, err
	}
	dt, err := fetch(ctx, f, desc)
	return dt, desc, err
}

// Fetch reads the blob or manifest desc from ref's repository.
func (r *Resolver) Fetch(ctx context.Context, ref reference.Named, desc ocispecs.Descriptor) ([]byte, error) {
	ctx = r.withLog(ctx)
	f, err := r.resolver().Fetcher(ctx, ref.String())
	if err != nil {
		return nil, err
	}
	return fetch(ctx, f, desc)
}

func fetch(ctx context.Context, f remotes.Fetcher, desc ocispecs.Descriptor) ([]byte, error) {
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d a manifest or configuration may have", desc.Digest, desc.Size, maxManifestSize)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, notFound(err)
	}
	defer func() { _ = rc.Close() }()
	dt, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if desc.Size > 0 && int64(len(dt)) != desc.Size {
		return nil, fmt.Errorf("%s: read %d bytes, the descriptor says %d", desc.Digest, len(dt), desc.Size)
	}
	if desc.Digest != "" && desc.Digest.Algorithm().Available() && desc.Digest.Algorithm().FromBytes(dt) != desc.Digest {
		return nil, fmt.Errorf("%s: the content has digest %s", desc.Digest, desc.Digest.Algorithm().FromBytes(dt))
	}
	return dt, nil
}
