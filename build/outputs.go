package build

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/distribution/reference"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/internal/atomicfile"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	exporterImageDigest  = exptypes.ExporterImageDigestKey
	exporterConfigDigest = exptypes.ExporterImageConfigDigestKey
)

// NoticeCacheOnly is the status a build with no output and no engine gets.
const NoticeCacheOnly = "WARNING: No output specified and no Docker engine reachable to load the image into. Build result will only remain in the build cache. To push result image into registry use --push, to write it to disk use -o/--output"

// outputs are the exporter entries of a build and what must happen to them
// around the solve: files are written to temporary names and renamed into
// place only when the build succeeds, so a failed build leaves nothing
// half-written; engine loads are waited for.
type outputs struct {
	exports   []client.ExportEntry
	files     []*atomicfile.File
	cacheOnly bool

	mu    sync.Mutex     // the exporter opens writers on its own goroutine
	loads []func() error // one per engine load started
}

// newOutputs turns opts.Outputs (with the no-output default) into exporter
// entries, creating the temporary files they write.
func newOutputs(ctx context.Context, opts Options) (_ *outputs, retErr error) {
	o := &outputs{}
	defer func() {
		if retErr != nil {
			o.discard()
		}
	}()
	outs := opts.Outputs
	if len(outs) == 0 {
		if opts.Engine == nil || opts.Engine.Available(ctx) != nil {
			// No store to name the image in: the image exporter still
			// computes the image ID for -q and the image ID file.
			o.cacheOnly = true
			o.exports = append(o.exports, client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{}})
			return o, nil
		}
		outs = []Output{{Type: client.ExporterDocker}}
	}
	name := strings.Join(opts.Tags, ",")
	for _, out := range outs {
		if err := o.add(ctx, opts, out, name); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *outputs) add(ctx context.Context, opts Options, out Output, name string) error {
	attrs := maps.Clone(out.Attrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	switch out.Type {
	case "image", "registry", "docker", "oci":
		if attrs["name"] == "" && name != "" {
			attrs["name"] = name
		}
		if out.Type == "image" && attrs["push"] != "true" && attrs["name"] != "" {
			attrs["name"] = normalizeNames(attrs["name"])
		}
	}
	switch out.Type {
	case "cacheonly":
	case client.ExporterLocal:
		o.exports = append(o.exports, client.ExportEntry{Type: client.ExporterLocal, Attrs: attrs, OutputDir: out.Dest})
	case "registry":
		attrs["push"] = "true"
		o.exports = append(o.exports, client.ExportEntry{Type: client.ExporterImage, Attrs: attrs})
	case client.ExporterImage:
		o.exports = append(o.exports, client.ExportEntry{Type: client.ExporterImage, Attrs: attrs})
	case client.ExporterDocker, client.ExporterOCI:
		if attrs["tar"] == "false" {
			// An OCI layout directory, not a tarball.
			o.exports = append(o.exports, client.ExportEntry{Type: out.Type, Attrs: attrs, OutputDir: out.Dest})
			return nil
		}
		fallthrough
	case client.ExporterTar:
		w, err := o.writer(ctx, opts, out)
		if err != nil {
			return err
		}
		o.exports = append(o.exports, client.ExportEntry{Type: out.Type, Attrs: attrs, Output: w})
	default:
		return fmt.Errorf("output type %q is not one docker-build2 knows", out.Type)
	}
	return nil
}

// writer opens where a tarball output goes: the Docker engine, stdout, or
// a file.
func (o *outputs) writer(ctx context.Context, opts Options, out Output) (func(map[string]string) (io.WriteCloser, error), error) {
	switch {
	case out.Type == client.ExporterDocker && out.Dest == "":
		if opts.Engine == nil {
			return nil, fmt.Errorf("loading the image into Docker: no Docker engine is configured")
		}
		if err := opts.Engine.Available(ctx); err != nil {
			return nil, fmt.Errorf("loading the image into Docker: no engine answers at %s: %w", opts.Engine.Endpoint(), err)
		}
		if len(opts.Platforms) > 1 {
			return nil, fmt.Errorf("a multi-platform image (%s) cannot be loaded into the Docker engine at %s, which holds one platform per tag: push it (--push), write it as an OCI tarball (-o type=oci,dest=FILE), or build one --platform to load",
				strings.Join(opts.Platforms, ", "), opts.Engine.Endpoint())
		}
		return func(map[string]string) (io.WriteCloser, error) {
			w, wait, err := opts.Engine.Load(ctx)
			if err == nil {
				o.mu.Lock()
				o.loads = append(o.loads, wait)
				o.mu.Unlock()
			}
			return w, err
		}, nil
	case out.Dest == "-":
		stdout := opts.Stdout
		return func(map[string]string) (io.WriteCloser, error) { return nopWriteCloser{stdout}, nil }, nil
	case atomicfile.Special(out.Dest):
		dest := out.Dest
		return func(map[string]string) (io.WriteCloser, error) { return os.OpenFile(dest, os.O_WRONLY, 0) }, nil
	}
	f, err := atomicfile.Create(out.Dest, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output type=%s,dest=%s: %w", out.Type, out.Dest, err)
	}
	_ = f.Close()
	o.files = append(o.files, f)
	tmp := f.Name()
	return func(map[string]string) (io.WriteCloser, error) { return os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0) }, nil
}

