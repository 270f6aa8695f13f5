package plugin

import (
	"slices"
	"strconv"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker/cli/cli/command"
)

// setRunOptions parses the flags of the RUN steps' containers: --shm-size,
// --ulimit, --cgroup-parent and the cgroup limits (--resource, and docker
// build's -m, --cpu-shares … before it).
func (r *request) setRunOptions() error {
	o, opts := r.raw, &r.opts
	var err error
	if opts.ShmSize, err = buildflags.ShmSize(o.shmSize); err != nil {
		return err
	}
	if opts.Ulimits, err = buildflags.Ulimits(o.ulimits); err != nil {
		return err
	}
	if opts.Resources, err = buildflags.Resources(o.legacyResources, o.resources); err != nil {
		return err
	}
	opts.CgroupParent = o.cgroupParent
	return nil
}

// setAnnotations parses --annotation and checks, once the outputs are
// known, that the image has what they annotate.
func (r *request) setAnnotations() error {
	as, err := buildflags.Annotations(r.raw.annotations)
	if err != nil || len(as) == 0 {
		return err
	}
	r.opts.Annotations = as
	if !makesImage(r.opts.Outputs) {
		return nil
	}
	multi, _ := strconv.ParseBool(r.opts.BuildArgs["BUILDKIT_MULTI_PLATFORM"])
	// An attested image pushed or kept is an index: its attestations are
	// manifests of their own (buildx's default provenance included).
	attested := len(r.opts.Attests) > 0 && slices.ContainsFunc(r.opts.Outputs, func(out build.Output) bool {
		return out.Type == "image" || out.Type == "registry"
	})
	return buildflags.CheckAnnotations(as, r.opts.Platforms, multi || len(r.opts.Platforms) > 1 || attested)
}

// makesImage reports whether outs export an image (no output is the
// engine or the build cache, an image too).
func makesImage(outs []build.Output) bool {
	return len(outs) == 0 || slices.ContainsFunc(outs, func(out build.Output) bool {
		switch out.Type {
		case "image", "registry", "oci", "docker":
			return true
		}
		return false
	})
}

// setDefaultArgs adds the build args that come from elsewhere unless a
// --build-arg names them: the proxies of the docker config file for the
// engine's host (HTTP_PROXY and http_proxy …, as the docker CLI adds them)
// and, as buildx adds it, $SOURCE_DATE_EPOCH. A proxy build arg given in
// either case keeps both cases of that proxy out, as buildx has it:
// BuildKit gives RUN steps one value for both.
func (r *request) setDefaultArgs(dockerCLI command.Cli) {
	args := r.opts.BuildArgs
	given := map[string]bool{}
	for _, s := range r.raw.buildArgs {
		k, _, _ := strings.Cut(s, "=")
		given[strings.ToLower(k)] = true
	}
	if !given["source_date_epoch"] && r.raw.sourceDateEpoch != "" {
		args["SOURCE_DATE_EPOCH"] = r.raw.sourceDateEpoch
	}
	for k, v := range dockerCLI.ConfigFile().ParseProxyConfig(dockerCLI.DockerEndpoint().Host, nil) {
		if !given[strings.ToLower(k)] && v != nil {
			args[k] = *v
		}
	}
}
