package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/remote"
)

// Status is what a node says of itself.
type Status struct {
	// Err is why the node could not be reached; nil when it answered.
	Err error
	// Version is its BuildKit version, when it answered.
	Version string
	// Platforms are the configured platforms, else those it reports.
	Platforms []string
}

// Probe asks a node for its version and platforms, for at most 10 s; the
// configured platforms win over the reported ones.
func Probe(ctx context.Context, n Node) Status {
	ctx, cancel := context.WithTimeoutCause(ctx, 10*time.Second, errors.New("no answer within 10s"))
	defer cancel()
	c, err := remote.Connect(ctx, n.Remote())
	if err != nil {
		return Status{Err: err, Platforms: n.Platforms}
	}
	defer func() { _ = c.Close() }()
	st := Status{Platforms: n.Platforms}
	if info, err := c.Info(ctx); err == nil {
		st.Version = info.BuildkitVersion.Version
	}
	if len(st.Platforms) == 0 {
		if ws, err := c.ListWorkers(ctx); err == nil {
			for _, w := range ws {
				for _, p := range w.Platforms {
					st.Platforms = append(st.Platforms, platforms.Format(p))
				}
			}
		}
	}
	return st
}

// Part is one platform of a build and the node that builds it; Platform is
// empty for a build that names none.
type Part struct {
	Node     Node
	Platform string
}

// Prober answers whether a node can be reached and which platforms it
// serves (Status.Platforms); Probe is the real one.
type Prober func(ctx context.Context, n Node) Status

// Plan gives each wanted platform the first node, in the builder's order,
// that serves it and answers; a build that names no platform goes to the
// first node that answers. Each node is probed once at the most.
func Plan(ctx context.Context, b *Builder, wanted []string, probe Prober) ([]Part, error) {
	seen := map[string]Status{}
	status := func(n Node) Status {
		st, ok := seen[n.Name]
		if !ok {
			st = probe(ctx, n)
			seen[n.Name] = st
		}
		return st
	}
	if len(wanted) == 0 {
		wanted = []string{""}
	}
	var plan []Part
	for _, p := range wanted {
		var tried []string
		found := false
		for _, n := range b.Nodes {
			// Nodes with configured platforms that do not serve p are not
			// probed. A node with none serves what it reports: one that
			// does not answer may serve p, and is named in the error.
			if p != "" && len(n.Platforms) > 0 && !serves(n.Platforms, p) {
				continue
			}
			st := status(n)
			if st.Err != nil {
				tried = append(tried, fmt.Sprintf("node %s: %v", n.Name, st.Err))
				continue
			}
			if p != "" && len(n.Platforms) == 0 && !serves(st.Platforms, p) {
				continue
			}
			plan = append(plan, Part{Node: n, Platform: p})
			found = true
			break
		}
		if found {
			continue
		}
		what := p
		if what == "" {
			what = "the build"
		}
		if len(tried) > 0 {
			return nil, fmt.Errorf("builder %q: no reachable node serves %s (%s)", b.Name, what, strings.Join(tried, "; "))
		}
		return nil, fmt.Errorf("builder %q: no node serves %s", b.Name, what)
	}
	return plan, nil
}

// serves reports whether one of have (platform specs) matches want.
func serves(have []string, want string) bool {
	w, err := platforms.Parse(want)
	if err != nil {
		return false
	}
	w = platforms.Normalize(w)
	for _, h := range have {
		if p, err := platforms.Parse(h); err == nil && platforms.NewMatcher(p).Match(w) {
			return true
		}
	}
	return false
}
