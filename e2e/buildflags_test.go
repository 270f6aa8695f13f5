package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runProbeDockerfile records, from inside a RUN step, its rlimits, the size
// of /dev/shm, its cgroups and its cgroup memory limit (v1 or v2).
const runProbeDockerfile = `FROM {{BASE}} AS probe
RUN mkdir /out && ulimit -Sn > /out/nofile-soft && ulimit -Hn > /out/nofile-hard && \
    df -k /dev/shm | tail -n 1 | tr -s ' ' | cut -d ' ' -f 2 > /out/shm-kb && \
    cat /proc/self/cgroup > /out/cgroup && \
    (cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max 2>/dev/null || echo none) > /out/memory
FROM scratch
COPY --from=probe /out /
`

// probeRun builds runProbeDockerfile with args and returns what its RUN
// step recorded.
func probeRun(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(runProbeDockerfile)})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, append(append([]string{"--no-cache", "--progress=plain"}, args...), "-o", "type=local,dest="+out, ctx)...))
	noCrash(t, r)
	got := map[string]string{}
	for _, f := range []string{"nofile-soft", "nofile-hard", "shm-kb", "cgroup", "memory"} {
		got[f] = readFile(t, filepath.Join(out, f))
	}
	return got
}

// TestRunStepLimits: --ulimit, --shm-size and the memory limit reach the
// containers of RUN steps.
func TestRunStepLimits(t *testing.T) {
	requireE2E(t)
	def := probeRun(t)
	assert.Equal(t, "65536", def["shm-kb"], "BuildKit's default /dev/shm is 64 MiB")

	got := probeRun(t, "--ulimit", "nofile=1024:2048", "--shm-size", "128m")
	assert.Equal(t, "1024", got["nofile-soft"])
	assert.Equal(t, "2048", got["nofile-hard"])
	assert.Equal(t, "131072", got["shm-kb"], "/dev/shm of 128 MiB, in KiB")

	// A later --ulimit of the same name wins, as in docker build.
	got = probeRun(t, "--ulimit", "nofile=100:200", "--ulimit", "nofile=300")
	assert.Equal(t, "300", got["nofile-soft"])
	assert.Equal(t, "300", got["nofile-hard"])

	// -m (docker build's flag) and --resource set the cgroup memory limit.
	require.NotEqual(t, "none", def["memory"], "no cgroup memory controller visible in the RUN step:\n%s", def["cgroup"])
	assert.NotEqual(t, strconv.Itoa(64<<20), def["memory"])
	assert.Equal(t, strconv.Itoa(64<<20), probeRun(t, "-m", "64m")["memory"])
	assert.Equal(t, strconv.Itoa(96<<20), probeRun(t, "--resource", "memory=96m")["memory"])
	assert.Equal(t, strconv.Itoa(32<<20), probeRun(t, "-m", "64m", "--resource", "memory=32m")["memory"], "--resource wins over -m, as in buildx")
}

// TestRunStepLimitErrors: bad values of the RUN-step flags are usage
// errors naming the flag, before anything is built.
func TestRunStepLimitErrors(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shm-size", "lots"}, `--shm-size "lots"`},
		{[]string{"--ulimit", "nofile=2048:1024"}, `--ulimit "nofile=2048:1024"`},
		{[]string{"--ulimit", "files=10"}, `--ulimit "files=10"`},
		{[]string{"-m", "lots"}, `--memory "lots"`},
		{[]string{"--memory-swap", "1g"}, "--memory-swap needs a memory limit"},
		{[]string{"--cpu-quota", "10"}, `--cpu-quota "10"`},
		{[]string{"--resource", "gpu=1"}, `unknown resource "gpu"`},
		{[]string{"--annotation", "bogus:k=v"}, `--annotation "bogus:k=v": unknown type "bogus"`},
		{[]string{"--annotation", "index:k=v"}, "index annotations not supported for single platform export"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := build2(t, append(tc.args, "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "img.tar"), ctx)...)
			assert.Equal(t, 125, r.code, r.String())
			assert.Contains(t, r.stderr, tc.want)
			noCrash(t, r)
		})
	}
}