// finish waits for engine loads, shown as a step on status, and moves the
// files into place.
func (o *outputs) finish(status chan<- *client.SolveStatus) error {
	o.mu.Lock()
	loads := o.loads
	o.mu.Unlock()
	for _, wait := range loads {
		done := step(status, "loading the image into the Docker engine")
		err := wait()
		done(err)
		if err != nil {
			return err
		}
	}
	for len(o.files) > 0 {
		f := o.files[0]
		if err := f.Commit(); err != nil {
			return fmt.Errorf("output %s: %w", f.Dest(), err)
		}
		o.files = o.files[1:]
	}
	return nil
}

// discard removes the temporary files not committed.
func (o *outputs) discard() {
	for _, f := range o.files {
		f.Discard()
	}
	o.files = nil
}

// withAnnotations sets annotations as attributes of the exports that make
// an image (image, oci, docker), as buildx sets them; a later annotation
// of the same key wins.
func withAnnotations(exports []client.ExportEntry, annotations []Annotation) []client.ExportEntry {
	if len(annotations) == 0 {
		return exports
	}
	out := make([]client.ExportEntry, len(exports))
	for i, e := range exports {
		if makesImage(e) {
			e.Attrs = maps.Clone(e.Attrs)
			if e.Attrs == nil {
				e.Attrs = map[string]string{}
			}
			for _, a := range annotations {
				e.Attrs[a.ExporterKey()] = a.Value
			}
		}
		out[i] = e
	}
	return out
}

// makesImage reports whether e exports an image.
func makesImage(e client.ExportEntry) bool {
	switch e.Type {
	case client.ExporterImage, client.ExporterOCI, client.ExporterDocker:
		return true
	}
	return false
}

// oneManifest returns annotations as they apply to the image of the one
// platform p (normalized), which has no index: BuildKit applies only the
// annotations of no platform to its manifest, so those of p's manifest
// lose their platform, and those of another platform's are left out, as
// BuildKit leaves them out.
func oneManifest(annotations []Annotation, p string) []Annotation {
	out := make([]Annotation, 0, len(annotations))
	for _, a := range annotations {
		switch a.Platform {
		case "":
		case p:
			a.Platform = ""
		default:
			continue
		}
		out = append(out, a)
	}
	return out
}

