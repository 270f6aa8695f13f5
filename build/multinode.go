package build

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build/imageindex"
	"github.com/docker-build2/docker-build2/build/imagetools"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/build/remote"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// run builds each platform on its node at the same time and merges the
// results into one image index: pushed (a registry output), or written as
// one OCI tarball (an oci output).
func (f *fleet) run(ctx context.Context, opts Options, status chan<- *client.SolveStatus) (*Result, error) {
	if opts.Call != "" {
		return f.call(ctx, opts, status)
	}
	push, oci, err := f.splitOutputs(opts)
	if err != nil {
		return nil, err
	}
	var repos []string
	if push != "" {
		if repos, err = repositories(push); err != nil {
			return nil, err
		}
	}
	parts, err := f.connect(ctx, status)
	defer func() {
		for _, p := range parts {
			p.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	builtin := useBuiltinFrontend(ctx, parts[0].s.Client(), opts, status)
	eg, egCtx := errgroup.WithContext(ctx)
	for i := range parts {
		eg.Go(func() error { return parts[i].solve(egCtx, opts, repos, oci != nil, builtin, status) })
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	resp := map[string]string{}
	for _, p := range parts {
		maps.Copy(resp, p.provenance)
	}
	if push != "" {
		dgst, err := f.pushIndex(ctx, push, parts)
		if err != nil {
			return nil, err
		}
		resp[exptypes.ExporterImageDigestKey] = dgst.String()
		resp["image.name"] = push
	}
	if oci != nil {
		if err := writeMerged(ctx, opts, *oci, parts); err != nil {
			return nil, err
		}
	}
	return &Result{ExporterResponse: resp}, nil
}

// connect reaches the node of each part of the plan and checks that it
// runs the part's platform.
func (f *fleet) connect(ctx context.Context, status chan<- *client.SolveStatus) ([]nodeSolve, error) {
	parts := make([]nodeSolve, 0, len(f.plan))
	for _, p := range f.plan {
		notice(status, fmt.Sprintf("building %s on node %s (%s)", p.Platform, p.Node.Name, p.Node.Endpoint))
		c, err := remote.Connect(ctx, p.Node.Remote())
		if err != nil {
			return parts, fmt.Errorf("node %s: %w", p.Node.Name, err)
		}
		parts = append(parts, nodeSolve{Part: p, s: daemon{c}})
		if err := checkPlatforms(ctx, daemon{c}, []string{p.Platform}); err != nil {
			return parts, fmt.Errorf("node %s: %w", p.Node.Name, err)
		}
	}
	return parts, nil
}

// pushIndex pushes the index of the parts' images under each name.
func (f *fleet) pushIndex(ctx context.Context, names string, parts []nodeSolve) (digest.Digest, error) {
	var refs []reference.Named
	for _, n := range strings.Split(names, ",") {
		ref, err := imagetools.ParseRef(strings.TrimSpace(n))
		if err != nil {
			return "", fmt.Errorf("image name %q: %w", strings.TrimSpace(n), err)
		}
		refs = append(refs, ref)
	}
	r := imagetools.New(f.hosts, nil)
	var descs []ocispecs.Descriptor
	for _, p := range parts {
		if !images.IsIndexType(p.desc.MediaType) {
			descs = append(descs, p.desc)
			continue
		}
		// A platform with attestations is pushed as an index of its own:
		// the merged index lists its manifests.
		dt, err := r.Fetch(ctx, refs[0], p.desc)
		if err != nil {
			return "", fmt.Errorf("pushing %s: reading %s: %w", strings.TrimSpace(strings.Split(names, ",")[0]), p.desc.Digest, err)
		}
		ms, err := imageindex.Manifests(dt, *p.desc.Platform)
		if err != nil {
			return "", err
		}
		descs = append(descs, ms...)
	}
	idx, err := imageindex.Index(descs)
	if err != nil {
		return "", err
	}
	desc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageIndex, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
	for _, ref := range refs {
		if err := r.PushManifest(ctx, ref, desc, idx); err != nil {
			return "", fmt.Errorf("pushing %s: %w", ref, err)
		}
	}
	return desc.Digest, nil
}

// splitOutputs finds the outputs a split build can merge: the image name
// to push, and an OCI tarball.
func (f *fleet) splitOutputs(opts Options) (push string, oci *Output, _ error) {
	for _, out := range opts.Outputs {
		switch {
		case out.Type == "registry" || (out.Type == client.ExporterImage && out.Attrs["push"] == "true"):
			push = out.Attrs["name"]
			if push == "" {
				push = strings.Join(opts.Tags, ",")
			}
		case out.Type == client.ExporterOCI && out.Dest != "":
			oci = &out
		default:
			return "", nil, fmt.Errorf("builder %q: a build split across nodes can be pushed (--push) or written as an OCI tarball (-o type=oci,dest=FILE), not exported as %s", f.name, out.Type)
		}
	}
	if push == "" && oci == nil {
		return "", nil, fmt.Errorf("builder %q: a build split across nodes needs an output: push it (--push) or write an OCI tarball (-o type=oci,dest=FILE)", f.name)
	}
	return push, oci, nil
}

// repositories lists the repositories of the image names, once each: every
// node pushes its image there by digest.
func repositories(names string) ([]string, error) {
	var repos []string
	seen := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		named, err := reference.ParseNormalizedNamed(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("image name %q: %w", n, err)
		}
		if repo := reference.TrimNamed(named).String(); !seen[repo] {
			seen[repo] = true
			repos = append(repos, repo)
		}
	}
	return repos, nil
}

// nodeSolve is one part of a split build, and what its solve left: the
// pushed image's descriptor or the OCI tarball it wrote.
type nodeSolve struct {
	nodes.Part
	s       solver
	desc    ocispecs.Descriptor
	tarFile string
	// provenance is the part's provenance for the metadata file.
	provenance map[string]string
}

func (n *nodeSolve) close() {
	if n.s != nil {
		_ = n.s.Close()
	}
	if n.tarFile != "" {
		_ = os.Remove(n.tarFile)
	}
}

// solve builds the part's platform on its node: pushed by digest to repos,
// and or written to an OCI tarball of its own.
func (n *nodeSolve) solve(ctx context.Context, opts Options, repos []string, toOCI, builtin bool, status chan<- *client.SolveStatus) error {
	opts.Platforms = []string{n.Platform}
	if toOCI && len(opts.Attests) > 0 {
		// A platform's attestations need an index of its own in its OCI
		// tarball, as they have when pushed; the merge flattens it.
		opts.BuildArgs = maps.Clone(opts.BuildArgs)
		if opts.BuildArgs == nil {
			opts.BuildArgs = map[string]string{}
		}
		opts.BuildArgs["BUILDKIT_MULTI_PLATFORM"] = "1"
	}
	var exports []client.ExportEntry
	if len(repos) > 0 {
		exports = append(exports, client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{
			"name": strings.Join(repos, ","), "push": "true", "push-by-digest": "true",
		}})
	}
	if toOCI {
		f, err := os.CreateTemp("", "docker-build2-node-*.tar")
		if err != nil {
			return err
		}
		_ = f.Close()
		n.tarFile = f.Name()
		exports = append(exports, client.ExportEntry{Type: client.ExporterOCI, Output: func(map[string]string) (io.WriteCloser, error) {
			return os.OpenFile(n.tarFile, os.O_WRONLY|os.O_TRUNC, 0o600)
		}})
	}
	ch, done := prefixed(status, n.Platform)
	resp, err := solve(ctx, n.s, opts, exports, builtin, ch)
	done()
	if err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Node.Name, n.Platform, err)
	}
	if n.provenance, err = provenance(ctx, n.s, opts, n.Platform); err != nil {
		return fmt.Errorf("node %s (%s): %w", n.Node.Name, n.Platform, err)
	}
	if len(repos) > 0 {
		d, err := decodeDescriptor(resp.ExporterResponse[exptypes.ExporterImageDescriptorKey])
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Node.Name, err)
		}
		p, err := parsePlatform(n.Platform)
		if err != nil {
			return err
		}
		d.Platform = &p
		n.desc = d
	}
	return nil
}

