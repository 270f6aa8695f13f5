package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bakeProject is a release team's definition: variables (one validated),
// a function, a group, inheritance, a matrix, a target used as another's
// context, build args, labels, tags pushed to the test registry, and
// local outputs.
func bakeProject(t *testing.T) string {
	t.Helper()
	return writeFiles(t, map[string]string{
		"docker-bake.hcl": `
variable "REGISTRY" { default = "` + world.reg.host + `" }
variable "TAG" {
  default = "dev"
  validation {
    condition     = TAG != "latest"
    error_message = "TAG must name a version, not latest."
  }
}
function "ref" {
  params = [name]
  result = "${REGISTRY}/bake/${name}:${TAG}"
}

group "default" {
  targets = ["app", "tools"]
}

target "_common" {
  args   = { GREETING = "hello" }
  labels = { "org.example.team" = "release" }
}

target "base" {
  dockerfile = "base.Dockerfile"
  args       = { FROM_IMAGE = "` + base() + `" }
}

target "app" {
  inherits = ["_common"]
  contexts = { base = "target:base" }
  tags     = [ref("app")]
  output   = ["type=registry"]
}

target "tools" {
  inherits   = ["_common"]
  name       = "tools-${tool}"
  matrix     = { tool = ["lint", "test"] }
  dockerfile = "tools.Dockerfile"
  args       = { TOOL = tool }
  output     = ["type=local,dest=out/${tool}"]
}
`,
		"base.Dockerfile":  "ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\nRUN echo from-base > /base.txt\n",
		"Dockerfile":       "FROM base\nARG GREETING\nRUN echo \"$GREETING from app\" > /app.txt\n",
		"tools.Dockerfile": dockerfile("FROM {{BASE}} AS b\nARG GREETING\nARG TOOL\nRUN echo \"$GREETING $TOOL\" > /tool.txt\nFROM scratch\nCOPY --from=b /tool.txt /\n"),
	})
}

// TestBake builds a definition's default group at once: the matrix's
// targets write their files, app is built on base (a target context, built
// once) and pushed, and the metadata file has one entry per target.
func TestBake(t *testing.T) {
	requireE2E(t)
	dir := bakeProject(t)
	meta := filepath.Join(dir, "meta.json")
	r := mustSucceed(t, docker(t, []string{"build2", "bake", "--progress=plain", "--metadata-file", meta}, withDir(dir)))
	noCrash(t, r)
	assert.Equal(t, "hello lint", readFile(t, filepath.Join(dir, "out", "lint", "tool.txt")))
	assert.Equal(t, "hello test", readFile(t, filepath.Join(dir, "out", "test", "tool.txt")))
	img := world.reg.image(t, "bake/app", "dev")
	assert.Equal(t, "from-base\n", img.files["base.txt"], "app is built on the base target")
	assert.Equal(t, "hello from app\n", img.files["app.txt"])
	assert.Equal(t, "release", img.config.Config.Labels["org.example.team"], "inherited label")
	steps := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(#\d+) \[base [^\]]*\] RUN echo from-base`).FindAllStringSubmatch(r.stderr, -1) {
		steps[m[1]] = true
	}
	assert.Len(t, steps, 1, "base is built once:\n%s", r.stderr)
	assert.Contains(t, r.stderr, "[tools-lint ", "steps carry their target's name")

	var md map[string]map[string]any
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &md))
	assert.ElementsMatch(t, []string{"app", "tools-lint", "tools-test"}, keys(md), "one entry per target asked for")
	_, raw, err := world.reg.getManifest("bake/app", "dev")
	require.NoError(t, err)
	assert.Equal(t, digest.FromBytes(raw).String(), md["app"]["containerimage.digest"])
	assert.Equal(t, world.reg.host+"/bake/app:dev", md["app"]["image.name"])
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBakeAlias: docker bake reaches docker build2 bake through the
// builder alias; TARGET names one target; --set and a variable from the
// environment override the definition.
func TestBakeAlias(t *testing.T) {
	requireE2E(t)
	cfg := aliasConfig(t)
	mustSucceed(t, docker(t, []string{"build2", "install"}, cfg))
	dir := bakeProject(t)
	r := mustSucceed(t, docker(t, []string{"bake", "--set", "tools-*.args.GREETING=hi", "--set", "tools-lint.output=type=local,dest=out/over", "tools"}, cfg, withDir(dir), withEnv("TAG=2")))
	noCrash(t, r)
	assert.Equal(t, "hi lint", readFile(t, filepath.Join(dir, "out", "over", "tool.txt")), "--set with a wildcard and a target name")
	assert.Equal(t, "hi test", readFile(t, filepath.Join(dir, "out", "test", "tool.txt")))
	assert.NoFileExists(t, filepath.Join(dir, "out", "lint", "tool.txt"), "output overridden")

	r = mustSucceed(t, docker(t, []string{"bake", "app"}, cfg, withDir(dir), withEnv("TAG=2")))
	noCrash(t, r)
	assert.Equal(t, "hello from app\n", world.reg.image(t, "bake/app", "2").files["app.txt"], "TAG from the environment")
}

