package build

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/docker-build2/docker-build2/build/imageindex"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/build/remote"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Builder is where builds run: the embedded solver, a remote BuildKit
// daemon, or a named builder whose nodes each build some platforms. Run
// builds on any of them the same way.
type Builder interface {
	// Name is "default" for the embedded solver, the address of a remote
	// daemon, else the named builder's name.
	Name() string
	// Platforms lists what the builder's workers run.
	Platforms(ctx context.Context) ([]ocispecs.Platform, error)
	// Prune removes build cache, reporting each record removed on ch,
	// which it does not close.
	Prune(ctx context.Context, ch chan client.UsageInfo, opts ...client.PruneOption) error
	// DiskUsage lists the build cache.
	DiskUsage(ctx context.Context, opts ...client.DiskUsageOption) ([]*client.UsageInfo, error)
	// Images lists the images the builder keeps by name (the embedded
	// builder's image store), with the content each keeps on disk.
	Images(ctx context.Context) ([]Image, error)
	// RemoveImage removes an image of Images by its full name.
	RemoveImage(ctx context.Context, name string) error
	// Close releases the builder: the embedded solver stops once the
	// builds of other processes sharing it end.
	Close() error

	run(ctx context.Context, opts Options, status chan<- *client.SolveStatus) (*Result, error)
}

// Target says which builder Open opens, and what it needs to.
type Target struct {
	// Builder is "" for the current builder of Store (the embedded one
	// when none is chosen), "default" for the embedded one, a BuildKit
	// address (unix://, tcp://, ssh://, docker-container://, kube-pod://),
	// or the name of a builder in Store.
	Builder string
	// TLS settings for a tcp:// address in Builder.
	TLSCACert, TLSCert, TLSKey, TLSServerName string
	// Store holds the named builders.
	Store nodes.Store
	// Platforms decide which nodes of a named builder build.
	Platforms []string

	// Root, Daemon and CertsDir are the embedded solver's state dir,
	// daemon.json and registry certificates (docker's certs.d layout).
	// Daemon and CertsDir also configure the registries this process
	// pushes to itself (the index of a build split across nodes).
	Root     string
	Daemon   *daemonconfig.Config
	CertsDir string
	// Log, when not nil, receives the embedded solver's own log.
	Log io.Writer
	// Credentials returns a registry host's user name and secret (an
	// identity token when the name is empty), for those pushes.
	Credentials func(host string) (user, secret string, err error)

	// Status receives what Open and Close do besides building (waiting
	// for or sharing another process's solver) as steps; nil drops them.
	// Neither closes it.
	Status chan<- *client.SolveStatus
	// History is set when a build on the embedded builder reads the
	// provenance BuildKit's build history records (Options'
	// MetadataProvenance): the history is on only then.
	History bool
	// SolverIdle is how long the embedded solver keeps serving after this
	// process is done with it (embedded.Config's Idle).
	SolverIdle time.Duration
	// Boot, when set, starts the nodes of a named builder that run on a
	// Docker engine (docker-container) and are not running, before Open
	// reaches them, as buildx boots a builder on its first build; each
	// thing it does is a step begun with begin.
	Boot func(ctx context.Context, b *nodes.Builder, begin func(name string) (done func(error))) error
}

// Open opens the builder t names.
func Open(ctx context.Context, t Target) (Builder, error) {
	name := t.Builder
	if name == "" {
		name = t.Store.Current()
	}
	switch {
	case name == "" || name == nodes.Default:
		s, err := embedded.Open(ctx, embedded.Config{
			Root: t.Root, Daemon: t.Daemon, CertsDir: t.CertsDir, Log: t.Log, History: t.History, Idle: t.SolverIdle,
			Notify: func(msg string) func() {
				done := step(t.Status, msg)
				return func() { done(nil) }
			},
		})
		if err != nil {
			return nil, err
		}
		return &single{name: nodes.Default, s: s}, nil
	case strings.Contains(name, "://"):
		c, err := remote.Connect(ctx, remote.Config{Address: name, TLSCACert: t.TLSCACert, TLSCert: t.TLSCert, TLSKey: t.TLSKey, TLSServerName: t.TLSServerName})
		if err != nil {
			return nil, err
		}
		return &single{name: name, s: daemon{c}}, nil
	}
	b, err := t.Store.Get(name)
	if err != nil {
		return nil, err
	}
	if t.Boot != nil {
		if err := t.Boot(ctx, b, func(name string) func(error) { return step(t.Status, name) }); err != nil {
			return nil, err
		}
	}
	plan, err := nodes.Plan(ctx, b, t.Platforms, nodes.Probe)
	if err != nil {
		return nil, err
	}
	if n, ok := oneNode(plan); ok {
		c, err := remote.Connect(ctx, n.Remote())
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		return &single{name: b.Name, s: daemon{c}}, nil
	}
	hosts := imageindex.WithCredentials(embedded.RegistryHosts(t.Daemon, t.CertsDir), credentials(t.Credentials))
	return &fleet{name: b.Name, plan: plan, hosts: hosts}, nil
}

// oneNode reports whether the plan builds everything on one node.
func oneNode(plan []nodes.Part) (nodes.Node, bool) {
	for _, p := range plan[1:] {
		if p.Node.Name != plan[0].Node.Name {
			return nodes.Node{}, false
		}
	}
	return plan[0].Node, true
}

