package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The policies below are those of Docker's build policies guide, with the
// guide's registries, servers and repositories swapped for the test
// world's: the local registry, an HTTPS server and git daemons started
// here.

// registryPolicy allows images from one registry host only, and the local
// context (the Dockerfile itself is a local source).
const registryPolicy = `package docker

default allow := false

allow if input.local

allow if input.image.host == "{{HOST}}"

deny_msg contains msg if {
	input.image
	not allow
	msg := sprintf("image %s is not from an approved registry", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`

// policyBuild runs docker build2 with a state dir of its own, so that the
// embedded solver is this process's (with its environment).
func policyBuild(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return docker(t, append([]string{"build2"}, args...), withEnv(append([]string{"DOCKER_BUILD2_ROOT=" + t.TempDir()}, env...)...))
}

// TestPolicyRegistryAllowList: an image from the allowed registry builds;
// one from another registry is denied before any RUN step runs, with the
// policy's message, on the embedded and on a remote builder.
func TestPolicyRegistryAllowList(t *testing.T) {
	requireE2E(t)
	rego := strings.ReplaceAll(registryPolicy, "{{HOST}}", world.reg.host)
	allowed := writeFiles(t, map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nRUN echo policy-allowed-ran | tee /ran.txt\nFROM scratch\nCOPY --from=0 /ran.txt /\n"),
		"Dockerfile.rego": rego,
	})
	// The first stage's RUN does not depend on the denied image: only a
	// check before any step keeps it from running.
	denied := writeFiles(t, map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}} AS ok\nRUN echo policy-denied-ran | tee /ran.txt\nFROM 127.0.0.2:5999/other/image:1.0\nCOPY --from=ok /ran.txt /\n"),
		"Dockerfile.rego": rego,
	})
	builders := map[string]func(t *testing.T) []string{
		"embedded": func(*testing.T) []string { return nil },
		"remote": func(t *testing.T) []string {
			t.Helper()
			sock := filepath.Join(t.TempDir(), "buildkitd.sock")
			startBuildkitd(t, "unix://"+sock)
			return []string{"--builder", "unix://" + sock}
		},
	}
	for name, builder := range builders {
		t.Run(name, func(t *testing.T) {
			extra := builder(t)
			out := t.TempDir()
			// strict=true: the builder must apply the policy session
			// (a remote daemon is asked for it).
			r := mustSucceed(t, policyBuild(t, nil, append(extra, "--progress=plain", "--policy", "strict=true", "-o", out, allowed)...))
			assert.Equal(t, "policy-allowed-ran", readFile(t, filepath.Join(out, "ran.txt")))
			assert.Regexp(t, `(?m)^#\d+ \d+\.\d+ policy-allowed-ran$`, r.stderr, "a RUN step's output, as the denied build's check looks for it")
			assert.Contains(t, r.stderr, "loading policies "+filepath.Join(allowed, "Dockerfile.rego"))
			assert.Contains(t, r.stderr, "checking policy for source docker-image://"+base()+":latest (linux/amd64)")
			assert.Contains(t, r.stderr, "policy decision for source docker-image://"+base()+":latest (linux/amd64): ALLOW")

			r = policyBuild(t, nil, append(extra, "--progress=plain", "-o", t.TempDir(), denied)...)
			noCrash(t, r)
			require.Equal(t, 1, r.code, "%s", r)
			assert.Contains(t, r.stderr, "Policy: image 127.0.0.2:5999/other/image:1.0 is not from an approved registry\n")
			assert.Contains(t, r.stderr, "policy decision for source docker-image://127.0.0.2:5999/other/image:1.0 (linux/amd64): DENY")
			assert.Contains(t, r.stderr, `ERROR: failed to build: failed to solve: 127.0.0.2:5999/other/image:1.0: failed to resolve source metadata for 127.0.0.2:5999/other/image:1.0: could not resolve image due to policy: source "docker-image://127.0.0.2:5999/other/image:1.0" not allowed by policy: action DENY`)
			// No step of the first stage started: neither its base image
			// nor its RUN appear as steps.
			assert.NotRegexp(t, `(?m)^#\d+ \[ok `, r.stderr, "no step of the allowed stage started")
			assert.NotRegexp(t, `(?m)^#\d+ \d+\.\d+ policy-denied-ran$`, r.stderr, "the RUN step printed nothing: it did not run")
		})
	}
}

