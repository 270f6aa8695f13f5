package policy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"

	buildxpolicy "github.com/docker/buildx/policy"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOptions are a policy test run: the _test.rego files under Path
// (relative to the current directory), checked against the policy of the
// Dockerfile named Filename.
type TestOptions struct {
	Path     string
	Run      string
	Filename string
	// Open opens the resolver of the builder, only once a test needs
	// metadata it does not give (an image's config, a Git ref).
	Open func(context.Context) (*Resolver, error)
	// Verifier checks signatures; nil checks none.
	Verifier buildxpolicy.PolicyVerifierProvider
}

// RunTests runs the tests, as buildx's policy test does: each result
// says whether it passed, and what the policy decided on which input.
func RunTests(ctx context.Context, o TestOptions) (buildxpolicy.TestSummary, error) {
	root, ok := os.DirFS(".").(fs.StatFS)
	if !ok {
		return buildxpolicy.TestSummary{}, errors.New("policy test root does not support stat")
	}
	lr := &lazyResolver{open: o.Open}
	defer lr.close()
	return buildxpolicy.RunPolicyTests(ctx, o.Path, buildxpolicy.TestOptions{
		Run:      o.Run,
		Filename: o.Filename,
		Root:     root,
		Provider: &buildxpolicy.TestOptionsProvider{
			Resolve:          lr.resolve,
			Platform:         lr.platform,
			VerifierProvider: o.Verifier,
		},
	})
}

// lazyResolver opens its resolver on first use.
type lazyResolver struct {
	open func(context.Context) (*Resolver, error)
	once sync.Once
	r    *Resolver
	err  error
}

func (l *lazyResolver) get(ctx context.Context) (*Resolver, error) {
	l.once.Do(func() {
		if l.open == nil {
			l.err = errors.New("no builder to resolve source metadata on")
			return
		}
		l.r, l.err = l.open(ctx)
	})
	return l.r, l.err
}

func (l *lazyResolver) resolve(ctx context.Context, src *pb.SourceOp, req *gwpb.ResolveSourceMetaRequest) (*gwpb.ResolveSourceMetaResponse, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return r.Resolve(ctx, src, req)
}

func (l *lazyResolver) platform(ctx context.Context) (*ocispecs.Platform, error) {
	r, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	p := r.Platform
	return &p, nil
}

func (l *lazyResolver) close() {
	if l.r != nil {
		_ = l.r.Close()
	}
}