// TestCgroupParent: RUN steps get their cgroups under --cgroup-parent.
func TestCgroupParent(t *testing.T) {
	requireE2E(t)
	const parent = "build2-e2e-parent"
	t.Cleanup(func() {
		// runc leaves the parent's (empty) cgroups behind.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		for _, d := range dirs {
			_ = os.Remove(filepath.Join(d, "buildkit"))
			_ = os.Remove(d)
		}
	})
	assert.NotContains(t, probeRun(t)["cgroup"], parent)
	got := probeRun(t, "--cgroup-parent", parent)
	for _, line := range strings.Split(got["cgroup"], "\n") {
		assert.Contains(t, line, ":/"+parent+"/", "every cgroup of the step is under the parent")
	}
}

// annotatedJSON is an image manifest or index with its annotations.
type annotatedJSON struct {
	MediaType   string            `json:"mediaType"`
	Annotations map[string]string `json:"annotations"`
	Manifests   []descriptor      `json:"manifests"`
}

const annotationDockerfile = "FROM {{BASE}}\nRUN echo annotated > /a.txt\n"

// TestAnnotationsPushed: --annotation puts annotations on the pushed
// manifest, the index and their descriptors, as buildx does.
func TestAnnotationsPushed(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(annotationDockerfile)})

	t.Run("manifest", func(t *testing.T) {
		ref := world.reg.host + "/e2e/annotated:manifest"
		// No default provenance: it would make an index of one image.
		mustSucceed(t, build2(t, "--push", "--provenance=false", "-t", ref, "--annotation", "org.example.default=d", "--annotation", "manifest:org.example.m=m",
			"--annotation", "manifest[linux/amd64]:org.example.amd64=a", "--annotation", "org.example.comma=x,y", ctx))
		_, raw, err := world.reg.getManifest("e2e/annotated", "manifest")
		require.NoError(t, err)
		var m annotatedJSON
		require.NoError(t, json.Unmarshal(raw, &m))
		assert.Empty(t, m.Manifests, "one platform: a manifest, no index")
		assert.Equal(t, "d", m.Annotations["org.example.default"])
		assert.Equal(t, "m", m.Annotations["org.example.m"])
		assert.Equal(t, "a", m.Annotations["org.example.amd64"])
		assert.Equal(t, "x,y", m.Annotations["org.example.comma"])
	})

	t.Run("index", func(t *testing.T) {
		ref := world.reg.host + "/e2e/annotated:index"
		mustSucceed(t, build2(t, "--push", "-t", ref, "--build-arg", "BUILDKIT_MULTI_PLATFORM=1",
			"--annotation", "index:org.example.i=i", "--annotation", "manifest-descriptor:org.example.md=md",
			"--annotation", "index,manifest:org.example.both=b", "--annotation", "manifest[linux/amd64]:org.example.amd64=a", ctx))
		_, raw, err := world.reg.getManifest("e2e/annotated", "index")
		require.NoError(t, err)
		var idx annotatedJSON
		require.NoError(t, json.Unmarshal(raw, &idx))
		assert.Equal(t, mediaOCIIndex, idx.MediaType)
		assert.Equal(t, "i", idx.Annotations["org.example.i"])
		assert.Equal(t, "b", idx.Annotations["org.example.both"])
		require.Len(t, imageDescs(idx.Manifests), 1, "the image (and its provenance)")
		assert.Equal(t, "md", idx.Manifests[0].Annots["org.example.md"])
		_, raw, err = world.reg.getManifest("e2e/annotated", idx.Manifests[0].Digest)
		require.NoError(t, err)
		var m annotatedJSON
		require.NoError(t, json.Unmarshal(raw, &m))
		assert.Equal(t, "b", m.Annotations["org.example.both"])
		assert.Equal(t, "a", m.Annotations["org.example.amd64"])
		assert.NotContains(t, m.Annotations, "org.example.i", "an index annotation")
		assert.NotContains(t, m.Annotations, "org.example.md", "a descriptor's annotation")
	})

	t.Run("platform the build lacks", func(t *testing.T) {
		r := build2(t, "--platform", "linux/amd64", "--annotation", "manifest[linux/arm64]:k=v", "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "x.tar"), ctx)
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "the build has no platform linux/arm64")
	})
}

// ociTarball reads an OCI layout tarball: its index.json and its blobs by
// digest.
func ociTarball(t *testing.T, path string) (annotatedJSON, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	entries := tarEntries(t, f)
	var idx annotatedJSON
	require.NoError(t, json.Unmarshal(entries["index.json"], &idx), string(entries["index.json"]))
	blobs := map[string][]byte{}
	for name, b := range entries {
		if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			blobs["sha256:"+hex] = b
		}
	}
	return idx, blobs
}

// TestAnnotationsOCITarball: the annotations are in an OCI tarball too,
// the index descriptor's in its index.json.
func TestAnnotationsOCITarball(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(annotationDockerfile)})
	dest := filepath.Join(t.TempDir(), "img.tar")
	// No default provenance: an index of one image, no attestation.
	mustSucceed(t, build2(t, "-o", "type=oci,dest="+dest, "--provenance=false", "--build-arg", "BUILDKIT_MULTI_PLATFORM=1",
		"--annotation", "org.example.m=m", "--annotation", "index:org.example.i=i", "--annotation", "index-descriptor:org.example.id=id", ctx))
	layout, blobs := ociTarball(t, dest)
	require.Len(t, layout.Manifests, 1)
	assert.Equal(t, "id", layout.Manifests[0].Annots["org.example.id"], "index.json has the index's descriptor")
	var idx annotatedJSON
	require.NoError(t, json.Unmarshal(blobs[layout.Manifests[0].Digest], &idx))
	assert.Equal(t, "i", idx.Annotations["org.example.i"])
	require.Len(t, idx.Manifests, 1)
	var m annotatedJSON
	require.NoError(t, json.Unmarshal(blobs[idx.Manifests[0].Digest], &m))
	assert.Equal(t, "m", m.Annotations["org.example.m"])
}

// TestProxyBuildArgs: the proxies of the docker config file become build
// args, upper and lower case, as the docker CLI passes them; a --build-arg
// of the same name in either case wins, as in buildx (BuildKit gives RUN
// steps one value for both cases).
func TestProxyBuildArgs(t *testing.T) {
	requireE2E(t)
	cfg := t.TempDir()
	require.NoError(t, writeDockerConfig(cfg, filepath.Dir(world.plugin), map[string]any{"proxies": map[string]any{
		"default": map[string]string{
			"httpProxy": "http://proxy.example:3128", "httpsProxy": "https://proxy.example:3129",
			"noProxy": "localhost,127.0.0.1", "ftpProxy": "ftp://proxy.example:21", "allProxy": "socks5://proxy.example:1080",
		},
	}}))
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} AS p\n" +
		`RUN for v in HTTP_PROXY http_proxy HTTPS_PROXY https_proxy NO_PROXY no_proxy FTP_PROXY ftp_proxy ALL_PROXY all_proxy; do eval "echo $v=\$$v"; done > /proxies` +
		"\nFROM scratch\nCOPY --from=p /proxies /\n")})
	proxies := func(args ...string) string {
		t.Helper()
		out := t.TempDir()
		mustSucceed(t, docker(t, append(append([]string{"build2", "--no-cache"}, args...), "-o", out, ctx), withEnv("DOCKER_CONFIG="+cfg)))
		return readFile(t, filepath.Join(out, "proxies"))
	}
	assert.Equal(t, strings.Join([]string{
		"HTTP_PROXY=http://proxy.example:3128", "http_proxy=http://proxy.example:3128",
		"HTTPS_PROXY=https://proxy.example:3129", "https_proxy=https://proxy.example:3129",
		"NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1",
		"FTP_PROXY=ftp://proxy.example:21", "ftp_proxy=ftp://proxy.example:21",
		"ALL_PROXY=socks5://proxy.example:1080", "all_proxy=socks5://proxy.example:1080",
	}, "\n"), proxies())
	got := proxies("--build-arg", "HTTP_PROXY=http://explicit:1", "--build-arg", "no_proxy=")
	assert.Contains(t, got, "HTTP_PROXY=http://explicit:1\nhttp_proxy=http://explicit:1\n")
	assert.Contains(t, got, "NO_PROXY=\nno_proxy=\n")
	assert.Contains(t, got, "HTTPS_PROXY=https://proxy.example:3129\n", "the other proxies still come from the config")
}

