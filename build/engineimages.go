package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/images/archive"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// engineImages makes the images a Dockerfile's FROM names that neither
// the embedded builder's image store nor a named context has, but the
// Docker engine has, usable in the build, as on the engine's own builder:
// each is exported from the engine into a temporary OCI layout and given
// to the build as the named context of that name. The registry is asked
// for the rest, and for all with --pull. cleanup removes the layouts.
func engineImages(ctx context.Context, s *embedded.Solver, opts Options, status chan<- *client.SolveStatus) (_ Options, cleanup func(), _ error) {
	cleanup = func() {}
	if opts.Engine == nil || opts.Pull {
		return opts, cleanup, nil
	}
	refs := baseImages(opts)
	if len(refs) == 0 || opts.Engine.Available(ctx) != nil {
		return opts, cleanup, nil
	}
	kept := map[string]bool{}
	if list, err := s.Images(ctx); err == nil {
		for _, img := range list {
			kept[img.Name] = true
		}
	}
	var dirs []string
	cleanup = func() {
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	for name, full := range refs {
		if kept[full] {
			continue
		}
		dir, dgst, err := fromEngine(ctx, opts.Engine, name, status)
		if err != nil {
			cleanup()
			return opts, func() {}, err
		}
		if dir == "" {
			continue
		}
		dirs = append(dirs, dir)
		contexts := maps.Clone(opts.Contexts)
		if contexts == nil {
			contexts = map[string]NamedContext{}
		}
		contexts[name] = NamedContext{Kind: ContextOCILayout, Value: dir, Ref: dgst}
		opts.Contexts = contexts
	}
	return opts, cleanup, nil
}

// fromEngine exports the engine's image name into a new OCI layout; dir
// is empty when the engine has no such image.
func fromEngine(ctx context.Context, engine ImageLoader, name string, status chan<- *client.SolveStatus) (dir, dgst string, _ error) {
	rc, ok, err := engine.Image(ctx, name)
	if err != nil || !ok {
		return "", "", err
	}
	defer func() { _ = rc.Close() }()
	done := step(status, "loading "+name+" from the Docker engine")
	dir, err = os.MkdirTemp("", "docker-build2-engine-image-")
	if err == nil {
		err = importArchive(ctx, dir, rc, &dgst)
	}
	done(err)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("loading %s from the Docker engine: %w", name, err)
	}
	return dir, dgst, nil
}

// importArchive imports a docker save (or OCI layout) tarball into a
// content store at dir, and sets dgst to its index's digest.
func importArchive(ctx context.Context, dir string, r io.Reader, dgst *string) error {
	store, err := contentlocal.NewStore(dir)
	if err != nil {
		return err
	}
	desc, err := archive.ImportIndex(ctx, store, r)
	if err != nil {
		return err
	}
	*dgst = desc.Digest.String()
	return nil
}

// baseImages are the images the Dockerfile's stages start FROM, by the
// name a named context takes (base, example.com/app:1) and their full
// name (docker.io/library/base:latest), leaving out scratch, stages,
// names with build args, and those a named context replaces.
func baseImages(opts Options) map[string]string {
	if opts.DockerfileDir == "" {
		return nil
	}
	name := opts.DockerfileName
	if name == "" {
		name = "Dockerfile"
	}
	dt, err := os.ReadFile(filepath.Join(opts.DockerfileDir, name))
	if err != nil {
		return nil
	}
	res, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for _, st := range stages {
		base := st.BaseName
		if base != "scratch" && !seen[strings.ToLower(base)] && !strings.Contains(base, "$") {
			if named, err := reference.ParseNormalizedNamed(base); err == nil {
				short := strings.TrimSuffix(reference.FamiliarString(named), ":latest")
				if _, replaced := opts.Contexts[short]; !replaced {
					out[short] = reference.TagNameOnly(named).String()
				}
			}
		}
		if st.Name != "" {
			seen[strings.ToLower(st.Name)] = true
		}
	}
	return out
}
