package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "golden file missing: run the e2e tests with -update")
	assert.Equal(t, string(want), got)
}

func base() string { return world.reg.host + "/library/busybox" }

const multiStageDockerfile = `FROM {{BASE}} AS build
ARG V=0
ARG FROM_ENV=unset
ENV GREETING=hello
WORKDIR /src
RUN echo "$GREETING v$V $FROM_ENV" > msg.txt && uname -m > arch.txt

FROM build AS test
RUN grep -q hello /src/msg.txt && echo tested > /src/tested.txt

FROM scratch AS final
COPY --from=build /src/msg.txt /src/arch.txt /
`

func dockerfile(s string) string { return strings.ReplaceAll(s, "{{BASE}}", base()) }

func TestPluginMetadata(t *testing.T) {
	requireE2E(t)
	r := mustSucceed(t, runCmd(t, world.plugin, []string{"docker-cli-plugin-metadata"}))
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), r.stdout)
	assert.Equal(t, "0.1.0", m["SchemaVersion"])
	// The version is the one the binary says it is (the metadata is
	// answered before the rest of the program starts).
	v := mustSucceed(t, docker(t, []string{"build2", "version"}))
	assert.True(t, strings.HasPrefix(v.stdout, fmt.Sprintf("docker-build2 %s (", m["Version"])), "metadata version %v, version says %q", m["Version"], v.stdout)
	m["Version"] = "<version>"
	dt, err := json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	assertGolden(t, "metadata.golden", string(dt)+"\n")

	// The docker CLI lists the plugin from that metadata.
	r = mustSucceed(t, docker(t, []string{"--help"}))
	assert.Regexp(t, `build2\*\s+Build images with an embedded BuildKit`, r.stdout)
}

func TestHelpAndVersion(t *testing.T) {
	requireE2E(t)
	// Defaults shown in help come from the environment: use the built-in ones.
	builtin := withEnv("DOCKER_BUILD2_ROOT=", "BUILDKIT_PROGRESS=", "DOCKER_BUILD2_DAEMON_CONFIG=")
	r := mustSucceed(t, docker(t, []string{"build2", "--help"}, builtin))
	assertGolden(t, "help.golden", r.stdout)
	for _, f := range []string{"--tag", "--file", "--target", "--build-arg", "--output", "--push", "--progress", "--secret", "--ssh", "--iidfile", "--metadata-file", "--quiet"} {
		assert.Contains(t, r.stdout, f)
	}
	r = mustSucceed(t, docker(t, []string{"build2", "build", "--help"}, builtin))
	assertGolden(t, "help-build.golden", r.stdout)

	r = mustSucceed(t, build2(t, "version"))
	assert.Regexp(t, `^docker-build2 \S+ \(BuildKit v0\.\d+\.\d+\)\n$`, r.stdout)
}

func TestDockerGlobalFlags(t *testing.T) {
	requireE2E(t)
	// --config: a config dir of its own that has the plugin.
	other := t.TempDir()
	require.NoError(t, writeDockerConfig(other, filepath.Dir(world.plugin)))
	r := mustSucceed(t, docker(t, []string{"--config", other, "build2", "version"}, withEnv("DOCKER_CONFIG=/nonexistent")))
	assert.Contains(t, r.stdout, "docker-build2 ")

	r = mustSucceed(t, docker(t, []string{"-D", "build2", "version"}))
	assert.Contains(t, r.stdout, "docker-build2 ")
	r = mustSucceed(t, docker(t, []string{"--context", "default", "build2", "version"}))
	assert.Contains(t, r.stdout, "docker-build2 ")
}