// TestSourceDateEpoch: $SOURCE_DATE_EPOCH dates the image as buildx has it
// (the build arg), so that two builds from scratch with rewrite-timestamp
// give the same image; a --build-arg of that name wins.
func TestSourceDateEpoch(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo reproducible > /r.txt\n")})
	image := func(env string, args ...string) (digest, created string) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "img.tar")
		r := docker(t, append(append([]string{"build2", "--no-cache"}, args...), "-o", "type=oci,dest="+dest+",rewrite-timestamp=true", ctx), withEnv("SOURCE_DATE_EPOCH="+env))
		mustSucceed(t, r)
		layout, blobs := ociTarball(t, dest)
		require.Len(t, layout.Manifests, 1)
		var m manifest
		require.NoError(t, json.Unmarshal(blobs[layout.Manifests[0].Digest], &m))
		var cfg struct {
			Created string `json:"created"`
		}
		require.NoError(t, json.Unmarshal(blobs[m.Config.Digest], &cfg))
		return layout.Manifests[0].Digest, cfg.Created
	}
	// --no-cache: the step runs again, its files get new times, which
	// rewrite-timestamp sets to the epoch.
	first, created := image("1700000000")
	second, _ := image("1700000000")
	assert.Equal(t, first, second, "the same epoch, the same image")
	assert.Equal(t, "2023-11-14T22:13:20Z", created)
	third, created := image("")
	assert.NotEqual(t, first, third, "no epoch: the image is dated when it was built")
	assert.NotEqual(t, "2023-11-14T22:13:20Z", created)
	_, created = image("1700000000", "--build-arg", "SOURCE_DATE_EPOCH=1600000000")
	assert.Equal(t, "2020-09-13T12:26:40Z", created, "--build-arg SOURCE_DATE_EPOCH wins over the environment")
}

// TestImageIDFileAlwaysWritten: --iidfile is written when the build makes
// no image too, empty, as buildx writes it.
func TestImageIDFileAlwaysWritten(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo x > /x\n")})
	dir := t.TempDir()
	iid := filepath.Join(dir, "iid")
	mustSucceed(t, build2(t, "--iidfile", iid, "-o", "type=local,dest="+filepath.Join(dir, "out"), ctx))
	dt, err := os.ReadFile(iid)
	require.NoError(t, err)
	assert.Empty(t, dt)

	mustSucceed(t, build2(t, "--iidfile", iid, "-o", "type=oci,dest="+filepath.Join(dir, "img.tar"), ctx))
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, readFile(t, iid))
}

// TestInlineCacheBuildArg: --build-arg BUILDKIT_INLINE_CACHE=1 exports the
// inline cache as --cache-to type=inline does.
func TestInlineCacheBuildArg(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	ref := world.reg.host + "/e2e/inline-arg:1"
	buildWithFreshState(t, "--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", ref, "--push", ctx)
	out := buildWithFreshState(t, "--cache-from", ref, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, finalRan) || ran(out, depsRan), "the image's inline cache is reused:\n%s", out)

	// Without it, the pushed image has no cache to reuse.
	plain := world.reg.host + "/e2e/inline-arg:plain"
	buildWithFreshState(t, "--build-arg", "BUILDKIT_INLINE_CACHE=0", "-t", plain, "--push", ctx)
	out = buildWithFreshState(t, "--cache-from", plain, "-o", t.TempDir(), ctx)
	assert.True(t, ran(out, finalRan), "no inline cache, the steps run:\n%s", out)
}

// TestRootlessRunStepLimits: a user who is not root gets --ulimit and
// --shm-size too; the memory and CPU limits, which rootless runc cannot
// apply (its steps have no cgroups of their own), are said to be ignored.
func TestRootlessRunStepLimits(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile(runProbeDockerfile)})
	build := func(args ...string) (result, string) {
		t.Helper()
		out := filepath.Join(u.home, "out")
		_ = os.RemoveAll(out)
		r := mustSucceed(t, docker(t, append(append([]string{"build2", "--no-cache"}, args...), "-o", "type=local,dest="+out, ctx), u.as()))
		return r, out
	}
	r, out := build("--ulimit", "nofile=1024:2048", "--shm-size", "128m")
	assert.Equal(t, "1024", readFile(t, filepath.Join(out, "nofile-soft")))
	assert.Equal(t, "131072", readFile(t, filepath.Join(out, "shm-kb")))
	assert.NotContains(t, r.stderr, "without cgroups")

	r, _ = build("-m", "64m", "--cgroup-parent", "p")
	assert.Contains(t, r.stderr, "WARNING: the rootless embedded builder runs RUN steps without cgroups of their own")
}
