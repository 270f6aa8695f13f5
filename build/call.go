package build

import (
	"context"
	"fmt"

	"github.com/docker-build2/docker-build2/build/embedded"

	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// Calls maps the methods --call names to the Dockerfile frontend's
// requests: instead of building, the frontend checks the Dockerfile
// against its lint rules, outlines a target's build args and secrets, or
// lists the targets.
var Calls = map[string]string{
	"check":   "frontend.lint",
	"outline": "frontend.outline",
	"targets": "frontend.targets",
}

// call asks the frontend opts.Call's request on s; the answer is the
// result's metadata (result.json, result.txt, result.statuscode).
func call(ctx context.Context, s solver, opts Options, status chan<- *client.SolveStatus) (*Result, error) {
	request, ok := Calls[opts.Call]
	if !ok {
		return nil, fmt.Errorf("unknown call %q: use check, outline or targets", opts.Call)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	builtin := useBuiltinFrontend(ctx, s.Client(), opts, status)
	so, err := solveOpt(opts, nil, builtin, cancel)
	if err != nil {
		return nil, err
	}
	release, err := attachPolicy(ctx, s, opts, so, status)
	if err != nil {
		return nil, err
	}
	attrs := so.FrontendAttrs
	attrs["requestid"] = request
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded {
		so.Internal = true
		if !opts.Pull {
			attrs["image-resolve-mode"] = "local"
		}
	}
	so.Frontend, so.FrontendAttrs = "", nil
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forward(ch, status)
	}()
	var meta map[string][]byte
	_, err = s.Client().Build(ctx, *so, "", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
		res, err := c.Solve(ctx, gateway.SolveRequest{Frontend: "dockerfile.v0", FrontendOpt: attrs})
		if err != nil {
			return nil, err
		}
		meta = res.Metadata
		return res, nil
	}, ch)
	<-done
	if release != nil {
		release(err)
	}
	if err != nil {
		return nil, explainLoop(err, so.LocalMounts)
	}
	return &Result{Call: meta}, nil
}