func TestBuildLocalOutput(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"docker/Dockerfile": dockerfile(multiStageDockerfile)})
	for _, tc := range []struct {
		name string
		cmd  func(args ...string) result
	}{
		{"docker build2", func(args ...string) result { return build2(t, args...) }},
		{"docker build2 build", func(args ...string) result { return build2(t, append([]string{"build"}, args...)...) }},
		{"standalone docker-build2 build", func(args ...string) result {
			return runCmd(t, world.plugin, append([]string{"build"}, args...))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := mustSucceed(t, tc.cmd("--progress=plain", "-f", filepath.Join(ctx, "docker/Dockerfile"), "--target", "final",
				"--build-arg", "V=1", "--build-arg", "FROM_ENV", "-o", "type=local,dest="+out, ctx))
			noCrash(t, r)
			assert.Equal(t, "hello v1 unset", readFile(t, filepath.Join(out, "msg.txt")))
			assert.Equal(t, "x86_64", readFile(t, filepath.Join(out, "arch.txt")))
		})
	}

	// --build-arg KEY takes KEY's value from the environment.
	out := filepath.Join(t.TempDir(), "out")
	r := mustSucceed(t, docker(t, []string{"build2", "-f", filepath.Join(ctx, "docker/Dockerfile"), "--build-arg", "FROM_ENV", "-o", out, ctx}, withEnv("FROM_ENV=from-the-env")))
	noCrash(t, r)
	assert.Equal(t, "hello v0 from-the-env", readFile(t, filepath.Join(out, "msg.txt")))

	// --target test builds the test stage (it has /src/tested.txt).
	out = filepath.Join(t.TempDir(), "out")
	mustSucceed(t, build2(t, "-f", filepath.Join(ctx, "docker/Dockerfile"), "--target", "test", "-o", "type=local,dest="+out, ctx))
	assert.Equal(t, "tested", readFile(t, filepath.Join(out, "src/tested.txt")))
}

func TestCacheReuse(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo cache-reuse-e2e > /f.txt\n")})
	out := t.TempDir()
	mustSucceed(t, build2(t, "--progress=plain", "-o", out, ctx))
	r := mustSucceed(t, build2(t, "--progress=plain", "-o", out, ctx))
	assert.Regexp(t, `#\d+ \[2/2\] RUN echo cache-reuse-e2e > /f.txt\n#\d+ CACHED`, r.stderr)
	r = mustSucceed(t, build2(t, "--progress=plain", "--no-cache", "-o", out, ctx))
	assert.NotRegexp(t, `RUN echo cache-reuse-e2e > /f.txt\n#\d+ CACHED`, r.stderr)
	assert.Equal(t, "cache-reuse-e2e", readFile(t, filepath.Join(out, "f.txt")))
}

func TestDockerignore(t *testing.T) {
	requireE2E(t)
	df := "FROM scratch\nCOPY . /ctx/\n"
	ctx := writeFiles(t, map[string]string{
		"Dockerfile":                  df,
		".dockerignore":               "ignored.txt\n",
		"ignored.txt":                 "ignored",
		"kept.txt":                    "kept",
		"alt/Dockerfile":              df,
		"alt/Dockerfile.dockerignore": "kept.txt\nalt\n",
	})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--progress=plain", "-o", out, ctx))
	assert.FileExists(t, filepath.Join(out, "ctx/kept.txt"))
	assert.NoFileExists(t, filepath.Join(out, "ctx/ignored.txt"))
	// The ignored file is never transferred: the context is small.
	assert.NotContains(t, r.stderr, "ignored")

	out = t.TempDir()
	mustSucceed(t, build2(t, "-f", filepath.Join(ctx, "alt/Dockerfile"), "-o", out, ctx))
	assert.NoFileExists(t, filepath.Join(out, "ctx/kept.txt"), "<Dockerfile>.dockerignore wins")
	assert.FileExists(t, filepath.Join(out, "ctx/ignored.txt"))
}

func TestStdin(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"a.txt": "from-context"})
	df := dockerfile("FROM {{BASE}} AS b\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nFROM scratch\nCOPY --from=b /b.txt /\n")

	t.Run("-f -", func(t *testing.T) {
		out := t.TempDir()
		mustSucceed(t, docker(t, []string{"build2", "-f", "-", "-o", out, ctx}, withStdin(df)))
		assert.Equal(t, "from-context", readFile(t, filepath.Join(out, "b.txt")))
	})
	t.Run("Dockerfile as context -", func(t *testing.T) {
		out := t.TempDir()
		mustSucceed(t, docker(t, []string{"build2", "-o", out, "-"}, withStdin("FROM scratch\nENV X=1\n")))
	})
	t.Run("tar as context -", func(t *testing.T) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, c := range map[string]string{"Dockerfile": df, "a.txt": "from-tar"} {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}))
			_, err := tw.Write([]byte(c))
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		out := t.TempDir()
		mustSucceed(t, docker(t, []string{"build2", "-o", out, "-"}, withStdinBytes(buf.Bytes())))
		assert.Equal(t, "from-tar", readFile(t, filepath.Join(out, "b.txt")))
	})
	t.Run("both stdin", func(t *testing.T) {
		r := docker(t, []string{"build2", "-f", "-", "-"}, withStdin(df))
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "can't use stdin for both build context and dockerfile")
	})
}

func TestPushAndPullBack(t *testing.T) {
	requireE2E(t)
	ref := world.reg.host + "/e2e/app:1"
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nLABEL org.example.e2e=yes\nRUN echo pushed-content > /pushed.txt\n")})
	meta := filepath.Join(t.TempDir(), "meta.json")
	r := mustSucceed(t, build2(t, "--progress=plain", "--push", "-t", ref, "--metadata-file", meta, ctx))
	assert.Contains(t, r.stderr, "pushing manifest for "+ref)

	var md map[string]any
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &md))
	dgst, _ := md["containerimage.digest"].(string)
	require.True(t, strings.HasPrefix(dgst, "sha256:"), "metadata: %v", md)
	assert.Equal(t, ref, md["image.name"])

	img := world.reg.image(t, "e2e/app", "1")
	assert.Equal(t, "amd64", img.config.Architecture)
	assert.Equal(t, "yes", img.config.Config.Labels["org.example.e2e"])
	// The default provenance makes an index: its digest is the image's,
	// and BuildKit gives no config digest for an index.
	_, raw, err := world.reg.getManifest("e2e/app", "1")
	require.NoError(t, err)
	assert.Equal(t, digestOf(raw), dgst)
	assert.NotEmpty(t, img.manifest.Config.Digest)
	assert.Equal(t, "pushed-content\n", img.files["pushed.txt"])

	// Pull back: a build FROM the pushed image reads the file.
	ctx2 := writeFiles(t, map[string]string{"Dockerfile": "FROM " + ref + " AS p\nRUN cat /pushed.txt > /again.txt\nFROM scratch\nCOPY --from=p /again.txt /\n"})
	out := t.TempDir()
	mustSucceed(t, build2(t, "--pull", "-o", out, ctx2))
	assert.Equal(t, "pushed-content", readFile(t, filepath.Join(out, "again.txt")))

	r = build2(t, "--push", ctx)
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, "--push needs at least one -t/--tag")
}

// tarEntries lists a tar stream's entries and regular file contents.
func tarEntries(t *testing.T, rd io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[strings.TrimPrefix(h.Name, "./")] = b
	}
}