// TestBakePrint: --print resolves the definition without building, in the
// shape buildx prints (testdata/bake-print.golden, checked against docker
// buildx bake --print v0.38 on the same files).
func TestBakePrint(t *testing.T) {
	requireE2E(t)
	dir := bakeProject(t)
	r := mustSucceed(t, docker(t, []string{"build2", "bake", "--print", "--set", "app.platform=linux/amd64", "app", "tools"}, withDir(dir), withEnv("TAG=3")))
	got := strings.ReplaceAll(r.stdout, world.reg.host, "REGISTRY")
	got = strings.ReplaceAll(got, base(), "BASE")
	assertGolden(t, "bake-print.golden", got)
	_, _, err := world.reg.getManifest("bake/app", "3")
	assert.Error(t, err, "nothing pushed")
}

// TestBakeCompose: a Compose file's services are targets, with x-bake.
func TestBakeCompose(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"compose.yaml": `services:
  web:
    build:
      context: ./web
      args:
        PORT: "8080"
      x-bake:
        output: ["type=local,dest=out/web"]
  worker:
    build:
      context: ./worker
      dockerfile: Worker.Dockerfile
      x-bake:
        output: ["type=local,dest=out/worker"]
`,
		"web/Dockerfile":           dockerfile("FROM {{BASE}} AS b\nARG PORT\nRUN echo web-$PORT > /web.txt\nFROM scratch\nCOPY --from=b /web.txt /\n"),
		"worker/Worker.Dockerfile": dockerfile("FROM {{BASE}} AS b\nRUN echo worker > /worker.txt\nFROM scratch\nCOPY --from=b /worker.txt /\n"),
	})
	r := mustSucceed(t, docker(t, []string{"build2", "bake"}, withDir(dir)))
	noCrash(t, r)
	assert.Equal(t, "web-8080", readFile(t, filepath.Join(dir, "out", "web", "web.txt")))
	assert.Equal(t, "worker", readFile(t, filepath.Join(dir, "out", "worker", "worker.txt")))
}