// writeMerged writes the parts' OCI tarballs as one, to out.
func writeMerged(ctx context.Context, opts Options, out Output, parts []nodeSolve) error {
	outs, err := newOutputs(ctx, Options{Outputs: []Output{out}, Stdout: opts.Stdout})
	if err != nil {
		return err
	}
	defer outs.discard()
	w, err := outs.exports[0].Output(nil)
	if err != nil {
		return err
	}
	layouts := make([]imageindex.Layout, len(parts))
	for i, p := range parts {
		pl, err := parsePlatform(p.Platform)
		if err != nil {
			_ = w.Close()
			return err
		}
		layouts[i] = imageindex.Layout{File: p.tarFile, Platform: pl}
	}
	if err := imageindex.MergeOCI(w, layouts); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return outs.finish(nil)
}

func decodeDescriptor(s string) (ocispecs.Descriptor, error) {
	var d ocispecs.Descriptor
	dt, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return d, fmt.Errorf("reading the pushed image's descriptor: %w", err)
	}
	if err := json.Unmarshal(dt, &d); err != nil {
		return d, fmt.Errorf("reading the pushed image's descriptor: %w", err)
	}
	if d.Digest == "" {
		return d, errors.New("the node reported no image descriptor")
	}
	return d, nil
}

// prefixed returns a channel whose statuses reach out with their steps
// named after platform, as BuildKit names the steps of a multi-platform
// build ("[linux/arm64 2/3] RUN …"), and told apart from the other nodes'
// steps of the same name; done waits until all were passed on.
func prefixed(out chan<- *client.SolveStatus, platform string) (_ chan<- *client.SolveStatus, done func()) {
	return relay(out, func(st *client.SolveStatus) *client.SolveStatus { return withPlatform(st, platform) })
}

