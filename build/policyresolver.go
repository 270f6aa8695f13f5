package build

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/docker-build2/docker-build2/build/remote"
	"github.com/moby/buildkit/session"
)

// PolicyResolver resolves sources' metadata for policy eval and test on
// b: on its BuildKit, or a builder of several nodes' first node, whose
// first platform is the default one. Closing the resolver closes b.
func PolicyResolver(ctx context.Context, b Builder, sess []session.Attachable) (*policy.Resolver, error) {
	var (
		s       solver
		release func() error
	)
	switch b := b.(type) {
	case *single:
		s, release = b.s, b.Close
	case *fleet:
		n := b.plan[0].Node
		c, err := remote.Connect(ctx, n.Remote())
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		s, release = daemon{c}, func() error {
			_ = c.Close()
			return b.Close()
		}
	default:
		return nil, fmt.Errorf("builder %s cannot resolve sources", b.Name())
	}
	pls, err := s.Platforms(ctx)
	if err == nil && len(pls) == 0 {
		err = errors.New("no workers available in the builder")
	}
	if err != nil {
		_ = release()
		return nil, err
	}
	return policy.NewResolver(s.Client(), platforms.Normalize(pls[0]), sess, release), nil
}