// TestPolicyPinnedDownload: ADD from an HTTPS server builds while the file
// has the checksum the policy pins; once the file changes, the policy
// denies it with its own message.
func TestPolicyPinnedDownload(t *testing.T) {
	requireE2E(t)
	var content atomic.Value
	content.Store("tool v1\n")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tool.txt" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(content.Load().(string)))
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	host := strings.TrimPrefix(srv.URL, "https://")
	pinned := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("tool v1\n")))
	project := writeFiles(t, map[string]string{
		"Dockerfile": "FROM scratch\nADD " + srv.URL + "/tool.txt /tool.txt\n",
		"Dockerfile.rego": `package docker

default allow := false

allow if input.local

allow if {
	input.http.host == "` + host + `"
	input.http.checksum == "` + pinned + `"
}

deny_msg contains msg if {
	input.http
	not allow
	msg := sprintf("%s does not match its pinned checksum", [input.http.url])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`,
	})
	// The solver checks the server's certificate against SSL_CERT_FILE.
	env := []string{"SSL_CERT_FILE=" + ca}
	out := t.TempDir()
	mustSucceed(t, policyBuild(t, env, "-o", out, project))
	assert.Equal(t, "tool v1", readFile(t, filepath.Join(out, "tool.txt")))

	content.Store("tool v1, tampered\n")
	r := policyBuild(t, env, "--no-cache", "-o", t.TempDir(), project)
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Policy: "+srv.URL+"/tool.txt does not match its pinned checksum\n")
}

// TestPolicyGitSource: a Git source is allowed from the approved host
// only, its branch (metadata the solver resolves for the policy) checked
// too.
func TestPolicyGitSource(t *testing.T) {
	requireE2E(t)
	approved := gitDaemon(t, map[string]string{"src.txt": "approved source"})
	other := gitDaemon(t, map[string]string{"src.txt": "other source"})
	approvedHost := strings.Split(strings.TrimPrefix(approved, "git://"), "/")[0]
	rego := `package docker

default allow := false

allow if input.local

allow if {
	input.git.host == "` + approvedHost + `"
	input.git.branch == "main"
}

deny_msg contains msg if {
	input.git
	not allow
	msg := sprintf("git source %s is not approved", [input.git.remote])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`
	out := t.TempDir()
	mustSucceed(t, policyBuild(t, nil, "-o", out, writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\nADD " + approved + " /src\n",
		"Dockerfile.rego": rego,
	})))
	assert.Equal(t, "approved source", readFile(t, filepath.Join(out, "src", "src.txt")))

	r := policyBuild(t, nil, "-o", t.TempDir(), writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\nADD " + other + " /src\n",
		"Dockerfile.rego": rego,
	}))
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	remote := strings.TrimSuffix(other, "#main")
	assert.Contains(t, r.stderr, "Policy: git source "+remote+" is not approved\n")

	// A Git context's own Dockerfile.rego is its policy, read through the
	// builder; a repository without one builds as before.
	ownPolicy := gitDaemon(t, map[string]string{
		"Dockerfile":      "FROM scratch\nCOPY src.txt /\n",
		"src.txt":         "x",
		"Dockerfile.rego": "package docker\n\ndecision := {\"allow\": false, \"deny_msg\": {\"the repository's policy denies every source\"}}\n",
	})
	r = policyBuild(t, nil, "--progress=plain", "-o", t.TempDir(), ownPolicy)
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "loading policies Dockerfile.rego")
	assert.Contains(t, r.stderr, "Policy: the repository's policy denies every source\n")
	// So it is with buildx's built-in policy on, which comes first.
	r = policyBuild(t, []string{"BUILDX_DEFAULT_POLICY=1"}, "--progress=plain", "-o", t.TempDir(), ownPolicy)
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "loading policies buildx_default_policy.rego, Dockerfile.rego")
	assert.Contains(t, r.stderr, "Policy: the repository's policy denies every source\n")
	out = t.TempDir()
	mustSucceed(t, policyBuild(t, nil, "-o", out, gitDaemon(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY src.txt /\n", "src.txt": "no policy"})))
	assert.Equal(t, "no policy", readFile(t, filepath.Join(out, "src.txt")))
}

// TestPolicyStrictCI: a CI policy from the current directory (cwd://),
// replacing the Dockerfile's own, denies local contexts in strict mode:
// the same build passes from Git, and fails from a checkout.
func TestPolicyStrictCI(t *testing.T) {
	requireE2E(t)
	ciDir := writeFiles(t, map[string]string{"ci.rego": `package docker

default allow := false

allow if input.image

allow if input.git

deny_msg contains msg if {
	input.local
	msg := "CI builds from Git only: local context not allowed"
}

decision := {"allow": allow, "deny_msg": deny_msg}
`})
	files := map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nCOPY app.txt /app.txt\n"),
		"app.txt":         "app",
		"Dockerfile.rego": "package docker\n\ndecision := {\"allow\": true}\n",
	}
	ci := []string{"--policy", "reset=true,filename=cwd://ci.rego,strict=true"}

	r := docker(t, append(append([]string{"build2"}, ci...), "-o", t.TempDir(), writeFiles(t, files)), withDir(ciDir))
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Policy: CI builds from Git only: local context not allowed\n")

	out := t.TempDir()
	mustSucceed(t, docker(t, append(append([]string{"build2"}, ci...), "-o", out, gitDaemon(t, files)), withDir(ciDir)))
	assert.Equal(t, "app", readFile(t, filepath.Join(out, "app.txt")))

	// The Dockerfile's own policy alone allows the checkout.
	mustSucceed(t, build2(t, "-o", t.TempDir(), writeFiles(t, files)))
	// --policy disabled=true turns policies off, and goes with nothing else.
	mustSucceed(t, docker(t, []string{"build2", "--policy", "disabled=true", "-o", t.TempDir(), writeFiles(t, files)}, withDir(ciDir)))
	r = build2(t, "--policy", "disabled=true,strict=true", writeFiles(t, files))
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "ERROR: failed to build: disabled policy cannot be combined with other policy flags\n")
	r = build2(t, "--policy", "filename=missing.rego", writeFiles(t, files))
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "ERROR: failed to build: policy file missing.rego not found\n")
	// strict=true requires a policy: one gone missing fails the build
	// before any step runs, on a local context and a Git one alike.
	bare := map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo strict-ran\n")}
	for _, ctx := range []string{writeFiles(t, bare), gitDaemon(t, bare)} {
		r = build2(t, "--progress=plain", "--policy", "strict=true", ctx)
		assert.Equal(t, 1, r.code, "%s", r)
		assert.Contains(t, r.stderr, "ERROR: failed to build: --policy strict=true: no policy found (no Dockerfile.rego beside the Dockerfile, no filename= given): add the policy, or drop strict=true\n")
		assert.NotContains(t, r.stderr, "strict-ran")
	}
	r = build2(t, "--policy", "strict=maybe", writeFiles(t, files))
	assert.Equal(t, 125, r.code, "%s", r)
	assert.Equal(t, "ERROR: --policy strict=maybe: strict=maybe: not a boolean: use true or false\n", r.stderr)
}

