package plugin

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// nodeSolve is one part of a multi-node build: one platform on one node.
type nodeSolve struct {
	node     builderNode
	platform string
}

// planNodes gives each platform the first reachable node that serves it.
func planNodes(ctx context.Context, b *namedBuilder, wanted []string) ([]nodeSolve, error) {
	var plan []nodeSolve
	for _, p := range wanted {
		var tried []string
		found := false
		for _, n := range b.Nodes {
			if !servesAll(ctx, n, []string{p}) {
				continue
			}
			r, err := build.Connect(ctx, n.remoteConfig())
			if err != nil {
				tried = append(tried, fmt.Sprintf("node %s: %v", n.Name, err))
				continue
			}
			_ = r.Close()
			plan = append(plan, nodeSolve{node: n, platform: p})
			found = true
			break
		}
		if !found {
			if len(tried) > 0 {
				return nil, fmt.Errorf("builder %q: no reachable node serves %s (%s)", b.Name, p, strings.Join(tried, "; "))
			}
			return nil, fmt.Errorf("builder %q: no node serves %s", b.Name, p)
		}
	}
	return plan, nil
}

// multiNodeBuilder returns the named builder to split a multi-platform
// build across, or nil when the build runs on one solver.
func multiNodeBuilder(r remoteOptions, wanted []string) (*namedBuilder, error) {
	name := r.builder
	if name == "" {
		name = newBuilderStore().current()
	}
	if name == "" || name == "default" || strings.Contains(name, "://") || len(wanted) < 2 {
		return nil, nil
	}
	b, err := newBuilderStore().get(name)
	if err != nil {
		return nil, err
	}
	if len(b.Nodes) < 2 {
		return nil, nil
	}
	return b, nil
}

// runMultiNode builds each platform on its node at the same time and merges
// the results into one image index: pushed (--push / type=registry), or
// written as one OCI tarball (-o type=oci,dest=FILE).
func runMultiNode(ctx context.Context, dockerCLI command.Cli, req *request, b *namedBuilder) (*build.Result, error) {
	push, oci, err := splitOutputs(req, b)
	if err != nil {
		return nil, err
	}
	plan, err := planNodes(ctx, b, req.opts.Platforms)
	if err != nil {
		return nil, err
	}
	for _, s := range plan {
		fmt.Fprintf(dockerCLI.Err(), "building %s on node %s (%s)\n", s.platform, s.node.Name, s.node.Endpoint)
	}
	var repos []string
	if push != nil {
		if repos, err = pushRepos(push.Attrs["name"]); err != nil {
			return nil, err
		}
	}
	parts := make([]nodeResult, len(plan))
	defer func() {
		for _, p := range parts {
			if p.tarFile != "" {
				_ = os.Remove(p.tarFile)
			}
		}
	}()
	if err := solveOnNodes(ctx, dockerCLI, req, plan, repos, oci != nil, parts); err != nil {
		return nil, err
	}
	resp := map[string]string{}
	if push != nil {
		descs := make([]ocispecs.Descriptor, len(parts))
		for i, p := range parts {
			descs[i] = p.desc
		}
		idx, err := indexOf(descs)
		if err != nil {
			return nil, err
		}
		for _, tag := range strings.Split(push.Attrs["name"], ",") {
			if err := pushIndex(ctx, dockerCLI, strings.TrimSpace(tag), idx); err != nil {
				return nil, err
			}
		}
		resp[exptypes.ExporterImageDigestKey] = digest.FromBytes(idx).String()
		resp["image.name"] = push.Attrs["name"]
	}
	if oci != nil {
		if err := writeMergedOCI(oci, parts, plan); err != nil {
			return nil, err
		}
	}
	return &build.Result{ExporterResponse: resp}, nil
}

// splitOutputs finds the outputs a split build can merge.
func splitOutputs(req *request, b *namedBuilder) (push, oci *client.ExportEntry, _ error) {
	for i := range req.opts.Exports {
		e := &req.opts.Exports[i]
		switch {
		case e.Type == client.ExporterImage && e.Attrs["push"] == "true":
			push = e
		case e.Type == client.ExporterOCI && e.Output != nil:
			oci = e
		default:
			return nil, nil, fmt.Errorf("builder %q: a build split across nodes can be pushed (--push) or written as an OCI tarball (-o type=oci,dest=FILE), not exported as %s", b.Name, e.Type)
		}
	}
	return push, oci, nil
}

// pushRepos lists the repositories of the tags, once each: every node
// pushes its image there by digest.
func pushRepos(names string) ([]string, error) {
	var repos []string
	seen := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		named, err := reference.ParseNormalizedNamed(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("--tag %q: %w", n, err)
		}
		if repo := reference.TrimNamed(named).String(); !seen[repo] {
			seen[repo] = true
			repos = append(repos, repo)
		}
	}
	return repos, nil
}

// nodeResult is what one node's solve left: the pushed image's descriptor
// or the OCI tarball it wrote.
type nodeResult struct {
	desc    ocispecs.Descriptor
	tarFile string
}

// solveOnNodes runs every part of the plan at once, their progress merged
// into one display.
func solveOnNodes(ctx context.Context, dockerCLI command.Cli, req *request, plan []nodeSolve, repos []string, toOCI bool, parts []nodeResult) error {
	all := make(chan *client.SolveStatus)
	var displayErr error
	displayed := make(chan struct{})
	go func() {
		defer close(displayed)
		_, displayErr = progress.Display(context.WithoutCancel(ctx), dockerCLI.Err(), nil, req.progress, all)
	}()
	var fanIn sync.WaitGroup
	eg, egCtx := errgroup.WithContext(ctx)
	for i, s := range plan {
		ch := make(chan *client.SolveStatus)
		fanIn.Add(1)
		go func() {
			defer fanIn.Done()
			for st := range ch {
				all <- st
			}
		}()
		eg.Go(func() error {
			res, err := solveOnNode(egCtx, req, s, repos, toOCI, ch)
			parts[i] = res
			return err
		})
	}
	err := eg.Wait()
	fanIn.Wait()
	close(all)
	<-displayed
	if err != nil {
		return err
	}
	return displayErr
}

