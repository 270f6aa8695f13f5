package build

import (
	"context"
	"fmt"

	"github.com/docker-build2/docker-build2/build/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// MaxDefinitionSize is the largest definition file FetchFiles reads.
const MaxDefinitionSize = 2 << 20

// FetchFiles reads, through b, the files of names that exist at the root
// of a remote source: a Git repository (with #ref:subdir) or an HTTP(S)
// tarball, as buildx reads a remote bake definition. The builder fetches
// it (the first node of a builder of several); the fetch is a step of
// status, which it does not close. Names missing there are left out.
func FetchFiles(ctx context.Context, b Builder, url string, names []string, status chan<- *client.SolveStatus) (map[string][]byte, error) {
	var out map[string][]byte
	err := withClient(ctx, b, func(c *client.Client) error {
		var err error
		out, err = fetchFiles(ctx, c, url, names, status)
		return err
	})
	return out, err
}

// withClient runs fn with a BuildKit client of b: its solver's, or its
// first node's.
func withClient(ctx context.Context, b Builder, fn func(*client.Client) error) error {
	switch b := b.(type) {
	case *single:
		return fn(b.s.Client())
	case *fleet:
		n := b.plan[0].Node
		c, err := remote.Connect(ctx, n.Remote())
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		defer func() { _ = c.Close() }()
		return fn(c)
	}
	return fmt.Errorf("builder %s cannot fetch files", b.Name())
}

// remoteSource is the LLB state of a Git repository or an HTTP(S) tarball.
func remoteSource(url string) (llb.State, error) {
	if st, ok, err := dockerui.DetectGitContext(url, nil); ok {
		if err != nil {
			return llb.State{}, err
		}
		return *st, nil
	}
	if st, name, ok := dockerui.DetectHTTPContext(url); ok {
		return llb.Scratch().File(llb.Copy(*st, name, "/", &llb.CopyInfo{AttemptUnpack: true, CopyDirContentsOnly: true})), nil
	}
	return llb.State{}, fmt.Errorf("%s is neither a Git repository nor an HTTP(S) URL", url)
}

func fetchFiles(ctx context.Context, c *client.Client, url string, names []string, status chan<- *client.SolveStatus) (map[string][]byte, error) {
	src, err := remoteSource(url)
	if err != nil {
		return nil, err
	}
	out, err := readFiles(ctx, c, src.Output(), "[internal] load remote definition from "+url, names, MaxDefinitionSize, "a definition", status)
	if err != nil {
		return nil, fmt.Errorf("remote definition %s: %w", url, err)
	}
	return out, nil
}

// readFiles solves src on c, an internal step named name of status, and
// reads those of names that its result holds, each at most max bytes (what
// says what a file is, for the error).
func readFiles(ctx context.Context, c *client.Client, src llb.Output, name string, names []string, max int64, what string, status chan<- *client.SolveStatus) (map[string][]byte, error) {
	out := map[string][]byte{}
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forward(ch, status)
	}()
	_, err := c.Build(ctx, client.SolveOpt{Internal: true}, "", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		def, err := llb.NewState(src).Marshal(ctx, llb.WithCustomName(name))
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
		// The solve is lazy: a download or clone that fails must fail
		// here, not read as files that are not there.
		if err := ref.Evaluate(ctx); err != nil {
			return nil, err
		}
		for _, n := range names {
			st, err := ref.StatFile(ctx, gateway.StatRequest{Path: n})
			if err != nil {
				continue // not there
			}
			if st.Size > max {
				return nil, fmt.Errorf("%s: %d bytes is more than %s may have (%d)", n, st.Size, what, max)
			}
			dt, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: n})
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", n, err)
			}
			out[n] = dt
		}
		return nil, nil
	}, ch)
	<-done
	return out, err
}
