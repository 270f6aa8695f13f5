package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	mobyclient "github.com/moby/moby/client"
)

// setExports turns -o, --push, --load and -t into exporter entries. With no
// output at all the image goes to the Docker engine when one answers, else
// it stays in the build cache and the user is told so.
func (r *request) setExports(ctx context.Context, dockerCLI command.Cli, engine *engineProbe, outs []output) error {
	o := r.raw
	name := strings.Join(o.tags, ",")
	if o.push {
		if len(o.tags) == 0 {
			return usageErr("--push needs at least one -t/--tag naming the image to push")
		}
		outs = append(outs, output{Type: "registry", Attrs: map[string]string{}})
	}
	if o.load {
		outs = append(outs, output{Type: "docker", Attrs: map[string]string{}})
	}
	stdoutUsed := false
	for _, out := range outs {
		if err := r.addExport(ctx, dockerCLI, engine, out, name, &stdoutUsed); err != nil {
			return err
		}
	}
	if len(outs) == 0 {
		if load, err := newEngineLoad(ctx, dockerCLI, engine); err == nil {
			if err := r.checkLoadable(dockerCLI); err != nil {
				return err
			}
			r.loaded = load
			attrs := map[string]string{}
			if name != "" {
				attrs["name"] = name
			}
			r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterDocker, Attrs: attrs, Output: load.writer})
			return nil
		}
		// No store to name the image in: the image exporter still computes
		// the image ID for -q and --iidfile.
		r.cacheOnly = true
		r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{}})
	}
	return nil
}

// addExport adds the exporter entry for one output.
func (r *request) addExport(ctx context.Context, dockerCLI command.Cli, engine *engineProbe, out output, name string, stdoutUsed *bool) error {
	attrs := out.Attrs
	switch out.Type {
	case "image", "registry", "docker", "oci":
		if attrs["name"] == "" && name != "" {
			attrs["name"] = name
		}
	}
	switch out.Type {
	case "cacheonly":
		return nil
	case "local":
		dest := attrs["dest"]
		delete(attrs, "dest")
		r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterLocal, Attrs: attrs, OutputDir: dest})
	case "registry":
		attrs["push"] = "true"
		if attrs["name"] == "" {
			return usageErr("--output type=registry needs name=REF or -t/--tag")
		}
		r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterImage, Attrs: attrs})
	case "image":
		if attrs["push"] != "true" {
			return usageErr("--output type=image without push=true has nowhere to store the image (the embedded builder has no image store): use push=true, --load, or type=oci|docker,dest=FILE")
		}
		r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterImage, Attrs: attrs})
	case "tar", "oci", "docker":
		dest := attrs["dest"]
		delete(attrs, "dest")
		if out.Type == "docker" && dest == "" {
			load, err := newEngineLoad(ctx, dockerCLI, engine)
			if err != nil {
				return err
			}
			if err := r.checkLoadable(dockerCLI); err != nil {
				return err
			}
			r.loaded = load
			r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: client.ExporterDocker, Attrs: attrs, Output: load.writer})
			return nil
		}
		if dest == "-" {
			if *stdoutUsed {
				return usageErr("--output: only one output can go to stdout (dest=-)")
			}
			*stdoutUsed = true
			if dockerCLI.Out().IsTerminal() {
				return usageErr("--output type=%s,dest=-: refusing to write a tar to the terminal: redirect stdout or give dest=FILE", out.Type)
			}
			w := dockerCLI.Out()
			r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: out.Type, Attrs: attrs, Output: func(map[string]string) (io.WriteCloser, error) {
				return nopWriteCloser{w}, nil
			}})
			return nil
		}
		tmp, err := r.tempOutput(out.Type, dest)
		if err != nil {
			return err
		}
		r.opts.Exports = append(r.opts.Exports, client.ExportEntry{Type: out.Type, Attrs: attrs, Output: func(map[string]string) (io.WriteCloser, error) {
			return os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0o644)
		}})
	}
	return nil
}

// checkLoadable refuses to load a multi-platform image: the engine's image
// store keeps one platform per tag, and BuildKit's docker exporter writes
// a single image.
func (r *request) checkLoadable(dockerCLI command.Cli) error {
	if len(r.opts.Platforms) < 2 {
		return nil
	}
	return fmt.Errorf("a multi-platform image (%s) cannot be loaded into the Docker engine at %s, which holds one platform per tag: push it (--push), write it as an OCI tarball (-o type=oci,dest=FILE), or build one --platform to load",
		strings.Join(r.opts.Platforms, ", "), dockerCLI.DockerEndpoint().Host)
}

// tempOutput creates the temporary file an exporter writes into; it is
// renamed to dest only when the build succeeds.
func (r *request) tempOutput(typ, dest string) (string, error) {
	dir := filepath.Dir(dest)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", usageErr("--output type=%s,dest=%s: directory %q does not exist", typ, dest, dir)
	}
	if st, err := os.Stat(dest); err == nil && st.IsDir() {
		return "", usageErr("--output type=%s,dest=%s: is a directory; type=%s writes a file", typ, dest, typ)
	}
	if isDeviceOrPipe(dest) {
		return dest, nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("--output type=%s,dest=%s: %w", typ, dest, err)
	}
	_ = f.Chmod(0o644)
	_ = f.Close()
	r.renames[f.Name()] = dest
	return f.Name(), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// engineLoad streams the docker exporter's tar into the engine's image load.
type engineLoad struct {
	api  mobyclient.APIClient
	ctx  context.Context
	done chan struct{}
	err  error
}

func newEngineLoad(ctx context.Context, dockerCLI command.Cli, engine *engineProbe) (*engineLoad, error) {
	if _, err := engine.ping(ctx); err != nil {
		return nil, fmt.Errorf("loading the image into Docker: no engine answers at %s: %w", dockerCLI.DockerEndpoint().Host, err)
	}
	return &engineLoad{api: dockerCLI.Client(), ctx: ctx, done: make(chan struct{})}, nil
}

func (l *engineLoad) writer(map[string]string) (io.WriteCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		defer close(l.done)
		res, err := l.api.ImageLoad(l.ctx, pr, mobyclient.ImageLoadWithQuiet(true))
		if err == nil {
			_, err = io.Copy(io.Discard, res)
			_ = res.Close()
		}
		if err != nil {
			l.err = fmt.Errorf("loading the image into Docker: %w", err)
			_ = pr.CloseWithError(err)
		}
	}()
	return pw, nil
}

func (l *engineLoad) wait() error {
	<-l.done
	return l.err
}
