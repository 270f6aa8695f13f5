package build

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/upload/uploadprovider"
	"github.com/moby/buildkit/util/entitlements"
	"github.com/tonistiigi/fsutil"
)

// NetworkModes are the values Options.NetworkMode takes.
var NetworkModes = []string{"default", "none", "host"}

// solveOpt turns opts into BuildKit's SolveOpt with exports; builtin
// ignores the Dockerfile's "# syntax=" directive; fail stops the build when
// a local context changes while it is sent.
func solveOpt(opts Options, exports []client.ExportEntry, builtin bool, fail func(error)) (*client.SolveOpt, error) {
	attrs := frontendAttrs(opts, builtin)
	runAttrs(opts, attrs)
	mounts, sess, err := inputs(opts, attrs, fail)
	if err != nil {
		return nil, err
	}
	stores, err := namedContexts(opts, attrs, mounts, fail)
	if err != nil {
		return nil, err
	}
	allow, err := network(opts, attrs)
	if err != nil {
		return nil, err
	}
	if exports, err = annotatedExports(opts, exports); err != nil {
		return nil, err
	}
	gitAttrs(opts, attrs, mounts)
	var sharedKey string
	if opts.ContextDir != "" {
		if abs, err := filepath.Abs(opts.ContextDir); err == nil {
			sharedKey = abs
		}
	}
	return &client.SolveOpt{
		Exports:             exports,
		CacheImports:        cacheEntries(opts.CacheImports),
		CacheExports:        cacheEntries(cacheExports(opts)),
		LocalMounts:         mounts,
		OCIStores:           stores,
		SharedKey:           sharedKey,
		Frontend:            "dockerfile.v0",
		FrontendAttrs:       attrs,
		Session:             sess,
		AllowedEntitlements: append(allow, opts.Allow...),
		Internal:            opts.NoHistory,
		Ref:                 opts.RecordRef,
	}, nil
}

// inputs are the build context and the Dockerfile: local mounts (watched
// while they are sent), an upload or a URL, named in attrs.
func inputs(opts Options, attrs map[string]string, fail func(error)) (map[string]fsutil.FS, []session.Attachable, error) {
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
			return nil, nil, fmt.Errorf("build context %q: %w", opts.ContextDir, err)
		}
		mounts["context"] = newGuardFS(fs, opts.ContextDir, "context", fail)
	default:
		return nil, nil, errors.New("no build context given")
	}
	if opts.DockerfileDir != "" {
		fs, err := fsutil.NewFS(opts.DockerfileDir)
		if err != nil {
			return nil, nil, fmt.Errorf("dockerfile directory %q: %w", opts.DockerfileDir, err)
		}
		mounts["dockerfile"] = newGuardFS(fs, opts.DockerfileDir, "dockerfile", fail)
		if opts.ContextTar != nil || opts.ContextURL != "" {
			attrs["dockerfilekey"] = "dockerfile"
		}
	}
	return mounts, sess, nil
}