// relay returns a channel whose statuses reach out through fn (out nil
// drops them); done waits until all were passed on.
func relay(out chan<- *client.SolveStatus, fn func(*client.SolveStatus) *client.SolveStatus) (_ chan<- *client.SolveStatus, done func()) {
	in := make(chan *client.SolveStatus)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for st := range in {
			st = fn(st)
			if out != nil {
				out <- st
			}
		}
	}()
	return in, func() {
		close(in)
		<-finished
	}
}

func withPlatform(st *client.SolveStatus, platform string) *client.SolveStatus {
	d := func(dg digest.Digest) digest.Digest { return digest.FromString(platform + " " + dg.String()) }
	out := &client.SolveStatus{}
	for _, v := range st.Vertexes {
		c := *v
		c.Digest = d(v.Digest)
		c.Inputs = make([]digest.Digest, len(v.Inputs))
		for i, in := range v.Inputs {
			c.Inputs[i] = d(in)
		}
		if rest, ok := strings.CutPrefix(v.Name, "["); ok {
			c.Name = "[" + platform + " " + rest
		} else {
			c.Name = "[" + platform + "] " + v.Name
		}
		out.Vertexes = append(out.Vertexes, &c)
	}
	for _, s := range st.Statuses {
		c := *s
		c.Vertex = d(s.Vertex)
		out.Statuses = append(out.Statuses, &c)
	}
	for _, l := range st.Logs {
		c := *l
		c.Vertex = d(l.Vertex)
		out.Logs = append(out.Logs, &c)
	}
	for _, w := range st.Warnings {
		c := *w
		c.Vertex = d(w.Vertex)
		out.Warnings = append(out.Warnings, &c)
	}
	return out
}

// call asks the frontend's request on the first node: the answer does not
// depend on the platform.
func (f *fleet) call(ctx context.Context, opts Options, status chan<- *client.SolveStatus) (*Result, error) {
	var res *Result
	err := withClient(ctx, f, func(c *client.Client) error {
		var err error
		res, err = call(ctx, daemon{c}, opts, status)
		return err
	})
	return res, err
}
