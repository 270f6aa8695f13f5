package build

import (
	"context"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/moby/buildkit/client"
)

// attachPolicy loads the build's policies and, when there are any, puts
// their session into so: every source the solve uses is checked through
// it before any step runs. The release it returns (nil with no policy)
// takes the solve's error once the solve returned.
func attachPolicy(ctx context.Context, s solver, opts Options, so *client.SolveOpt, status chan<- *client.SolveStatus) (func(error), error) {
	in := policy.Inputs{ContextDir: opts.ContextDir, ContextURL: opts.ContextURL, DockerfileDir: opts.DockerfileDir, DockerfileName: opts.DockerfileName, Configs: opts.Policy, Builtin: opts.DefaultPolicy}
	if opts.ContextTar != nil {
		// A context sent as a tar stream has no directory to read policy
		// files from.
		in.ContextDir = ""
	}
	sets, err := policy.Load(in)
	if err != nil || len(sets) == 0 {
		return nil, err
	}
	b := policy.Build{
		Client:     s.Client(),
		Session:    opts.Session,
		Status:     status,
		Dockerfile: opts.DockerfileName,
		Target:     opts.Target,
		Args:       opts.BuildArgs,
		Labels:     opts.Labels,
		Verifier:   opts.PolicyVerifier,
	}
	if pls, err := s.Platforms(ctx); err == nil && len(pls) > 0 {
		p := platforms.Normalize(pls[0])
		b.Platform = &p
	}
	a, err := policy.Attach(ctx, b, sets)
	if err == nil && a == nil && policy.StrictRequested(opts.Policy) {
		// A remote context without the policy files it was to bring.
		err = policy.NoPolicyError{Dockerfile: opts.DockerfileName}
	}
	if err != nil || a == nil {
		return nil, err
	}
	if err := checkPolicyCaps(ctx, s, sets, a); err != nil {
		a.Release(err)
		return nil, err
	}
	so.SourcePolicyProvider = a.Provider
	so.ProxyNetwork = so.ProxyNetwork || a.ProxyNetwork
	return a.Release, nil
}

// checkPolicyCaps fails, as buildx does, when a remote daemon cannot apply
// what the policies ask: the policy session a strict policy requires (a
// daemon without it would build without asking), or the network proxy a
// policy turned on. The embedded solver has both.
func checkPolicyCaps(ctx context.Context, s solver, sets []policy.Set, a *policy.Attachment) error {
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded || (!policy.Strict(sets) && !a.ProxyNetwork) {
		return nil
	}
	caps, err := policy.DaemonCaps(ctx, s.Client())
	if err != nil {
		return err
	}
	if policy.Strict(sets) && !caps.Session {
		return policy.ErrStrictUnsupported
	}
	if a.ProxyNetwork && !caps.Proxy {
		return policy.ErrProxyUnsupported
	}
	return nil
}