func TestTarballOutputs(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} AS b\nRUN echo tarball > /t.txt\nFROM scratch\nCOPY --from=b /t.txt /\n")})
	dir := t.TempDir()

	t.Run("oci", func(t *testing.T) {
		dest := filepath.Join(dir, "img.oci.tar")
		mustSucceed(t, build2(t, "-t", "e2e/oci:1", "-o", "type=oci,dest="+dest, ctx))
		f, err := os.Open(dest)
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		entries := tarEntries(t, f)
		require.Contains(t, entries, "oci-layout")
		require.Contains(t, entries, "index.json")
		var idx manifest
		require.NoError(t, json.Unmarshal(entries["index.json"], &idx))
		require.NotEmpty(t, idx.Manifests)
		// Every referenced blob is present with the right digest.
		var walk func(d descriptor)
		walk = func(d descriptor) {
			b, ok := entries["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
			require.True(t, ok, "blob %s missing", d.Digest)
			assert.Equal(t, d.Digest, digestOf(b))
			if d.MediaType == mediaOCIManifest || d.MediaType == mediaOCIIndex {
				var m manifest
				require.NoError(t, json.Unmarshal(b, &m))
				for _, c := range append(append(m.Manifests, m.Layers...), m.Config) {
					if c.Digest != "" {
						walk(c)
					}
				}
			}
		}
		for _, d := range idx.Manifests {
			walk(d)
		}
		st, err := os.Stat(dest)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	})
	t.Run("docker", func(t *testing.T) {
		dest := filepath.Join(dir, "img.docker.tar")
		mustSucceed(t, build2(t, "-t", "e2e/docker:1", "-o", "type=docker,dest="+dest, ctx))
		f, err := os.Open(dest)
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		entries := tarEntries(t, f)
		require.Contains(t, entries, "manifest.json")
		assert.Contains(t, string(entries["manifest.json"]), "e2e/docker:1")
	})
	t.Run("tar to stdout", func(t *testing.T) {
		r := mustSucceed(t, build2(t, "-o", "type=tar,dest=-", ctx))
		entries := tarEntries(t, strings.NewReader(r.stdout))
		assert.Equal(t, "tarball\n", string(entries["t.txt"]))
		r = mustSucceed(t, build2(t, "-o", "-", ctx))
		entries = tarEntries(t, strings.NewReader(r.stdout))
		assert.Equal(t, "tarball\n", string(entries["t.txt"]))
	})
	t.Run("failed build leaves no file", func(t *testing.T) {
		bad := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN exit 7\n")})
		dest := filepath.Join(dir, "never.tar")
		r := build2(t, "-o", "type=oci,dest="+dest, bad)
		assert.Equal(t, 1, r.code, r.String())
		assert.NoFileExists(t, dest)
		left, err := filepath.Glob(filepath.Join(dir, ".never.tar*"))
		require.NoError(t, err)
		assert.Empty(t, left, "temporary output left behind")
	})
}

func TestImageIDOutputs(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo id > /id.txt\n")})
	dir := t.TempDir()
	iid := filepath.Join(dir, "iid")
	r := mustSucceed(t, build2(t, "-q", "--iidfile", iid, ctx))
	id := readFile(t, iid)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, id)
	assert.Equal(t, id+"\n", r.stdout, "-q prints only the image ID")
	assert.Empty(t, strings.TrimSpace(r.stderr), "-q prints no progress")

	// No output, no name and no engine: the result stays in the cache, and
	// says so; with a name it is kept in the builder's image store.
	r = mustSucceed(t, build2(t, "--progress=plain", ctx))
	assert.Contains(t, r.stderr, "Build result will only remain in the build cache")
	r = mustSucceed(t, build2(t, "--progress=plain", "-t", "e2e/notice:1", ctx))
	assert.NotContains(t, r.stderr, "only remain in the build cache")
	assert.Contains(t, r.stderr, "naming to docker.io/e2e/notice:1")
}

func TestLegacyFlagsAccepted(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nENV A=1\n"})
	r := mustSucceed(t, build2(t, "--rm", "--force-rm", "--compress", "--isolation", "default", "--squash", "-m", "1g", "--security-opt", "seccomp=unconfined", "-o", t.TempDir(), ctx))
	assert.Contains(t, r.stderr, "WARNING: isolation flag is deprecated with BuildKit.")
	assert.Contains(t, r.stderr, "WARNING: experimental flag squash is removed with BuildKit.")
	assert.Contains(t, r.stderr, `WARNING: security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.`)
	assert.NotContains(t, r.stderr, "compress")
}

var durations = regexp.MustCompile(`\d+\.\d+s`)

func TestPlainProgressShape(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo shape-of-plain-progress\n")})
	r := mustSucceed(t, build2(t, "--progress=plain", "--no-cache", "-o", t.TempDir(), ctx))
	out := durations.ReplaceAllString(r.stderr, "<t>")
	assert.Contains(t, out, "[internal] load build definition from Dockerfile")
	assert.Regexp(t, `#\d+ \[2/2\] RUN echo shape-of-plain-progress\n#\d+ \d+\.\d+ shape-of-plain-progress\n#\d+ DONE <t>`, out)
	assert.NotContains(t, out, "\x1b[", "no colour codes in plain mode with NO_COLOR")

	r = mustSucceed(t, build2(t, "--progress=rawjson", "-o", t.TempDir(), ctx))
	first := strings.SplitN(strings.TrimSpace(r.stderr), "\n", 2)[0]
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &st), first)

	r = mustSucceed(t, build2(t, "--progress=quiet", "-o", t.TempDir(), ctx))
	assert.Empty(t, strings.TrimSpace(r.stderr))
}