// TestBakeFailingTarget: a failing target fails the command, named; the
// others are cancelled; no metadata file is written.
func TestBakeFailingTarget(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl": `
group "default" { targets = ["ok", "broken"] }
target "ok" {
  dockerfile = "ok.Dockerfile"
  output     = ["type=local,dest=out/ok"]
}
target "broken" {
  dockerfile = "broken.Dockerfile"
}
`,
		"ok.Dockerfile":     dockerfile("FROM {{BASE}}\nRUN sleep 20 && echo done > /ok.txt\n"),
		"broken.Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo failing-step && exit 3\n"),
	})
	meta := filepath.Join(dir, "meta.json")
	r := docker(t, []string{"build2", "bake", "--progress=plain", "--metadata-file", meta}, withDir(dir))
	assert.Equal(t, 1, r.code, r.String())
	noCrash(t, r)
	assert.Contains(t, r.stderr, `target "broken"`)
	assert.Contains(t, r.stderr, "exit code: 3")
	assert.NoFileExists(t, meta)
	assert.NoDirExists(t, filepath.Join(dir, "out", "ok"), "the other target is cancelled, nothing half-written")
}

// TestBakeErrors: bad definitions and flags give one line naming what is
// wrong and where, with the documented exit code.
func TestBakeErrors(t *testing.T) {
	requireE2E(t)
	for _, c := range []struct {
		name  string
		files map[string]string
		args  []string
		code  int
		want  []string
	}{
		{"syntax error", map[string]string{"docker-bake.hcl": "target \"a\" {\n  tags = [\n}\n"}, nil, 1, []string{"docker-bake.hcl:3"}},
		{"unknown target", map[string]string{"docker-bake.hcl": "target \"a\" {}\n"}, []string{"nope"}, 1, []string{`"nope"`}},
		{"inherits cycle", map[string]string{"docker-bake.hcl": "target \"a\" {\n inherits = [\"b\"]\n}\ntarget \"b\" {\n inherits = [\"a\"]\n}\n"}, []string{"a"}, 1, []string{"a", "b"}},
		{"validation", map[string]string{"docker-bake.hcl": "variable \"TAG\" {\n default = \"latest\"\n validation {\n  condition = TAG != \"latest\"\n  error_message = \"TAG must name a version.\"\n }\n}\ntarget \"a\" {}\n"}, []string{"a"}, 1, []string{"TAG must name a version."}},
		{"bad set", map[string]string{"docker-bake.hcl": "target \"a\" {}\n"}, []string{"--set", "a.nokey=1", "a"}, 1, []string{"nokey"}},
		{"no definition", map[string]string{"README": "x"}, nil, 1, []string{"docker-bake"}},
		{"target context cycle", map[string]string{"docker-bake.hcl": "target \"a\" {\n contexts = { x = \"target:b\" }\n}\ntarget \"b\" {\n contexts = { y = \"target:a\" }\n}\n"}, []string{"a"}, 1, []string{"a", "b"}},
		{"bad target flag value", map[string]string{"docker-bake.hcl": "target \"a\" {\n output = [\"type=nope\"]\n}\n", "Dockerfile": "FROM scratch\n"}, []string{"a"}, 125, []string{`target "a"`, "nope"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			r := docker(t, append([]string{"build2", "bake"}, c.args...), withDir(dir))
			assert.Equal(t, c.code, r.code, r.String())
			noCrash(t, r)
			msg := strings.TrimSpace(r.stderr)
			assert.Equal(t, 1, strings.Count(msg, "\n")+1, "one line: %q", msg)
			for _, w := range c.want {
				assert.Contains(t, msg, w)
			}
			_, err := os.Stat(filepath.Join(dir, "out"))
			assert.True(t, os.IsNotExist(err), "nothing written")
		})
	}
}

// fencedBlocks returns the ```LANG blocks of a Markdown file, with the
// "## " section each is in.
func fencedBlocks(t *testing.T, path, lang string) []docBlock {
	t.Helper()
	dt, err := os.ReadFile(path)
	require.NoError(t, err)
	var blocks []docBlock
	var cur *strings.Builder
	section := ""
	for _, line := range strings.Split(string(dt), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		case cur == nil && strings.TrimSpace(line) == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, docBlock{section: section, script: cur.String()})
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestBakeRecipes runs each recipe of docs/bake.md: its definition next
// to a Dockerfile, its commands through docker bake, against the local
// registry; then checks what they pushed.
func TestBakeRecipes(t *testing.T) {
	requireArm64(t)
	defs := fencedBlocks(t, filepath.Join("..", "docs", "bake.md"), "hcl")
	cmds := fencedBlocks(t, filepath.Join("..", "docs", "bake.md"), "console")
	require.Len(t, defs, 3, "docs/bake.md's recipes")
	cfg := aliasConfig(t)
	mustSucceed(t, docker(t, []string{"build2", "install"}, cfg))
	mirror := filepath.Join(t.TempDir(), "daemon.json")
	require.NoError(t, os.WriteFile(mirror, []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))
	for _, def := range defs {
		t.Run(def.section, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{
				"docker-bake.hcl": def.script,
				"Dockerfile":      "FROM alpine\nARG FLAVOR=none\nRUN echo \"$FLAVOR $(uname -m)\" > /variant.txt\n",
			})
			n := 0
			for _, c := range cmds {
				if c.section != def.section {
					continue
				}
				n++
				cmd := exec.Command("bash", "-eo", "pipefail", "-c", c.script)
				cmd.Dir = dir
				cmd.Env = append(baseEnv(),
					"PATH="+filepath.Dir(world.docker)+":"+os.Getenv("PATH"),
					"REGISTRY="+world.reg.host,
					"DOCKER_BUILD2_DAEMON_CONFIG="+mirror,
					"BUILDKIT_PROGRESS=plain",
				)
				cfg(cmd)
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "docs/bake.md %q:\n%s\n--- output\n%s", def.section, c.script, out)
				assert.NotContains(t, string(out), "panic")
			}
			require.Positive(t, n, "the recipe has commands")
		})
	}
	idx, _, err := world.reg.getManifest("app", "1.2.3")
	require.NoError(t, err)
	assert.Len(t, imageDescs(idx.Manifests), 2, "app:1.2.3 has both platforms")
	_, _, err = world.reg.getManifest("app", "buildcache")
	require.NoError(t, err, "the registry cache")
	for _, ref := range []string{"api:2.0.0", "api:sha-abc1234", "worker:slim", "worker:full"} {
		repo, tag, _ := strings.Cut(ref, ":")
		_, _, err := world.reg.getManifest(repo, tag)
		require.NoError(t, err, ref)
	}
	assert.Equal(t, "full x86_64\n", world.reg.image(t, "worker", "full").files["variant.txt"])
	assert.Equal(t, "3", world.reg.image(t, "worker", "slim").config.Config.Labels["org.opencontainers.image.version"])
}