// solveOnNode builds one platform on one node; it closes ch.
func solveOnNode(ctx context.Context, req *request, s nodeSolve, repos []string, toOCI bool, ch chan *client.SolveStatus) (nodeResult, error) {
	var out nodeResult
	opts := req.opts
	opts.Platforms = []string{s.platform}
	opts.Exports = nil
	if len(repos) > 0 {
		opts.Exports = append(opts.Exports, client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{
			"name": strings.Join(repos, ","), "push": "true", "push-by-digest": "true",
		}})
	}
	if toOCI {
		f, err := os.CreateTemp("", "docker-build2-node-*.tar")
		if err != nil {
			close(ch)
			return out, err
		}
		_ = f.Close()
		out.tarFile = f.Name()
		opts.Exports = append(opts.Exports, client.ExportEntry{Type: client.ExporterOCI, Output: func(map[string]string) (io.WriteCloser, error) {
			return os.OpenFile(out.tarFile, os.O_WRONLY|os.O_TRUNC, 0o600)
		}})
	}
	r, err := build.Connect(ctx, s.node.remoteConfig())
	if err != nil {
		close(ch)
		return out, fmt.Errorf("node %s: %w", s.node.Name, err)
	}
	defer func() { _ = r.Close() }()
	res, err := build.Build(ctx, r, opts, ch)
	if err != nil {
		return out, fmt.Errorf("node %s (%s): %w", s.node.Name, s.platform, err)
	}
	if len(repos) > 0 {
		d, err := decodeDescriptor(res.ExporterResponse[exptypes.ExporterImageDescriptorKey])
		if err != nil {
			return out, fmt.Errorf("node %s: %w", s.node.Name, err)
		}
		p := platforms.Normalize(platforms.MustParse(s.platform))
		d.Platform = &p
		out.desc = d
	}
	return out, nil
}

func writeMergedOCI(oci *client.ExportEntry, parts []nodeResult, plan []nodeSolve) error {
	w, err := oci.Output(nil)
	if err != nil {
		return err
	}
	files := make([]string, len(parts))
	for i, p := range parts {
		files[i] = p.tarFile
	}
	if err := mergeOCI(w, files, plan); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
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

func indexOf(descs []ocispecs.Descriptor) ([]byte, error) {
	return json.Marshal(ocispecs.Index{
		Versioned: specsVersioned(),
		MediaType: ocispecs.MediaTypeImageIndex,
		Manifests: descs,
	})
}

// pushIndex pushes the merged index under tag, with the docker config's
// credentials; the manifests it lists are in the repository already.
func pushIndex(ctx context.Context, dockerCLI command.Cli, tag string, idx []byte) error {
	named, err := reference.ParseNormalizedNamed(tag)
	if err != nil {
		return fmt.Errorf("--tag %q: %w", tag, err)
	}
	named = reference.TagNameOnly(named)
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthCreds(func(host string) (string, string, error) {
		if host == "registry-1.docker.io" {
			host = "https://index.docker.io/v1/"
		}
		ac, err := dockerCLI.ConfigFile().GetAuthConfig(host)
		if err != nil {
			return "", "", err
		}
		if ac.IdentityToken != "" {
			return "", ac.IdentityToken, nil
		}
		return ac.Username, ac.Password, nil
	}))
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(
		docker.WithAuthorizer(authorizer), docker.WithPlainHTTP(docker.MatchLocalhost))})
	pusher, err := resolver.Pusher(ctx, named.String())
	if err != nil {
		return fmt.Errorf("pushing %s: %w", named, err)
	}
	desc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageIndex, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
	w, err := pusher.Push(ctx, desc)
	if cerrdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pushing %s: %w", named, err)
	}
	if _, err := w.Write(idx); err != nil {
		_ = w.Close()
		return fmt.Errorf("pushing %s: %w", named, err)
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil && !cerrdefs.IsAlreadyExists(err) {
		return fmt.Errorf("pushing %s: %w", named, err)
	}
	return nil
}

// mergeOCI writes one OCI layout tarball holding every per-platform layout:
// all blobs once, and an index listing each platform's manifest.
func mergeOCI(w io.Writer, files []string, plan []nodeSolve) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	var manifests []ocispecs.Descriptor
	for i, f := range files {
		if err := copyLayout(tw, f, seen, func(idx ocispecs.Index) {
			for _, d := range idx.Manifests {
				p := platforms.Normalize(platforms.MustParse(plan[i].platform))
				d.Platform = &p
				d.Annotations = nil
				manifests = append(manifests, d)
			}
		}); err != nil {
			return err
		}
	}
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	idx, err := indexOf(manifests)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		name string
		dt   []byte
	}{{"oci-layout", layout}, {"index.json", idx}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.dt)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.dt); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyLayout(tw *tar.Writer, file string, seen map[string]bool, onIndex func(ocispecs.Index)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading a node's OCI tarball: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "index.json":
			var idx ocispecs.Index
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return fmt.Errorf("reading a node's index.json: %w", err)
			}
			onIndex(idx)
		case name == "oci-layout" || seen[name]:
		default:
			seen[name] = true
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }
