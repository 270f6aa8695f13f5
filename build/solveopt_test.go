package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunAttrs: the RUN-step options reach the Dockerfile frontend by the
// attribute names and formats BuildKit's dockerui reads, only those set.
func TestRunAttrs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	so, err := solveOpt(Options{
		ContextDir: dir, ShmSize: 128 << 20, CgroupParent: "builds.slice",
		Ulimits: []Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: -1, Hard: -1}},
		Resources: ResourceLimits{
			Memory: 1 << 30, MemorySwap: -1, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000,
			CPUSetCPUs: "0-3", CPUSetMems: "0",
		},
	}, nil, false, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"filename": "Dockerfile", "shm-size": "134217728", "cgroup-parent": "builds.slice",
		"ulimit": "nofile=1024:2048,nproc=-1:-1", "memory": "1073741824", "memswap": "-1",
		"cpushares": "512", "cpuperiod": "100000", "cpuquota": "50000", "cpusetcpus": "0-3", "cpusetmems": "0",
	}, so.FrontendAttrs)

	so, err = solveOpt(Options{ContextDir: dir}, nil, false, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"filename": "Dockerfile"}, so.FrontendAttrs, "nothing set, nothing sent")
}

// TestInlineCacheBuildArg: BUILDKIT_INLINE_CACHE=1 adds an inline cache
// export as buildx adds it, once.
func TestInlineCacheBuildArg(t *testing.T) {
	t.Parallel()
	registry := CacheSpec{Type: "registry", Attrs: map[string]string{"ref": "r/a:cache"}}
	inline := client.CacheOptionsEntry{Type: "inline", Attrs: map[string]string{}}
	for _, tc := range []struct {
		name   string
		arg    string
		caches []CacheSpec
		want   []client.CacheOptionsEntry
	}{
		{"unset", "", nil, []client.CacheOptionsEntry{}},
		{"true", "1", nil, []client.CacheOptionsEntry{inline}},
		{"true, with others", "true", []CacheSpec{registry}, []client.CacheOptionsEntry{{Type: "registry", Attrs: registry.Attrs}, inline}},
		{"false", "0", nil, []client.CacheOptionsEntry{}},
		{"not a boolean", "yes please", nil, []client.CacheOptionsEntry{}},
		{"inline given already", "1", []CacheSpec{{Type: "inline", Attrs: map[string]string{}}}, []client.CacheOptionsEntry{inline}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := map[string]string{}
			if tc.arg != "" {
				args["BUILDKIT_INLINE_CACHE"] = tc.arg
			}
			so, err := solveOpt(Options{ContextDir: t.TempDir(), BuildArgs: args, CacheExports: tc.caches}, nil, false, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, so.CacheExports)
		})
	}
}

// TestAnnotationExporterKey: the attribute names are BuildKit's
// (exptypes.AnnotationKey).
func TestAnnotationExporterKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a    Annotation
		want string
	}{
		{Annotation{Key: "org.opencontainers.image.title"}, "annotation.org.opencontainers.image.title"},
		{Annotation{Type: AnnotationManifest, Key: "k"}, "annotation-manifest.k"},
		{Annotation{Type: AnnotationManifest, Platform: "linux/arm/v7", Key: "k"}, "annotation-manifest[linux/arm/v7].k"},
		{Annotation{Type: AnnotationManifestDescriptor, Platform: "linux/amd64", Key: "k"}, "annotation-manifest-descriptor[linux/amd64].k"},
		{Annotation{Type: AnnotationIndex, Key: "k"}, "annotation-index.k"},
		{Annotation{Type: AnnotationIndexDescriptor, Key: "k"}, "annotation-index-descriptor.k"},
	} {
		assert.Equal(t, tc.want, tc.a.ExporterKey())
	}
	assert.True(t, Annotation{Type: AnnotationIndexDescriptor}.NeedsIndex())
	assert.False(t, Annotation{Type: AnnotationManifestDescriptor}.NeedsIndex())
}