// TestBakeRemoteDefinition: the definition is read from a Git repository
// the test serves, its targets' contexts are the repository (and a
// directory of it), and a cwd:// output path stays local.
func TestBakeRemoteDefinition(t *testing.T) {
	requireE2E(t)
	url := gitDaemon(t, map[string]string{
		"docker-bake.hcl": `
group "default" { targets = ["root", "sub"] }
target "root" {
  output = ["type=local,dest=cwd://out/root"]
}
target "sub" {
  context = "web"
  output  = ["type=local,dest=out/sub"]
}
`,
		"Dockerfile":     dockerfile("FROM {{BASE}} AS b\nCOPY in-repo.txt /\nRUN cat /in-repo.txt > /got.txt\nFROM scratch\nCOPY --from=b /got.txt /\n"),
		"in-repo.txt":    "from-the-repository-root",
		"web/Dockerfile": "FROM scratch\nCOPY page.txt /\n",
		"web/page.txt":   "from-the-web-directory",
	})
	dir := t.TempDir()
	r := mustSucceed(t, docker(t, []string{"build2", "bake", "--progress=plain", url}, withDir(dir)))
	noCrash(t, r)
	assert.True(t, strings.HasPrefix(r.stderr, "#1 [internal] load git source "+url+"\n"), "the definition is fetched first:\n%s", r.stderr)
	assert.Equal(t, "from-the-repository-root", readFile(t, filepath.Join(dir, "out", "root", "got.txt")))
	assert.Equal(t, "from-the-web-directory", readFile(t, filepath.Join(dir, "out", "sub", "page.txt")))

	r = mustSucceed(t, docker(t, []string{"build2", "bake", "--print", url, "sub"}, withDir(dir)))
	assert.Contains(t, r.stdout, `"context": "web"`)
}