// frontendAttrs are the Dockerfile frontend's options.
func frontendAttrs(opts Options, builtin bool) map[string]string {
	attrs := map[string]string{"filename": opts.DockerfileName}
	if attrs["filename"] == "" {
		attrs["filename"] = "Dockerfile"
	}
	if builtin {
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
	if len(opts.ExtraHosts) > 0 {
		attrs["add-hosts"] = strings.Join(opts.ExtraHosts, ",")
	}
	for _, k := range sortedKeys(opts.Attests) {
		attrs["attest:"+k] = opts.Attests[k]
	}
	return attrs
}

// gitAttrs records where the local context comes from in Git, as buildx:
// the source and revision, and each local mount's directory relative to
// the work tree's root.
func gitAttrs(opts Options, attrs map[string]string, mounts map[string]fsutil.FS) {
	g := opts.Git
	if g.Source != "" {
		attrs["vcs:source"] = g.Source
	}
	if g.Revision != "" {
		attrs["vcs:revision"] = g.Revision
	}
	if g.Root == "" {
		return
	}
	for key, dir := range map[string]string{"context": opts.ContextDir, "dockerfile": opts.DockerfileDir} {
		if _, ok := mounts[key]; !ok || dir == "" {
			continue
		}
		dir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		if dir, err = filepath.Abs(dir); err != nil {
			continue
		}
		if r, err := filepath.Rel(g.Root, dir); err == nil && !strings.HasPrefix(r, "..") {
			attrs["vcs:localdir:"+key] = r
		}
	}
}

// annotatedExports are exports with opts' annotations on those that make
// an image. An image of one platform has no index for index annotations:
// package plugin rejects them before, but a build split across nodes
// makes one such image per node.
func annotatedExports(opts Options, exports []client.ExportEntry) ([]client.ExportEntry, error) {
	as := opts.Annotations
	if p := singlePlatform(opts); p != "" {
		as = oneManifest(as, p)
		i := slices.IndexFunc(as, Annotation.NeedsIndex)
		if i >= 0 && slices.ContainsFunc(exports, makesImage) {
			return nil, fmt.Errorf("annotation %s: index annotations not supported for single platform export: the image of %s alone has no index (a build split across nodes makes one per node)", as[i].ExporterKey(), p)
		}
	}
	return withAnnotations(exports, as), nil
}

// runAttrs are the frontend's options for RUN steps' containers: /dev/shm
// size, rlimits, cgroup parent and cgroup limits, only those set.
func runAttrs(opts Options, attrs map[string]string) {
	if opts.ShmSize > 0 {
		attrs["shm-size"] = strconv.FormatInt(opts.ShmSize, 10)
	}
	if len(opts.Ulimits) > 0 {
		ulimits := make([]string, 0, len(opts.Ulimits))
		for _, u := range opts.Ulimits {
			ulimits = append(ulimits, u.String())
		}
		attrs["ulimit"] = strings.Join(ulimits, ",")
	}
	if opts.CgroupParent != "" {
		attrs["cgroup-parent"] = opts.CgroupParent
	}
	resourceAttrs(opts.Resources, attrs)
}

// resourceAttrs sets the cgroup limits of r, by the names BuildKit's
// Dockerfile frontend reads; as buildx, it sends only the limits set.
func resourceAttrs(r ResourceLimits, attrs map[string]string) {
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"memory", r.Memory}, {"memswap", r.MemorySwap}, {"cpushares", r.CPUShares}, {"cpuperiod", r.CPUPeriod}, {"cpuquota", r.CPUQuota},
	} {
		if n.v != 0 {
			attrs[n.key] = strconv.FormatInt(n.v, 10)
		}
	}
	if r.CPUSetCPUs != "" {
		attrs["cpusetcpus"] = r.CPUSetCPUs
	}
	if r.CPUSetMems != "" {
		attrs["cpusetmems"] = r.CPUSetMems
	}
}

// cacheExports are --cache-to's exports and, as buildx adds it, an inline
// cache when the build arg BUILDKIT_INLINE_CACHE is true.
func cacheExports(opts Options) []CacheSpec {
	out := opts.CacheExports
	if on, _ := strconv.ParseBool(opts.BuildArgs["BUILDKIT_INLINE_CACHE"]); !on {
		return out
	}
	if slices.ContainsFunc(out, func(c CacheSpec) bool { return c.Type == "inline" }) {
		return out
	}
	return append(slices.Clone(out), CacheSpec{Type: "inline", Attrs: map[string]string{}})
}

// network sets the RUN steps' network mode in attrs and returns the
// entitlement it needs.
func network(opts Options, attrs map[string]string) ([]string, error) {
	switch opts.NetworkMode {
	case "", "default":
		return nil, nil
	case "none":
		attrs["force-network-mode"] = "none"
		return nil, nil
	case "host":
		attrs["force-network-mode"] = "host"
		return []string{string(entitlements.EntitlementNetworkHost)}, nil
	}
	return nil, fmt.Errorf("network mode %q is not supported: use %s", opts.NetworkMode, strings.Join(NetworkModes, ", "))
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func cacheEntries(specs []CacheSpec) []client.CacheOptionsEntry {
	out := make([]client.CacheOptionsEntry, 0, len(specs))
	for _, c := range specs {
		out = append(out, client.CacheOptionsEntry{Type: c.Type, Attrs: c.Attrs})
	}
	return out
}