// singlePlatform is the platform of a build that makes an image of one
// platform without an index, normalized; "" when the build makes an index
// or its platform is the builder's.
func singlePlatform(opts Options) string {
	if multi, _ := strconv.ParseBool(opts.BuildArgs["BUILDKIT_MULTI_PLATFORM"]); multi || len(opts.Platforms) != 1 {
		return ""
	}
	return normalPlatform(opts.Platforms[0])
}

// normalPlatform is p as annotations name it (platforms.FormatAll of the
// normalized platform), p itself when it does not parse.
func normalPlatform(p string) string {
	pl, err := platforms.Parse(p)
	if err != nil {
		return p
	}
	return platforms.FormatAll(platforms.Normalize(pl))
}

// withBuilderPlatform returns opts with the annotations of the image of
// the builder's default platform, when opts names no platform and has
// annotations of a platform's manifest.
func withBuilderPlatform(ctx context.Context, s interface {
	Platforms(context.Context) ([]ocispecs.Platform, error)
}, opts Options,
) (Options, error) {
	if multi, _ := strconv.ParseBool(opts.BuildArgs["BUILDKIT_MULTI_PLATFORM"]); multi || len(opts.Platforms) > 0 ||
		!slices.ContainsFunc(opts.Annotations, func(a Annotation) bool { return a.Platform != "" }) {
		return opts, nil
	}
	have, err := s.Platforms(ctx)
	if err != nil || len(have) == 0 {
		return opts, err
	}
	opts.Annotations = oneManifest(opts.Annotations, platforms.FormatAll(platforms.Normalize(have[0])))
	return opts, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// writeResultFiles writes the image ID and metadata files of a build. The
// image ID file is written whenever it is asked for, as buildx writes it:
// empty when the build made no image (a local or tar output).
func writeResultFiles(opts Options, res *Result) error {
	if opts.IIDFile != "" {
		if err := atomicfile.Write(opts.IIDFile, []byte(res.ImageID()), 0o644); err != nil {
			return fmt.Errorf("writing the image ID to %s: %w", opts.IIDFile, err)
		}
	}
	if opts.MetadataFile != "" {
		dt, err := json.MarshalIndent(Metadata(res.ExporterResponse), "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(opts.MetadataFile, dt, 0o644); err != nil {
			return fmt.Errorf("writing the build metadata to %s: %w", opts.MetadataFile, err)
		}
	}
	return nil
}

// AddMetadata sets key to v in the metadata file at path that a Run or
// RunAll wrote (buildx.build.warnings, known once the display is done).
func AddMetadata(path, key string, v any) error {
	dt, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(dt, &m); err != nil {
		return fmt.Errorf("reading the build metadata in %s: %w", path, err)
	}
	m[key] = v
	if dt, err = json.MarshalIndent(m, "", "  "); err != nil {
		return err
	}
	if err := atomicfile.Write(path, dt, 0o644); err != nil {
		return fmt.Errorf("writing the build metadata to %s: %w", path, err)
	}
	return nil
}

// Metadata is the exporter response as buildx writes it to a metadata file:
// base64-encoded JSON objects and arrays (such as containerimage.descriptor)
// decoded, every other value as it is.
func Metadata(resp map[string]string) map[string]any {
	out := make(map[string]any, len(resp))
	for k, v := range resp {
		dt, err := base64.StdEncoding.DecodeString(v)
		if trimmed := bytes.TrimSpace(dt); err == nil && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
			out[k] = json.RawMessage(trimmed)
			continue
		}
		out[k] = v
	}
	return out
}

// normalizeNames spells each of the comma-separated image names in full
// (docker.io/library/base:latest for base), as the image store must keep
// them for FROM to find them; a name that does not parse is left to the
// exporter to refuse.
func normalizeNames(names string) string {
	out := strings.Split(names, ",")
	for i, n := range out {
		if named, err := reference.ParseNormalizedNamed(strings.TrimSpace(n)); err == nil {
			out[i] = reference.TagNameOnly(named).String()
		}
	}
	return strings.Join(out, ",")
}
