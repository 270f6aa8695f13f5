package policy

import (
	"context"
	"errors"

	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/apicaps"
)

// Errors of a daemon that cannot apply what a policy asks, as buildx
// words them.
var (
	ErrStrictUnsupported = errors.New("strict policy is not supported by the current BuildKit daemon, please upgrade to version v0.27+")
	ErrProxyUnsupported  = errors.New("network proxy requested by policy is not supported by the current BuildKit daemon, please upgrade to version v0.31+")
)

// Caps are the solver capabilities policies may need.
type Caps struct {
	// Session is the policy session: without it, a daemon builds without
	// asking the policy.
	Session bool
	// Proxy is the network proxy of RUN steps a policy may ask for.
	Proxy bool
}

// DaemonCaps asks c's daemon which of Caps it has (a gateway session of
// its own, so only when a policy needs to know).
func DaemonCaps(ctx context.Context, c *client.Client) (Caps, error) {
	var caps Caps
	_, err := c.Build(ctx, client.SolveOpt{Internal: true}, "", func(_ context.Context, gw gateway.Client) (*gateway.Result, error) {
		llb := gw.BuildOpts().LLBCaps
		caps.Session = supports(llb, pb.CapSourcePolicySession)
		caps.Proxy = supports(llb, pb.CapExecMetaNetworkProxy)
		return gateway.NewResult(), nil
	}, nil)
	return caps, err
}

func supports(caps apicaps.CapSet, id apicaps.CapID) bool { return caps.Supports(id) == nil }

// Strict reports whether a Set asks for the policy session (strict=true).
func Strict(sets []Set) bool {
	for _, s := range sets {
		if s.Strict {
			return true
		}
	}
	return false
}