func TestMissingRunc(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	// PATH without runc: the plugin must say so, not fail mid-build.
	r := docker(t, []string{"build2", ctx}, withEnv("PATH=/nonexistent"))
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "runc is not installed")
	assert.Contains(t, r.stderr, "apt-get install runc")
	noCrash(t, r)
	_, err := exec.LookPath("runc")
	require.NoError(t, err, "runc itself is installed for the other tests")
}

// TestCompletion: flag values complete through docker itself (the CLI asks
// the plugin with __complete), and the completion scripts load.
func TestCompletion(t *testing.T) {
	requireE2E(t)
	r := mustSucceed(t, docker(t, []string{"__complete", "build2", "--progress", ""}))
	for _, m := range []string{"auto", "plain", "tty", "rawjson", "quiet"} {
		assert.Contains(t, strings.Fields(r.stdout), m)
	}
	r = mustSucceed(t, docker(t, []string{"__complete", "build2", "build", "--secret", "id=npm,"}))
	assert.Contains(t, r.stdout, "id=npm,src=")
	assert.Contains(t, r.stdout, "id=npm,env=")

	for _, shell := range []string{"bash", "zsh", "fish"} {
		r = mustSucceed(t, runCmd(t, world.plugin, []string{"completion", shell}))
		assert.Contains(t, r.stdout, "docker-build2", shell)
		// Through docker, the same script (for the standalone binary).
		viaDocker := mustSucceed(t, docker(t, []string{"build2", "completion", shell}))
		assert.Equal(t, r.stdout, viaDocker.stdout, shell)
	}
	r = docker(t, []string{"build2", "completion", "tcsh"})
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, `unknown shell "tcsh": use one of bash, zsh, fish`)
	script := filepath.Join(t.TempDir(), "completion.bash")
	require.NoError(t, os.WriteFile(script, []byte(mustSucceed(t, runCmd(t, world.plugin, []string{"completion", "bash"})).stdout), 0o644))
	out, err := exec.Command("bash", "-c", "source "+script+" && complete -p docker-build2").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "docker-build2")

	// The loaded script completes, as bash calls it on <TAB>, through the
	// binary on PATH (bash-completion provides _get_comp_words_by_ref).
	complete := func(line string, words ...string) []string {
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = strconv.Quote(w)
		}
		sh := "source /usr/share/bash-completion/bash_completion && source " + script +
			" && COMP_WORDS=(" + strings.Join(quoted, " ") + ") && COMP_CWORD=" + strconv.Itoa(len(words)-1) +
			" && COMP_LINE=" + strconv.Quote(line) + " && COMP_POINT=${#COMP_LINE} && __start_docker-build2 2>/dev/null; printf '%s\\n' \"${COMPREPLY[@]}\""
		cmd := exec.Command("bash", "-c", sh)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(world.plugin)+":"+os.Getenv("PATH"))
		out, err := cmd.Output()
		require.NoError(t, err, "bash-completion is needed (apt-get install bash-completion)")
		return strings.Fields(string(out))
	}
	assert.Subset(t, complete("docker-build2 build --progress ", "docker-build2", "build", "--progress", ""), []string{"auto", "plain", "tty", "rawjson", "quiet"})
	// bash splits words at "=": the candidates continue "id=".
	assert.Contains(t, complete("docker-build2 build --secret id=npm,", "docker-build2", "build", "--secret", "id=npm,"), "npm,src=")
}

// TestOutputsToDevices: outputs written to a device are written to it, not
// renamed over it (as root, renaming over /dev/null would replace it).
func TestOutputsToDevices(t *testing.T) {
	requireE2E(t)
	dev := filepath.Join(t.TempDir(), "null")
	out, err := exec.Command("mknod", dev, "c", "1", "3").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	mustSucceed(t, build2(t, "--metadata-file", dev, "--iidfile", dev, "-o", "type=tar,dest="+dev, ctx))
	st, err := os.Stat(dev)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeCharDevice, "still a character device")
}