// TestBakeAllow: a target that reads or writes outside the working
// directory, or asks for network.host, is refused before anything is
// built, naming the --allow flags to pass; with them it builds.
func TestBakeAllow(t *testing.T) {
	requireE2E(t)
	root := t.TempDir()
	dir := filepath.Join(root, "project")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "shared"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "shared", "Dockerfile"), []byte("FROM scratch\nCOPY f /\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "shared", "f"), []byte("shared-file"), 0o644))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(`
target "default" {
  context = "../shared"
  output  = ["type=local,dest=../out"]
}
target "hostnet" {
  dockerfile-inline = "FROM scratch\n"
  entitlements      = ["network.host"]
}
`), 0o644))
	r := docker(t, []string{"build2", "bake"}, withDir(dir))
	assert.Equal(t, 1, r.code, r.String())
	noCrash(t, r)
	assert.Contains(t, r.stderr, `additional privileges requested: pass "--allow=fs.read=../shared --allow=fs.write=../out" to grant requested privileges`)
	assert.NoDirExists(t, filepath.Join(root, "out"))

	r = mustSucceed(t, docker(t, []string{"build2", "bake", "--allow=fs.read=../shared", "--allow=fs.write=../out"}, withDir(dir)))
	noCrash(t, r)
	assert.Equal(t, "shared-file", readFile(t, filepath.Join(root, "out", "f")))
	mustSucceed(t, docker(t, []string{"build2", "bake"}, withDir(dir), withEnv("BUILDX_BAKE_ENTITLEMENTS_FS=0")))

	r = docker(t, []string{"build2", "bake", "hostnet"}, withDir(dir))
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, `pass "--allow=network.host"`)
	mustSucceed(t, docker(t, []string{"build2", "bake", "--allow", "network.host", "hostnet"}, withDir(dir)))
}

// TestBakeCheck: --check runs each target's lint rules instead of
// building it and fails on violations, as buildx bake --check.
func TestBakeCheck(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl": "target \"default\" {\n  output = [\"type=local,dest=out\"]\n}\n",
		"Dockerfile":      dockerfile("FROM {{BASE}} as build\nRUN echo never-run-by-a-check\n"),
	})
	r := docker(t, []string{"build2", "bake", "--check"}, withDir(dir))
	assert.Equal(t, 1, r.code, r.String())
	noCrash(t, r)
	assert.Contains(t, r.stdout+r.stderr, "FromAsCasing")
	assert.NotContains(t, r.stderr, "never-run-by-a-check\n#", "nothing built")
	assert.NoDirExists(t, filepath.Join(dir, "out"))
}

// TestBakeAttestationFlags: --provenance=false and --sbom=false, which CI
// scripts pass to keep buildx from attaching attestations, are accepted:
// docker-build2 attaches none; asking for one is refused until it does.
func TestBakeAttestationFlags(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{"docker-bake.hcl": "target \"default\" {\n  dockerfile-inline = \"FROM scratch\\n\"\n}\n"})
	mustSucceed(t, docker(t, []string{"build2", "bake", "--provenance=false", "--sbom=false"}, withDir(dir)))
	mustSucceed(t, docker(t, []string{"build2", "bake", "--provenance=mode=max"}, withDir(dir)))
	r := docker(t, []string{"build2", "bake", "--provenance=mode=full"}, withDir(dir))
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, "provenance mode is min or max")
}

// TestBakeMultiPlatformContext: a target of two platforms used as another
// two-platform target's context gives each platform its own base.
func TestBakeMultiPlatformContext(t *testing.T) {
	requireArm64(t)
	dir := writeFiles(t, map[string]string{
		"docker-bake.hcl": `
target "base" {
  dockerfile = "base.Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
}
target "default" {
  contexts  = { base = "target:base" }
  platforms = ["linux/amd64", "linux/arm64"]
  tags      = ["` + world.reg.host + `/bake/multi:1"]
  output    = ["type=registry"]
}
`,
		"base.Dockerfile": dockerfile("FROM {{BASE}}\nRUN uname -m > /base-arch\n"),
		"Dockerfile":      "FROM base\nRUN cp /base-arch /app-saw\n",
	})
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "bake"}, withDir(dir))))
	idx, _, err := world.reg.getManifest("bake/multi", "1")
	require.NoError(t, err)
	require.Len(t, imageDescs(idx.Manifests), 2)
	seen := map[string]string{}
	for _, m := range imageDescs(idx.Manifests) {
		img := world.reg.image(t, "bake/multi", m.Digest)
		seen[m.Platform.Architecture] = strings.TrimSpace(img.files["app-saw"])
	}
	assert.Equal(t, map[string]string{"amd64": "x86_64", "arm64": "aarch64"}, seen)
}

// TestBakeRemoteBuilder: the same definition on a buildkitd (--builder):
// the target context crosses the session as an OCI layout.
func TestBakeRemoteBuilder(t *testing.T) {
	requireE2E(t)
	sock := filepath.Join(t.TempDir(), "bk.sock")
	startBuildkitd(t, "unix://"+sock)
	dir := bakeProject(t)
	r := mustSucceed(t, docker(t, []string{"build2", "bake", "--builder", "unix://" + sock, "--set", "app.tags=" + world.reg.host + "/bake/remote:1", "app"}, withDir(dir)))
	noCrash(t, r)
	img := world.reg.image(t, "bake/remote", "1")
	assert.Equal(t, "from-base\n", img.files["base.txt"])
	assert.Equal(t, "hello from app\n", img.files["app.txt"])
}

// TestBakeTargetAttributes: a target's run attributes reach its build as
// the matching flags do: secret, network, shm-size, ulimits,
// no-cache-filter, extra-hosts, annotations, dockerfile-inline.
func TestBakeTargetAttributes(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"token.txt": "bake-secret-value",
		"docker-bake.hcl": `
target "default" {
  description       = "every run attribute"
  dockerfile-inline = <<EOT
FROM ` + base() + ` AS probe
RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -c1-16 > /secret-sum
RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ' ' > /ifaces
RUN df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2 > /shm-kb && ulimit -n > /nofile
RUN grep the-db /etc/hosts | cut -f1 > /db-ip
FROM scratch
COPY --from=probe /secret-sum /ifaces /shm-kb /nofile /db-ip /
EOT
  secret      = ["id=token,src=token.txt"]
  network     = "none"
  shm-size    = "128m"
  ulimits     = ["nofile=1024:2048"]
  extra-hosts = { the-db = "10.1.2.3" }
  annotations = ["org.opencontainers.image.title=attrs"]
  output      = ["type=oci,dest=out.tar"]
}
`,
	})
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "bake"}, withDir(dir))))
	files, annotations := ociImage(t, filepath.Join(dir, "out.tar"))
	assert.Equal(t, "attrs", annotations["org.opencontainers.image.title"])
	sum := sha256.Sum256([]byte("bake-secret-value"))
	assert.Equal(t, hex.EncodeToString(sum[:])[:16], strings.TrimSpace(files["secret-sum"]), "the secret file is mounted")
	assert.Equal(t, "lo", strings.TrimSpace(files["ifaces"]), "network none")
	assert.Equal(t, "131072", strings.TrimSpace(files["shm-kb"]))
	assert.Equal(t, "1024", strings.TrimSpace(files["nofile"]))
	assert.Equal(t, "10.1.2.3", strings.TrimSpace(files["db-ip"]))
	assert.NotContains(t, strings.Join(slices.Collect(maps.Values(files)), ""), "bake-secret-value")
}

// ociImage reads a single-image OCI tarball: the regular files of its
// layers (later layers win) and its manifest's annotations.
func ociImage(t *testing.T, path string) (map[string]string, map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	entries := tarEntries(t, f)
	blob := func(d string) []byte {
		b, ok := entries["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]
		require.True(t, ok, "blob %s missing", d)
		return b
	}
	var idx manifest
	require.NoError(t, json.Unmarshal(entries["index.json"], &idx))
	require.Len(t, idx.Manifests, 1)
	var m struct {
		manifest
		Annotations map[string]string `json:"annotations"`
	}
	require.NoError(t, json.Unmarshal(blob(idx.Manifests[0].Digest), &m))
	files := map[string]string{}
	for _, l := range m.Layers {
		fs, err := layerFiles(blob(l.Digest))
		require.NoError(t, err)
		maps.Copy(files, fs)
	}
	return files, m.Annotations
}

// TestBakeRemoteTarball: the definition is an HTTP(S) tarball, its
// targets' default context the tarball itself.
func TestBakeRemoteTarball(t *testing.T) {
	requireE2E(t)
	tgz := tarGz(t, map[string]string{
		"docker-bake.hcl":  "target \"default\" {\n  output = [\"type=local,dest=out\"]\n}\n",
		"Dockerfile":       "FROM scratch\nCOPY from-tarball.txt /\n",
		"from-tarball.txt": "in-the-tarball",
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(tgz) }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "bake", srv.URL + "/def.tar.gz"}, withDir(dir))))
	assert.Equal(t, "in-the-tarball", readFile(t, filepath.Join(dir, "out", "from-tarball.txt")))
}
