package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/docker-build2/docker-build2/build/usernet"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Run builds opts on b, the one way every kind of builder builds: it checks
// the platforms, falls back to the built-in Dockerfile frontend when the
// Dockerfile's "# syntax=" image cannot be had, solves (on each node of a
// builder of several, merging the results), writes the outputs (files
// only once the build succeeded) and the image ID and metadata files.
//
// Status updates, the solver's and Run's own steps, go to status, which
// Run does not close: the caller does, once it has closed b too.
func Run(ctx context.Context, b Builder, opts Options, status chan<- *client.SolveStatus) (*Result, error) {
	res, err := b.run(ctx, opts, status)
	if err != nil || opts.Call != "" {
		return res, err
	}
	if opts.RecordRef != "" {
		res.ExporterResponse = maps.Clone(res.ExporterResponse)
		if res.ExporterResponse == nil {
			res.ExporterResponse = map[string]string{}
		}
		res.ExporterResponse[MetadataBuildRef] = BuildRef(b, opts.RecordRef)
	}
	if err := writeResultFiles(opts, res); err != nil {
		return nil, err
	}
	return res, nil
}

// MetadataBuildRef is the metadata key of the build's reference.
const MetadataBuildRef = "buildx.build.ref"

// BuildRef is a build's reference as buildx spells it, BUILDER/NODE/REF:
// the default builder's node is "default", a named builder's first node
// NAME0.
func BuildRef(b Builder, ref string) string {
	node := b.Name()
	if node != "default" {
		node += "0"
	}
	return b.Name() + "/" + node + "/" + ref
}

func (b *single) run(ctx context.Context, opts Options, status chan<- *client.SolveStatus) (*Result, error) {
	if err := checkPlatforms(ctx, b.s, opts.Platforms); err != nil {
		return nil, err
	}
	if opts.Call != "" {
		return call(ctx, b.s, opts, status)
	}
	opts, err := withBuilderPlatform(ctx, b.s, opts)
	if err != nil {
		return nil, err
	}
	builtin := useBuiltinFrontend(ctx, b.s.Client(), opts, status)
	e, isEmbedded := b.s.(*embedded.Solver)
	if isEmbedded {
		opts = keepLocally(ctx, opts)
		var cleanup func()
		if opts, cleanup, err = engineImages(ctx, e, opts, status); err != nil {
			return nil, err
		}
		defer cleanup()
	}
	outs, err := newOutputs(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer outs.discard()
	if outs.cacheOnly {
		notice(status, NoticeCacheOnly)
	}
	if isEmbedded && hasCgroupLimits(opts) && embedded.NoStepCgroups() {
		notice(status, NoticeRootlessCgroups)
	}
	resp, err := solve(ctx, b.s, opts, outs.exports, builtin, status)
	if err != nil {
		return nil, err
	}
	if err := outs.finish(status); err != nil {
		return nil, err
	}
	meta, err := withProvenance(ctx, b.s, opts, resp.ExporterResponse, status)
	if err != nil {
		return nil, err
	}
	return &Result{ExporterResponse: meta}, nil
}

// withProvenance is resp with the build's provenance added when its
// metadata carries it (see provenance); an embedded builder that holds no
// record of the build says so on status.
func withProvenance(ctx context.Context, s solver, opts Options, resp map[string]string, status chan<- *client.SolveStatus) (map[string]string, error) {
	prov, err := provenance(ctx, s, opts, "")
	if err != nil {
		return nil, err
	}
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded && prov == nil && wantsProvenance(opts) {
		notice(status, NoticeNoProvenance)
	}
	if len(prov) == 0 {
		return resp, nil
	}
	resp = maps.Clone(resp)
	if resp == nil {
		resp = map[string]string{}
	}
	maps.Copy(resp, prov)
	return resp, nil
}

// NoticeNoProvenance is the status of a build on the embedded builder
// whose metadata file lacks its provenance: the build shared the solver
// of a process that started it without BuildKit's build history.
const NoticeNoProvenance = "WARNING: no buildx.build.provenance in the metadata file: this build shared the builder of another docker-build2 process, started without the build history that records it; build again, alone, for it"

// provenance is the metadata's provenance of the build of opts that s has
// just run, when the metadata carries it: read from s's build history,
// keyed by platform when given (a node's part of a split build). The
// embedded builder's record is deleted once read: it holds every step's
// output.
func provenance(ctx context.Context, s solver, opts Options, platform string) (map[string]string, error) {
	if !wantsProvenance(opts) || !recordsHistory(s, opts) {
		return nil, nil
	}
	prov, found, err := historyProvenance(ctx, s.Client(), opts.RecordRef, opts.MetadataProvenance)
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded && found {
		err = errors.Join(err, forgetHistory(context.WithoutCancel(ctx), s.Client(), opts.RecordRef))
	}
	if !found && err == nil {
		return nil, nil
	}
	if err != nil || platform == "" {
		return prov, err
	}
	out := map[string]string{}
	for k, v := range prov {
		if k == MetadataProvenanceKey {
			k += "/" + platform
		}
		out[k] = v
	}
	return out, nil
}

// recordsHistory reports whether a build of opts on s goes into the
// builder's build history. The embedded builder records only builds whose
// metadata file carries the provenance the history records; a remote one
// every build not kept out of it (NoHistory), as buildx.
func recordsHistory(s solver, opts Options) bool {
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded {
		return wantsProvenance(opts)
	}
	return !opts.NoHistory
}

// NoticeRootlessCgroups is the status of a build with cgroup limits on the
// embedded builder of a user who is not root, whose RUN steps have no
// cgroups of their own (rootless runc).
const NoticeRootlessCgroups = "WARNING: the rootless embedded builder runs RUN steps without cgroups of their own: the memory and CPU limits (--resource, -m, --cpu-*) and --cgroup-parent are not applied"

// hasCgroupLimits reports whether opts asks for cgroups of RUN steps.
func hasCgroupLimits(opts Options) bool {
	return opts.Resources != ResourceLimits{} || opts.CgroupParent != ""
}

// solve runs one solve on s, its status forwarded to status.
func solve(ctx context.Context, s solver, opts Options, exports []client.ExportEntry, builtin bool, status chan<- *client.SolveStatus) (*client.SolveResponse, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	so, err := solveOpt(opts, exports, builtin, cancel)
	if err != nil {
		return nil, err
	}
	so.Internal = !recordsHistory(s, opts)
	release, err := attachPolicy(ctx, s, opts, so, status)
	if err != nil {
		return nil, err
	}
	if _, isEmbedded := s.(*embedded.Solver); isEmbedded {
		if !so.Internal {
			ctx = embedded.RecordHistory(ctx)
		}
		if !opts.Pull {
			// FROM and COPY --from find the images built here first, as
			// on a Docker engine's builder; --pull asks the registry.
			so.FrontendAttrs["image-resolve-mode"] = "local"
		}
		if hosts, ok := so.FrontendAttrs["add-hosts"]; ok {
			so.FrontendAttrs["add-hosts"] = hostGateway(hosts, usernet.HostAddr())
		}
	}
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forward(ch, status)
	}()
	resp, err := s.Solve(ctx, *so, ch)
	<-done
	if release != nil {
		release(err)
	}
	if err != nil {
		var changed *ContextChangedError
		if errors.As(context.Cause(ctx), &changed) {
			return nil, changed
		}
		return nil, explainLoop(err, so.LocalMounts)
	}
	return resp, nil
}