// TestSolveOptAnnotations: annotations go on the exports that make an
// image; on the image of one platform, that platform's manifest
// annotations lose the platform BuildKit would not apply there.
func TestSolveOptAnnotations(t *testing.T) {
	t.Parallel()
	as := []Annotation{
		{Key: "all", Value: "1"},
		{Type: AnnotationManifest, Platform: "linux/amd64", Key: "amd64", Value: "2"},
		{Type: AnnotationManifest, Platform: "linux/arm64", Key: "arm64", Value: "3"},
		{Type: AnnotationIndex, Key: "idx", Value: "4"},
	}
	exports := []client.ExportEntry{
		{Type: client.ExporterImage, Attrs: map[string]string{"name": "r/a"}},
		{Type: client.ExporterOCI},
		{Type: client.ExporterLocal, Attrs: map[string]string{}},
	}
	exports[1].Attrs = nil
	so, err := solveOpt(Options{ContextDir: t.TempDir(), Platforms: []string{"linux/amd64", "linux/arm64"}, Annotations: as}, exports, false, nil)
	require.NoError(t, err)
	index := map[string]string{
		"annotation.all": "1", "annotation-manifest[linux/amd64].amd64": "2", "annotation-manifest[linux/arm64].arm64": "3", "annotation-index.idx": "4",
	}
	assert.Equal(t, map[string]string{"name": "r/a", "annotation.all": "1", "annotation-manifest[linux/amd64].amd64": "2", "annotation-manifest[linux/arm64].arm64": "3", "annotation-index.idx": "4"}, so.Exports[0].Attrs)
	assert.Equal(t, index, so.Exports[1].Attrs)
	assert.Empty(t, so.Exports[2].Attrs, "a local output makes no image")
	assert.Equal(t, map[string]string{"name": "r/a"}, exports[0].Attrs, "the caller's exports are left alone")

	so, err = solveOpt(Options{ContextDir: t.TempDir(), Platforms: []string{"linux/x86_64"}, Annotations: as[:3]}, exports[:1], false, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"name": "r/a", "annotation.all": "1", "annotation-manifest.amd64": "2"}, so.Exports[0].Attrs, "one platform, no index")

	_, err = solveOpt(Options{ContextDir: t.TempDir(), Platforms: []string{"linux/arm64"}, Annotations: as}, exports, false, nil)
	require.EqualError(t, err, "annotation annotation-index.idx: index annotations not supported for single platform export: the image of linux/arm64 alone has no index (a build split across nodes makes one per node)")
	so, err = solveOpt(Options{ContextDir: t.TempDir(), Platforms: []string{"linux/arm64"}, Annotations: as}, exports[2:], false, nil)
	require.NoError(t, err, "no image, nothing to annotate")
	assert.Empty(t, so.Exports[0].Attrs)

	so, err = solveOpt(Options{ContextDir: t.TempDir(), Platforms: []string{"linux/amd64"}, Annotations: as, BuildArgs: map[string]string{"BUILDKIT_MULTI_PLATFORM": "1"}}, exports[:1], false, nil)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"name": "r/a", "annotation.all": "1", "annotation-manifest[linux/amd64].amd64": "2", "annotation-manifest[linux/arm64].arm64": "3", "annotation-index.idx": "4"}, so.Exports[0].Attrs, "an index of one platform")
}

// TestRunAnnotationsBuilderPlatform: with no --platform, the builder's
// default platform is the one the manifest annotations are matched to.
func TestRunAnnotationsBuilderPlatform(t *testing.T) {
	t.Parallel()
	s := &fakeSolver{fakePlatforms: fakePlatforms{have: []ocispecs.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}}}
	_, _, err := runFake(t, s, Options{ContextDir: t.TempDir(), Annotations: []Annotation{
		{Type: AnnotationManifest, Platform: "linux/amd64", Key: "amd64", Value: "x"},
		{Type: AnnotationManifest, Platform: "linux/arm64", Key: "arm64", Value: "y"},
	}})
	require.NoError(t, err)
	require.Len(t, s.opt.Exports, 1)
	assert.Equal(t, map[string]string{"annotation-manifest.arm64": "y"}, s.opt.Exports[0].Attrs)
	assert.Equal(t, 1, s.calls)

	s = &fakeSolver{}
	_, _, err = runFake(t, s, Options{ContextDir: t.TempDir(), Annotations: []Annotation{{Key: "k", Value: "v"}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"annotation.k": "v"}, s.opt.Exports[0].Attrs)
	assert.Zero(t, s.calls, "no platform to match, no question asked")
}

func TestSolveOptAttestsAndGit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ctxDir := filepath.Join(root, "app")
	require.NoError(t, os.Mkdir(ctxDir, 0o755))
	opts := Options{
		ContextDir:    ctxDir,
		DockerfileDir: root,
		Attests:       map[string]string{"provenance": "mode=min,inline-only=true", "sbom": "type=sbom,generator=r/s:1"},
		Git:           GitInfo{Source: "https://example.com/a.git", Revision: "abc", Root: root},
	}
	so, err := solveOpt(opts, nil, false, nil)
	require.NoError(t, err)
	for k, v := range map[string]string{
		"attest:provenance": "mode=min,inline-only=true", "attest:sbom": "type=sbom,generator=r/s:1",
		"vcs:source": "https://example.com/a.git", "vcs:revision": "abc",
		"vcs:localdir:context": "app", "vcs:localdir:dockerfile": ".",
	} {
		assert.Equal(t, v, so.FrontendAttrs[k], k)
	}

	so, err = solveOpt(Options{ContextDir: ctxDir, Git: GitInfo{Root: filepath.Join(root, "other")}}, nil, false, nil)
	require.NoError(t, err)
	for k := range so.FrontendAttrs {
		assert.False(t, strings.HasPrefix(k, "vcs:") || strings.HasPrefix(k, "attest:"), k)
	}
}