func credentials(f func(string) (string, string, error)) func(string) (string, string, error) {
	if f == nil {
		return func(string) (string, string, error) { return "", "", nil }
	}
	return f
}

// solver is one BuildKit: the embedded one or a daemon.
type solver interface {
	Client() *client.Client
	// Solve runs client.Solve; it closes ch.
	Solve(ctx context.Context, so client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error)
	Platforms(ctx context.Context) ([]ocispecs.Platform, error)
	Close() error
}

// daemon is a BuildKit daemon reached through its client.
type daemon struct{ c *client.Client }

func (d daemon) Client() *client.Client { return d.c }

func (d daemon) Solve(ctx context.Context, so client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	return d.c.Solve(ctx, nil, so, ch)
}

func (d daemon) Platforms(ctx context.Context) ([]ocispecs.Platform, error) {
	return remote.Platforms(ctx, d.c)
}

func (d daemon) Close() error { return d.c.Close() }

// single is a builder of one BuildKit.
type single struct {
	name string
	s    solver
}

func (b *single) Name() string { return b.name }

func (b *single) Platforms(ctx context.Context) ([]ocispecs.Platform, error) {
	return b.s.Platforms(ctx)
}

func (b *single) Prune(ctx context.Context, ch chan client.UsageInfo, opts ...client.PruneOption) error {
	return b.s.Client().Prune(ctx, ch, opts...)
}

func (b *single) DiskUsage(ctx context.Context, opts ...client.DiskUsageOption) ([]*client.UsageInfo, error) {
	return b.s.Client().DiskUsage(ctx, opts...)
}

func (b *single) Close() error { return b.s.Close() }

func (b *single) Images(ctx context.Context) ([]Image, error) {
	if e, ok := b.s.(*embedded.Solver); ok {
		return e.Images(ctx)
	}
	return nil, noImageStore(b.name)
}

func (b *single) RemoveImage(ctx context.Context, name string) error {
	if e, ok := b.s.(*embedded.Solver); ok {
		return e.RemoveImage(ctx, name)
	}
	return noImageStore(b.name)
}

// Image is an image of the embedded builder's image store.
type Image = embedded.Image

// Blob is a piece of content an Image keeps: its size, and for a layer
// the IDs of the cache records (of DiskUsage) that count it in theirs.
type Blob = embedded.Blob

// ErrImageNotFound is RemoveImage's error for a name the builder lacks.
var ErrImageNotFound = embedded.ErrImageNotFound

// KeepsImages reports whether b has an image store (Images): the embedded
// builder.
func KeepsImages(b Builder) bool {
	s, ok := b.(*single)
	if !ok {
		return false
	}
	_, ok = s.s.(*embedded.Solver)
	return ok
}

func noImageStore(builder string) error {
	return fmt.Errorf("builder %s keeps no images of its own: only the embedded builder (default) has an image store", builder)
}

// fleet is a named builder whose nodes share a multi-platform build: each
// builds its platforms, and the results are merged into one image index.
type fleet struct {
	name  string
	plan  []nodes.Part
	hosts docker.RegistryHosts
}

func (f *fleet) Name() string { return f.name }

func (f *fleet) Platforms(context.Context) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, p := range f.plan {
		if pl, err := parsePlatform(p.Platform); err == nil {
			out = append(out, pl)
		}
	}
	return out, nil
}

// Prune prunes the cache of each node, as buildx does.
func (f *fleet) Prune(ctx context.Context, ch chan client.UsageInfo, opts ...client.PruneOption) error {
	return f.eachNode(ctx, func(c *client.Client) error { return c.Prune(ctx, ch, opts...) })
}

// DiskUsage lists the cache of every node, as buildx does.
func (f *fleet) DiskUsage(ctx context.Context, opts ...client.DiskUsageOption) ([]*client.UsageInfo, error) {
	var mu sync.Mutex
	var out []*client.UsageInfo
	err := f.eachNode(ctx, func(c *client.Client) error {
		du, err := c.DiskUsage(ctx, opts...)
		mu.Lock()
		out = append(out, du...)
		mu.Unlock()
		return err
	})
	return out, err
}

// eachNode runs fn on every node of the plan at once, once each.
func (f *fleet) eachNode(ctx context.Context, fn func(*client.Client) error) error {
	eg, ctx := errgroup.WithContext(ctx)
	seen := map[string]bool{}
	for _, p := range f.plan {
		if seen[p.Node.Name] {
			continue
		}
		seen[p.Node.Name] = true
		n := p.Node
		eg.Go(func() error {
			c, err := remote.Connect(ctx, n.Remote())
			if err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			defer func() { _ = c.Close() }()
			if err := fn(c); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

func (f *fleet) Close() error { return nil }

func (f *fleet) Images(context.Context) ([]Image, error) { return nil, noImageStore(f.name) }

func (f *fleet) RemoveImage(context.Context, string) error { return noImageStore(f.name) }

// BuildKitVersion returns the version of the BuildKit module linked in.
func BuildKitVersion() string { return embedded.BuildKitVersion() }

// RunChild runs this process as the embedded solver's process in a user
// namespace when it was started as one: ok is false otherwise, and main
// goes on.
func RunChild() (code int, ok bool) { return embedded.RunChild() }
