package policy

import (
	"context"

	"github.com/docker/buildx/util/sourcemeta"
	"github.com/moby/buildkit/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Resolver resolves sources' metadata on a builder (image configs and
// attestations, Git refs, HTTP checksums), for policy eval and test.
type Resolver struct {
	// Platform is the builder's default platform.
	Platform ocispecs.Platform
	meta     *sourcemeta.Resolver
	release  func() error
}

// NewResolver resolves on c, with the session providers given (registry
// credentials); release, when not nil, runs on Close.
func NewResolver(c *client.Client, platform ocispecs.Platform, sess []session.Attachable, release func() error) *Resolver {
	return &Resolver{Platform: platform, meta: sourcemeta.NewResolver(c, sourcemeta.WithSession(sess)), release: release}
}

// Resolve answers a policy's metadata request about source.
func (r *Resolver) Resolve(ctx context.Context, source *pb.SourceOp, req *gwpb.ResolveSourceMetaRequest) (*gwpb.ResolveSourceMetaResponse, error) {
	resp, err := r.meta.ResolveSourceMetadata(ctx, source, sourcemeta.ToResolverOpt(req, &r.Platform))
	if err != nil {
		return nil, err
	}
	return sourcemeta.ToGatewayMetaResponse(resp), nil
}

// Close stops the resolver's solve and releases the builder.
func (r *Resolver) Close() error {
	err := r.meta.Close()
	if r.release != nil {
		if rerr := r.release(); err == nil {
			err = rerr
		}
	}
	return err
}