// TestPolicyImageLabels: a policy reads an image's config (its labels),
// which the solver resolves for it; the debug log level shows the input.
func TestPolicyImageLabels(t *testing.T) {
	requireE2E(t)
	ref := world.reg.host + "/policy/labelled:1"
	mustSucceed(t, build2(t, "--push", "-t", ref, writeFiles(t, map[string]string{
		"Dockerfile": dockerfile("FROM {{BASE}}\nLABEL org.opencontainers.image.vendor=trusted\n"),
	})))
	rego := `package docker

default allow := false

allow if input.local

allow if input.image.labels["org.opencontainers.image.vendor"] == "trusted"

deny_msg contains msg if {
	input.image
	not allow
	msg := sprintf("image %s is not from a trusted vendor", [input.image.ref])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`
	r := mustSucceed(t, policyBuild(t, nil, "--progress=plain", "--policy", "log-level=debug", "-o", t.TempDir(), writeFiles(t, map[string]string{
		"Dockerfile":      "FROM " + ref + "\nCOPY Dockerfile /\n",
		"Dockerfile.rego": rego,
	})))
	assert.Contains(t, r.stderr, `"org.opencontainers.image.vendor": "trusted"`, "the policy input, at debug level")

	r = policyBuild(t, nil, "-o", t.TempDir(), writeFiles(t, map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nCOPY Dockerfile /\n"),
		"Dockerfile.rego": rego,
	}))
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Policy: image "+base()+":latest is not from a trusted vendor\n")
}