// useBuiltinFrontend reports whether to build with the built-in Dockerfile
// frontend, saying so on status: when the Dockerfile's "# syntax=" names a
// stable docker/dockerfile image that the builder cannot resolve (no
// network, air-gapped), which the built-in frontend stands in for.
func useBuiltinFrontend(ctx context.Context, c *client.Client, opts Options, status chan<- *client.SolveStatus) bool {
	ref := opts.BuildArgs["BUILDKIT_SYNTAX"]
	if ref == "" && opts.DockerfileDir != "" {
		name := opts.DockerfileName
		if name == "" {
			name = "Dockerfile"
		}
		dt, err := os.ReadFile(filepath.Join(opts.DockerfileDir, name))
		if err != nil {
			return false
		}
		ref = Syntax(dt)
	}
	ref, _, _ = strings.Cut(strings.TrimSpace(ref), " ")
	if ref == "" || !BuiltinCovers(ref) {
		return false
	}
	err := resolveImage(ctx, c, ref, opts.Session)
	if err == nil {
		return false
	}
	notice(status, fmt.Sprintf("WARNING: cannot resolve the Dockerfile frontend %s: building with the built-in Dockerfile frontend of BuildKit %s instead (%v)", ref, BuildKitVersion(), err))
	return true
}

// checkPlatforms fails before the build starts when one of wanted is not
// among the platforms s runs.
func checkPlatforms(ctx context.Context, s interface {
	Platforms(context.Context) ([]ocispecs.Platform, error)
}, wanted []string,
) error {
	if len(wanted) == 0 {
		return nil
	}
	have, err := s.Platforms(ctx)
	if err != nil {
		return err
	}
	for _, p := range wanted {
		want, err := parsePlatform(p)
		if err != nil {
			return err
		}
		if !platforms.Any(have...).Match(want) {
			supported := make([]string, 0, len(have))
			for _, h := range have {
				supported = append(supported, platforms.Format(h))
			}
			return &UnsupportedPlatformError{Platform: platforms.Format(want), Supported: supported}
		}
	}
	return nil
}

func parsePlatform(p string) (ocispecs.Platform, error) {
	pl, err := platforms.Parse(p)
	if err != nil {
		return pl, fmt.Errorf("platform %q: %w", p, err)
	}
	return platforms.Normalize(pl), nil
}

// keepLocally has the embedded builder keep an image built with -t in its
// image store, where later builds' FROM find it: as an image output when
// no output names the image already. With no output at all the image also
// goes to the Docker engine when one answers.
func keepLocally(ctx context.Context, opts Options) Options {
	if len(opts.Tags) == 0 {
		return opts
	}
	outs := slices.Clone(opts.Outputs)
	for _, out := range outs {
		if out.Type == client.ExporterImage || out.Type == "registry" {
			return opts
		}
	}
	if len(outs) == 0 && opts.Engine != nil && opts.Engine.Available(ctx) == nil {
		outs = append(outs, Output{Type: client.ExporterDocker})
	}
	outs = append(outs, Output{Type: client.ExporterImage})
	opts.Outputs = outs
	return opts
}

// hostGateway resolves host-gateway in "host=ip" pairs to addr, the
// address the embedded builder's RUN steps reach the host by.
func hostGateway(hosts, addr string) string {
	pairs := strings.Split(hosts, ",")
	for i, p := range pairs {
		if host, ip, ok := strings.Cut(p, "="); ok && ip == "host-gateway" {
			pairs[i] = host + "=" + addr
		}
	}
	return strings.Join(pairs, ",")
}
