package build

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-build2/docker-build2/build/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// MaxDockerfileSize is the largest Dockerfile FetchDockerfile takes, as
// buildx: 2 MiB.
const MaxDockerfileSize = 2 << 20

// FetchDockerfile downloads the Dockerfile at url (-f URL) through b, as
// buildx does: the builder fetches it (the first node of a builder of
// several), so it reaches what the builder reaches, whatever the context
// is; the caller then sends it as a local Dockerfile. The download is a
// step of status, which it does not close.
func FetchDockerfile(ctx context.Context, b Builder, url string, status chan<- *client.SolveStatus) ([]byte, error) {
	switch b := b.(type) {
	case *single:
		return fetchDockerfile(ctx, b.s.Client(), url, status)
	case *fleet:
		n := b.plan[0].Node
		c, err := remote.Connect(ctx, n.Remote())
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		defer func() { _ = c.Close() }()
		return fetchDockerfile(ctx, c, url, status)
	}
	return nil, fmt.Errorf("builder %s cannot download a Dockerfile", b.Name())
}

func fetchDockerfile(ctx context.Context, c *client.Client, url string, status chan<- *client.SolveStatus) ([]byte, error) {
	var dt []byte
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forward(ch, status)
	}()
	_, err := c.Build(ctx, client.SolveOpt{Internal: true}, "", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		def, err := llb.HTTP(url, llb.Filename("Dockerfile"), llb.WithCustomNamef("[internal] load Dockerfile from %s", url)).Marshal(ctx)
		if err != nil {
			return nil, err
		}
		res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
		if err != nil {
			return nil, err
		}
		ref, err := res.SingleRef()
		if err != nil {
			return nil, err
		}
		st, err := ref.StatFile(ctx, gateway.StatRequest{Path: "Dockerfile"})
		if err != nil {
			return nil, err
		}
		if st.Size > MaxDockerfileSize {
			return nil, fmt.Errorf("%d bytes is more than a Dockerfile may have (%d)", st.Size, MaxDockerfileSize)
		}
		dt, err = ref.ReadFile(ctx, gateway.ReadRequest{Filename: "Dockerfile"})
		return nil, err
	}, ch)
	<-done
	if err != nil {
		return nil, fmt.Errorf("-f/--file %s: downloading the Dockerfile: %w", url, err)
	}
	if len(dt) == 0 {
		return nil, errors.New("-f/--file " + url + ": the Dockerfile downloaded is empty")
	}
	return dt, nil
}
