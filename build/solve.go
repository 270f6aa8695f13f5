package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/upload/uploadprovider"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/tonistiigi/fsutil"
)

// Options describes one build. The plugin package fills it from flags.
type Options struct {
	// ContextDir is the local build context. It must be empty if and only if
	// ContextTar is set.
	ContextDir string
	// ContextTar is a tar stream used as the build context (context "-").
	ContextTar io.ReadCloser
	// ContextURL is a remote context (Git repository or HTTP(S) tarball).
	ContextURL string
	// DockerfileDir is the local directory that holds the Dockerfile. Empty
	// means the Dockerfile is read from the context (only with ContextTar).
	DockerfileDir string
	// DockerfileName is the Dockerfile's file name inside DockerfileDir (or
	// its path inside the context). Empty means "Dockerfile".
	DockerfileName string
	Target         string
	BuildArgs      map[string]string
	Labels         map[string]string
	NoCache        bool
	// NoCacheFilter names stages that must not use the cache.
	NoCacheFilter []string
	// Platforms are the target platforms; empty means the builder's own.
	Platforms []string
	// CacheImports and CacheExports are --cache-from and --cache-to.
	CacheImports []client.CacheOptionsEntry
	CacheExports []client.CacheOptionsEntry
	Pull         bool
	// NetworkMode is "default", "none" or "host".
	NetworkMode string
	// ExtraHosts are "host=ip" pairs added to /etc/hosts of RUN steps.
	ExtraHosts []string
	// Allow lists the entitlements the build asks for.
	Allow []string
	// Exports are the outputs; none means the result stays in the cache.
	Exports []client.ExportEntry
	// Session holds the session providers (auth, secrets, ssh).
	Session []session.Attachable
	// NoHistory keeps the build out of the builder's build history, which
	// would store every step's output (a secret a step prints included).
	// The embedded builder keeps no history at all; this is for remote ones.
	NoHistory bool
	// BuiltinFrontend ignores the Dockerfile's "# syntax=" directive and
	// builds with the built-in frontend.
	BuiltinFrontend bool
}

// Result is what a finished build reports.
type Result struct {
	// ExporterResponse holds exporter metadata such as
	// "containerimage.digest" and "containerimage.config.digest".
	ExporterResponse map[string]string
}

// Solver runs builds. Engine and remote builders both satisfy it through
// the BuildKit client.
type Solver interface {
	Client() *client.Client
}

// Build runs opts on s. Status updates are sent to ch, which Build closes.
func Build(ctx context.Context, s Solver, opts Options, ch chan *client.SolveStatus) (*Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	so, err := solveOpt(opts, cancel)
	if err != nil {
		close(ch)
		return nil, err
	}
	resp, err := s.Client().Solve(ctx, nil, *so, ch)
	if err != nil {
		var changed *ContextChangedError
		if errors.As(context.Cause(ctx), &changed) {
			return nil, changed
		}
		return nil, explainLoop(err, so.LocalMounts)
	}
	return &Result{ExporterResponse: resp.ExporterResponse}, nil
}

// solveOpt turns opts into BuildKit's SolveOpt; fail stops the build when a
// local context changes while it is sent.
func solveOpt(opts Options, fail func(error)) (*client.SolveOpt, error) {
	attrs := map[string]string{}
	mounts := map[string]fsutil.FS{}
	sess := append([]session.Attachable{}, opts.Session...)

	switch {
	case opts.ContextTar != nil:
		up := uploadprovider.New()
		attrs["context"] = up.Add(opts.ContextTar)
		sess = append(sess, up)
	case opts.ContextURL != "":
		attrs["context"] = opts.ContextURL
	case opts.ContextDir != "":
		fs, err := fsutil.NewFS(opts.ContextDir)
		if err != nil {
			return nil, fmt.Errorf("build context %q: %w", opts.ContextDir, err)
		}
		mounts["context"] = newGuardFS(fs, opts.ContextDir, "context", fail)
	default:
		return nil, fmt.Errorf("no build context given")
	}
	name := opts.DockerfileName
	if name == "" {
		name = "Dockerfile"
	}
	if opts.DockerfileDir != "" {
		fs, err := fsutil.NewFS(opts.DockerfileDir)
		if err != nil {
			return nil, fmt.Errorf("dockerfile directory %q: %w", opts.DockerfileDir, err)
		}
		mounts["dockerfile"] = newGuardFS(fs, opts.DockerfileDir, "dockerfile", fail)
		if opts.ContextTar != nil || opts.ContextURL != "" {
			attrs["dockerfilekey"] = "dockerfile"
		}
	}
	attrs["filename"] = name
	if opts.BuiltinFrontend {
		// The Dockerfile frontend forwards to a "# syntax=" image only
		// when no cmdline is given.
		attrs["cmdline"] = ""
	}
	if opts.Target != "" {
		attrs["target"] = opts.Target
	}
	for _, k := range sortedKeys(opts.BuildArgs) {
		attrs["build-arg:"+k] = opts.BuildArgs[k]
	}
	for _, k := range sortedKeys(opts.Labels) {
		attrs["label:"+k] = opts.Labels[k]
	}
	if opts.NoCache {
		attrs["no-cache"] = ""
	} else if len(opts.NoCacheFilter) > 0 {
		attrs["no-cache"] = strings.Join(opts.NoCacheFilter, ",")
	}
	if len(opts.Platforms) > 0 {
		attrs["platform"] = strings.Join(opts.Platforms, ",")
	}
	if opts.Pull {
		attrs["image-resolve-mode"] = "pull"
	}
	var allow []string
	switch opts.NetworkMode {
	case "", "default":
	case "none":
		attrs["force-network-mode"] = "none"
	case "host":
		attrs["force-network-mode"] = "host"
		allow = append(allow, string(entitlements.EntitlementNetworkHost))
	default:
		return nil, fmt.Errorf("network mode %q not supported: use default, none or host", opts.NetworkMode)
	}
	if len(opts.ExtraHosts) > 0 {
		attrs["add-hosts"] = strings.Join(opts.ExtraHosts, ",")
	}
	allow = append(allow, opts.Allow...)

	var sharedKey string
	if opts.ContextDir != "" {
		if abs, err := filepath.Abs(opts.ContextDir); err == nil {
			sharedKey = abs
		}
	}
	return &client.SolveOpt{
		Exports:             opts.Exports,
		CacheImports:        opts.CacheImports,
		CacheExports:        opts.CacheExports,
		LocalMounts:         mounts,
		SharedKey:           sharedKey,
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		Session:             sess,
		AllowedEntitlements: allow,
		Internal:            opts.NoHistory,
	}, nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