// TestPolicyEval: policy eval --print shows the input of a source, as
// buildx does, and policy eval judges one by the Dockerfile's policy.
func TestPolicyEval(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\n",
		"Dockerfile.rego": strings.ReplaceAll(registryPolicy, "{{HOST}}", world.reg.host),
	})
	eval := func(args ...string) result {
		return docker(t, append([]string{"build2", "policy", "eval"}, args...), withDir(dir))
	}
	r := mustSucceed(t, eval("--print", "."))
	assertGolden(t, "policy-eval-local.golden", r.stdout)

	r = mustSucceed(t, eval("--print", "https://example.com/tool.tgz"))
	assertGolden(t, "policy-eval-http.golden", r.stdout)
	assert.Equal(t, "INFO: unresolved fields: http.checksum\n", r.stderr)

	r = mustSucceed(t, eval("--print", "--platform", "linux/amd64", "docker-image://"+base()))
	assert.Equal(t, `{
  "image": {
    "ref": "`+base()+`:latest",
    "host": "`+world.reg.host+`",
    "repo": "`+base()+`",
    "fullRepo": "`+base()+`",
    "tag": "latest",
    "platform": "linux/amd64",
    "os": "linux",
    "arch": "amd64"
  }
}
`, r.stdout)
	assert.Equal(t, "INFO: unresolved fields: image.checksum, image.env, image.hasProvenance, image.labels, image.provenance, image.signatures, image.user, image.volumes, image.workingDir\n", r.stderr)
	// --fields resolves the image's config on the builder.
	r = mustSucceed(t, eval("--print", "--platform", "linux/amd64", "--fields", "image.labels", "docker-image://"+base()))
	var in struct {
		Image map[string]any `json:"image"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &in), r.stdout)
	assert.Equal(t, base()+":latest", in.Image["ref"])
	assert.Contains(t, in.Image, "checksum", "the manifest was resolved")
	assert.Contains(t, in.Image, "env", "the config was resolved")

	mustSucceed(t, eval("docker-image://"+base()))
	r = eval("docker-image://127.0.0.2:5999/other/image:1.0")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "ERROR: policy denied: image 127.0.0.2:5999/other/image:1.0 is not from an approved registry\n", r.stderr)
	r = eval("-f", "nope", ".")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "ERROR: failed to read policy file nope.rego: open nope.rego: no such file or directory\n", r.stderr)
	r = eval("--print", "/nonexistent")
	assert.Equal(t, "ERROR: invalid local path /nonexistent: stat /nonexistent: no such file or directory\n", r.stderr)
}

// TestPolicyTest: policy test runs the _test.rego files and reports each
// test as buildx does, exiting 1 when one fails.
func TestPolicyTest(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile":      "FROM scratch\n",
		"Dockerfile.rego": strings.ReplaceAll(registryPolicy, "{{HOST}}", "registry.example.com"),
		"Dockerfile_test.rego": `package docker

test_local_allowed if {
	allow with input as {"local": {"name": "context"}}
}

test_other_registry_denied if {
	not allow with input as {"image": {"ref": "evil.example.com/app:1", "host": "evil.example.com", "repo": "app", "tag": "1"}}
}

test_other_registry_allowed if {
	allow with input as {"image": {"ref": "evil.example.com/app:1", "host": "evil.example.com", "repo": "app", "tag": "1"}}
}
`,
	})
	test := func(args ...string) result {
		return docker(t, append([]string{"build2", "policy", "test"}, args...), withDir(dir))
	}
	r := mustSucceed(t, test("--run", "local", "."))
	assert.Equal(t, "test_local_allowed: PASS (allow=true)\n", r.stdout)

	r = test(".")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Empty(t, r.stderr)
	assert.Equal(t, `test_local_allowed: PASS (allow=true)
test_other_registry_allowed: FAIL (allow=false, deny_msg=image evil.example.com/app:1 is not from an approved registry)
input:
{
  "image": {
    "ref": "evil.example.com/app:1",
    "host": "evil.example.com",
    "repo": "evil.example.com/app",
    "fullRepo": "evil.example.com/app",
    "tag": "1",
    "platform": "linux/amd64",
    "os": "linux",
    "arch": "amd64"
  }
}
decision:
{
  "allow": false,
  "deny_msg": [
    "image evil.example.com/app:1 is not from an approved registry"
  ]
}
missing_input: input.local
test_other_registry_denied: PASS (allow=false, deny_msg=image evil.example.com/app:1 is not from an approved registry)
`, r.stdout)

	r = test("--run", "nothing", ".")
	assert.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "ERROR: no tests found\n", r.stderr)
}

// TestPolicyBake: each bake target builds under its own policy attribute;
// bake's global --policy adds settings to all of them.
func TestPolicyBake(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile": dockerfile("FROM {{BASE}}\nCOPY Dockerfile /\n"),
		"allow.rego": strings.ReplaceAll(registryPolicy, "{{HOST}}", world.reg.host),
		"deny.rego":  strings.ReplaceAll(registryPolicy, "{{HOST}}", "registry.example.com"),
		"docker-bake.hcl": `target "trusted" {
  output = ["type=cacheonly"]
  policy = ["filename=allow.rego"]
}

target "untrusted" {
  inherits = ["trusted"]
  policy = [{ reset = true, filename = "deny.rego" }]
}
`,
	})
	bake := func(args ...string) result {
		return docker(t, append([]string{"build2", "bake", "--progress=plain"}, args...), withDir(dir), withEnv("DOCKER_BUILD2_ROOT="+t.TempDir()))
	}
	r := mustSucceed(t, bake("trusted"))
	assert.Contains(t, r.stderr, "loading policies allow.rego")
	r = bake("--policy", "log-level=debug", "untrusted")
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "loading policies deny.rego")
	assert.Contains(t, r.stderr, "policy input: {", "the global --policy log-level")
	assert.Contains(t, r.stderr, "Policy: image "+base()+":latest is not from an approved registry\n")
	r = bake("--policy", "filename=x.rego", "trusted")
	assert.Equal(t, 125, r.code, "%s", r)
	assert.Contains(t, r.stderr, "bake's --policy does not accept filename")
}

// TestPolicyMultiNode: a build split across the nodes of a named builder
// is checked on each node: the allowed one is merged into one index, the
// denied one fails with the policy's message.
func TestPolicyMultiNode(t *testing.T) {
	requireArm64(t)
	dir := t.TempDir()
	amdSock, armSock := filepath.Join(dir, "amd.sock"), filepath.Join(dir, "arm.sock")
	startBuildkitd(t, "unix://"+amdSock)
	startBuildkitd(t, "unix://"+armSock)
	cfg := aliasConfig(t)
	run := func(args ...string) result {
		t.Helper()
		return docker(t, append([]string{"build2"}, args...), cfg)
	}
	mustSucceed(t, run("builder", "create", "policyfleet", "--node", "amd=unix://"+amdSock, "--platform", "linux/amd64",
		"--node", "arm=unix://"+armSock, "--platform", "linux/arm64"))
	rego := strings.ReplaceAll(registryPolicy, "{{HOST}}", world.reg.host)
	ref := world.reg.host + "/e2e/policy-fleet:1"
	r := mustSucceed(t, run("--builder", "policyfleet", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", "--progress=plain", writeFiles(t, map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nRUN uname -m > /m.txt\n"),
		"Dockerfile.rego": rego,
	})))
	assert.Contains(t, r.stderr, "[linux/arm64] loading policies")
	assert.Contains(t, r.stderr, "[linux/amd64] loading policies")
	idx, _, err := world.reg.getManifest("e2e/policy-fleet", "1")
	require.NoError(t, err)
	assert.Len(t, imageDescs(idx.Manifests), 2, "one index with both platforms")

	r = run("--builder", "policyfleet", "--platform", "linux/amd64,linux/arm64", "-t", ref+"-denied", "--push", writeFiles(t, map[string]string{
		"Dockerfile":      "FROM 127.0.0.2:5999/other/image:1.0\nRUN uname -m > /m.txt\n",
		"Dockerfile.rego": rego,
	}))
	noCrash(t, r)
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Policy: image 127.0.0.2:5999/other/image:1.0 is not from an approved registry\n")
}

// TestPolicyRecipes runs each recipe of docs/policy.md: the files of a
// section (named on their first line) in a directory, then its commands
// through docker build and docker bake, with alpine from the local
// registry through a mirror. A command block starting with "# Denied" must
// fail with the policy's message; the others must succeed.
func TestPolicyRecipes(t *testing.T) {
	requireE2E(t)
	doc := filepath.Join("..", "docs", "policy.md")
	files := map[string]map[string]string{}
	for _, lang := range []string{"dockerfile", "rego", "hcl"} {
		for _, b := range fencedBlocks(t, doc, lang) {
			first, _, _ := strings.Cut(b.script, "\n")
			name, ok := strings.CutPrefix(first, "# ")
			require.True(t, ok, "docs/policy.md %q: a %s block names its file on its first line", b.section, lang)
			if files[b.section] == nil {
				files[b.section] = map[string]string{}
			}
			files[b.section][name] = b.script
		}
	}
	cmds := fencedBlocks(t, doc, "console")
	require.GreaterOrEqual(t, len(files), 5, "docs/policy.md's recipes")
	cfg := aliasConfig(t)
	mustSucceed(t, docker(t, []string{"build2", "install"}, cfg))
	mirror := filepath.Join(t.TempDir(), "daemon.json")
	require.NoError(t, os.WriteFile(mirror, []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))
	for section, fs := range files {
		t.Run(section, func(t *testing.T) {
			dir := writeFiles(t, fs)
			n := 0
			for _, c := range cmds {
				if c.section != section {
					continue
				}
				n++
				cmd := exec.Command("bash", "-eo", "pipefail", "-c", c.script)
				cmd.Dir = dir
				cmd.Env = append(baseEnv(),
					"PATH="+filepath.Dir(world.docker)+":"+os.Getenv("PATH"),
					"DOCKER_BUILD2_DAEMON_CONFIG="+mirror,
				)
				cfg(cmd)
				out, err := cmd.CombinedOutput()
				noCrash(t, result{stderr: string(out)})
				if strings.HasPrefix(c.script, "# Denied") {
					require.Error(t, err, "docs/policy.md %q: the build is denied:\n%s\n--- output\n%s", section, c.script, out)
					assert.Contains(t, string(out), "\nPolicy: ", "the policy's message")
					continue
				}
				require.NoError(t, err, "docs/policy.md %q:\n%s\n--- output\n%s", section, c.script, out)
			}
			require.Positive(t, n, "the recipe has commands")
		})
	}
}

// TestPolicyLoadJSON: buildx's built-in load_json reads a data file of
// the build context, here the allowed registries.
func TestPolicyLoadJSON(t *testing.T) {
	requireE2E(t)
	rego := `package docker

registries := load_json("policy/registries.json")

default allow := false

allow if input.local

allow if input.image.host in registries.allowed

deny_msg contains msg if {
	input.image
	not allow
	msg := sprintf("registry %s is not in policy/registries.json", [input.image.host])
}

decision := {"allow": allow, "deny_msg": deny_msg}
`
	files := map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nCOPY Dockerfile /\n"),
		"Dockerfile.rego": rego,
	}
	files["policy/registries.json"] = `{"allowed": ["` + world.reg.host + `"]}`
	mustSucceed(t, policyBuild(t, nil, "-o", t.TempDir(), writeFiles(t, files)))
	files["policy/registries.json"] = `{"allowed": ["registry.example.com"]}`
	r := policyBuild(t, nil, "-o", t.TempDir(), writeFiles(t, files))
	require.Equal(t, 1, r.code, "%s", r)
	assert.Contains(t, r.stderr, "Policy: registry "+world.reg.host+" is not in policy/registries.json\n")
}

// TestPolicyDefault: BUILDX_DEFAULT_POLICY=1 puts buildx's built-in policy
// first, which lets images Docker does not ship through to the others;
// --policy disabled=true turns it off too.
func TestPolicyDefault(t *testing.T) {
	requireE2E(t)
	dir := writeFiles(t, map[string]string{
		"Dockerfile":      dockerfile("FROM {{BASE}}\nCOPY Dockerfile /\n"),
		"Dockerfile.rego": strings.ReplaceAll(registryPolicy, "{{HOST}}", world.reg.host),
	})
	env := []string{"BUILDX_DEFAULT_POLICY=1"}
	r := mustSucceed(t, policyBuild(t, env, "--progress=plain", "-o", t.TempDir(), dir))
	assert.Contains(t, r.stderr, "loading policies buildx_default_policy.rego, "+filepath.Join(dir, "Dockerfile.rego"))
	r = mustSucceed(t, policyBuild(t, env, "--progress=plain", "--policy", "disabled=true", "-o", t.TempDir(), dir))
	assert.NotContains(t, r.stderr, "loading policies")
	r = mustSucceed(t, policyBuild(t, nil, "--progress=plain", "-o", t.TempDir(), dir))
	assert.NotContains(t, r.stderr, "buildx_default_policy.rego", "off unless asked for")
}
