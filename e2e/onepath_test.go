package e2e

// The embedded, remote and multi-node builders share one solve path
// (build.Open + build.Run), one progress printer and one place that renders
// errors. These tests hold the three to the same behaviour through the real
// docker CLI: the live TTY view and BuildKit's lint warnings on a builder of
// two nodes, the same warning summary on every kind of builder, the
// process's certs.d for the index a split build pushes, exit codes, and
// --progress=rawjson staying JSON when a non-solver phase reports a step.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lintDockerfile draws exactly one BuildKit lint warning: FromAsCasing
// ("FROM" upper case, "as" lower case).
const lintDockerfile = "FROM {{BASE}} as b\nARG TARGETARCH\nRUN echo lint-$TARGETARCH-$(uname -m) > /l.txt\n"

// lintSummary is the summary the build prints for lintDockerfile.
var lintSummary = []string{" - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"}

// fleet is a named builder "fleet" of two buildkitd nodes, amd (linux/amd64)
// and arm (linux/arm64), in a docker config of its own.
type fleet struct {
	cfg              runOpt // DOCKER_CONFIG holding the builder
	amdSock, armSock string
	amdRoot, armRoot string
}

// startFleet starts the two nodes, each with the extra buildkitd args, and
// creates the builder.
func startFleet(t *testing.T, extra ...string) fleet {
	t.Helper()
	requireArm64(t)
	dir := t.TempDir()
	f := fleet{cfg: aliasConfig(t), amdSock: filepath.Join(dir, "amd.sock"), armSock: filepath.Join(dir, "arm.sock")}
	f.amdRoot = startBuildkitd(t, "unix://"+f.amdSock, extra...)
	f.armRoot = startBuildkitd(t, "unix://"+f.armSock, extra...)
	mustSucceed(t, docker(t, []string{
		"build2", "builder", "create", "fleet",
		"--node", "amd=unix://" + f.amdSock, "--platform", "linux/amd64",
		"--node", "arm=unix://" + f.armSock, "--platform", "linux/arm64",
	}, f.cfg))
	return f
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// inTerminal runs the docker CLI with args with its stdin, stdout and
// stderr on a pseudo-terminal, through util-linux script(1) (Debian's
// bsdutils). The result's stdout is what the terminal showed, carriage
// returns dropped; script -e gives the command's exit code.
func inTerminal(t *testing.T, args []string, opts ...runOpt) result {
	t.Helper()
	scriptBin, err := exec.LookPath("script")
	require.NoError(t, err, "script(1) is not installed (apt-get install bsdutils)")
	words := []string{"exec", shellQuote(world.docker)}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	r := runCmd(t, scriptBin, []string{"-qfec", strings.Join(words, " "), "/dev/null"}, opts...)
	r.stdout = strings.ReplaceAll(r.stdout, "\r", "")
	return r
}

var (
	ansiEscape    = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
	warningHeader = regexp.MustCompile(`^\d+ warnings? found`)
)

// warningLines are the " - " lines of the warning summary the build printed
// last ("N warning(s) found:"), with the header itself.
func warningLines(out string) (string, []string) {
	lines := strings.Split(ansiEscape.ReplaceAllString(out, ""), "\n")
	start := -1
	for i, l := range lines {
		if warningHeader.MatchString(strings.TrimSpace(l)) {
			start = i
		}
	}
	if start < 0 {
		return "", nil
	}
	var got []string
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, " - ") {
			break
		}
		got = append(got, strings.TrimRight(l, " "))
	}
	return strings.TrimSpace(lines[start]), got
}

// TestFleetTTY: a two-platform build split across the two nodes of a
// builder, with stderr on a terminal, draws BuildKit's live TTY view (by
// default and with --progress=tty), shows which node builds what as steps
// of that view, pushes one index, and prints the lint warning summary.
func TestFleetTTY(t *testing.T) {
	f := startFleet(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(lintDockerfile)})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"auto", nil},
		{"tty", []string{"--progress=tty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "e2e/fleet-tty-" + tc.name
			ref := world.reg.host + "/" + repo + ":1"
			args := append([]string{"build2", "--builder", "fleet", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", "--provenance=false"}, tc.args...)
			// No BUILDKIT_PROGRESS: the default is auto.
			r := inTerminal(t, append(args, ctx), f.cfg, withEnv("BUILDKIT_PROGRESS="))
			require.Equal(t, 0, r.code, r.String())
			out := ansiEscape.ReplaceAllString(r.stdout, "")
			assert.Contains(t, out, "[+] Building", "the TTY view's header")
			assert.Regexp(t, `\[\+\] Building \d+\.\d+s \(\d+/\d+\) FINISHED`, out, "the TTY view's final state")
			assert.Regexp(t, `(?m)^ => .*building linux/amd64 on node amd`, out, "the node steps are steps of the TTY view")
			assert.Regexp(t, `(?m)^ => .*building linux/arm64 on node arm`, out)
			assert.NotRegexp(t, `(?m)^#\d+ `, out, "no plain progress")
			head, lines := warningLines(out)
			assert.Equal(t, "1 warning found:", head, out)
			assert.Equal(t, lintSummary, lines, out)
			noCrash(t, result{stderr: out})

			idx, _, err := world.reg.getManifest(repo, "1")
			require.NoError(t, err)
			require.Len(t, idx.Manifests, 2, "one index with both platforms")
			got := map[string]string{}
			for _, d := range idx.Manifests {
				require.NotNil(t, d.Platform)
				got[d.Platform.Architecture] = world.reg.image(t, repo, d.Digest).files["l.txt"]
			}
			assert.Equal(t, map[string]string{"amd64": "lint-amd64-x86_64\n", "arm64": "lint-arm64-aarch64\n"}, got)
		})
	}

	// The terminal is what makes auto draw the TTY view: on a pipe, plain.
	r := mustSucceed(t, docker(t, []string{"build2", "--builder", "fleet", "--platform", "linux/amd64,linux/arm64", "-o", "type=oci,dest=" + filepath.Join(t.TempDir(), "x.tar"), ctx},
		f.cfg, withEnv("BUILDKIT_PROGRESS=")))
	assert.NotContains(t, r.stderr, "[+] Building")
	assert.Regexp(t, `(?m)^#\d+ building linux/arm64 on node arm`, r.stderr)
}

// TestWarningsEveryBuilder: the embedded builder, a remote buildkitd and
// the two-node builder print the same warning summary for the same
// Dockerfile.
func TestWarningsEveryBuilder(t *testing.T) {
	f := startFleet(t)
	sock := filepath.Join(t.TempDir(), "remote.sock")
	startBuildkitd(t, "unix://"+sock)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(lintDockerfile)})
	ref := world.reg.host + "/e2e/fleet-warn:1"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"embedded", []string{"--root", t.TempDir(), "-o", t.TempDir()}},
		{"remote", []string{"--builder", "unix://" + sock, "-o", t.TempDir()}},
		{"fleet", []string{"--builder", "fleet", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustSucceed(t, docker(t, append(append([]string{"build2", "--progress=plain"}, tc.args...), ctx), f.cfg))
			head, lines := warningLines(r.stderr)
			assert.Equal(t, "1 warning found:", head, r.stderr)
			assert.Equal(t, lintSummary, lines, r.stderr)
			noCrash(t, r)
		})
	}
}

// getManifestTLS fetches repo:ref from the HTTPS registry host with cl,
// accepting OCI and Docker media types.
func getManifestTLS(t *testing.T, cl *http.Client, host, repo, ref string) (*manifest, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/v2/"+repo+"/manifests/"+ref, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", strings.Join([]string{
		mediaOCIIndex, mediaOCIManifest,
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := cl.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	var m manifest
	require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	if m.MediaType == "" {
		m.MediaType = resp.Header.Get("Content-Type")
	}
	return &m, resp.StatusCode
}

// TestFleetIndexPushUsesCertsDir: the nodes of a split build push their
// images with their own registry configuration; the index that joins them
// is pushed by docker-build2 itself, with the process's certs.d.
func TestFleetIndexPushUsesCertsDir(t *testing.T) {
	requireArm64(t)
	pki := tlsPKI(t)
	host := startTLSRegistry(t, pki["server.pem"], pki["server-key.pem"])
	bkCfg := filepath.Join(t.TempDir(), "buildkitd.toml")
	// http = false: buildkitd reaches a loopback registry over plain HTTP
	// unless told otherwise.
	require.NoError(t, os.WriteFile(bkCfg, []byte(fmt.Sprintf("[registry.%q]\n  http = false\n  ca = [%q]\n", host, pki["ca.pem"])), 0o644))
	f := startFleet(t, "--config", bkCfg)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nARG TARGETARCH\nRUN echo tls-$TARGETARCH > /t.txt\n")})
	const repo = "e2e/fleet-tls"
	ref := host + "/" + repo + ":1"
	cl := tlsClient(t, pki["ca.pem"])
	build := func(certs string) result {
		t.Helper()
		return docker(t, []string{"build2", "--builder", "fleet", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", "--progress=plain", ctx},
			f.cfg, withEnv("DOCKER_BUILD2_CERTS_DIR="+certs))
	}

	// The nodes push their images (they trust the CA); the index push is
	// the process's, and fails without the CA in its certs.d. With no
	// certs.d entry at all, a loopback registry is reached over plain HTTP
	// (as BuildKit does), which the HTTPS registry refuses.
	certs := t.TempDir()
	r := build(certs)
	assert.Equal(t, 1, r.code, r.String())
	assert.Regexp(t, `(?m)^ERROR: .*`+regexp.QuoteMeta(ref), r.stderr, "the error names the index's reference")
	assert.Contains(t, r.stderr, "building linux/arm64 on node arm", "the nodes built")
	noCrash(t, r)
	_, code := getManifestTLS(t, cl, host, repo, "1")
	assert.Equal(t, http.StatusNotFound, code, "no index was pushed")

	// A certs.d entry without the CA: TLS with the system roots, which do
	// not trust the registry's certificate.
	require.NoError(t, os.MkdirAll(filepath.Join(certs, host), 0o755))
	r = build(certs)
	assert.Equal(t, 1, r.code, r.String())
	assert.Regexp(t, `(?m)^ERROR: .*`+regexp.QuoteMeta(host)+`.*x509: certificate signed by unknown authority`, r.stderr, "an x509 error naming the registry")
	noCrash(t, r)
	_, code = getManifestTLS(t, cl, host, repo, "1")
	assert.Equal(t, http.StatusNotFound, code, "no index was pushed")

	// The CA as <certs>/<host>/ca.crt, as docker reads it.
	caPEM, err := os.ReadFile(pki["ca.pem"])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(certs, host, "ca.crt"), caPEM, 0o644))
	r = mustSucceed(t, build(certs))
	noCrash(t, r)
	idx, code := getManifestTLS(t, cl, host, repo, "1")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, mediaOCIIndex, idx.MediaType)
	archs := map[string]bool{}
	for _, d := range imageDescs(idx.Manifests) {
		require.NotNil(t, d.Platform)
		archs[d.Platform.OS+"/"+d.Platform.Architecture] = true
		m, code := getManifestTLS(t, cl, host, repo, d.Digest)
		require.Equal(t, http.StatusOK, code, "the node pushed %s", d.Digest)
		assert.NotEmpty(t, m.Layers)
	}
	assert.Equal(t, map[string]bool{"linux/amd64": true, "linux/arm64": true}, archs)
}

// holdLock takes root's state-dir lock in the test process, as a
// docker-build2 process that holds the state dir does, until the test ends.
func holdLock(t *testing.T, root string) {
	t.Helper()
	fd, err := os.OpenFile(filepath.Join(root, "buildkitd.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { _ = fd.Close() })
	require.NoError(t, syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
}

// TestCacheCommandsSignalled: prune and du wait for a state dir another
// process holds, saying so, and exit 143 on SIGTERM (130 on SIGINT) while
// they wait: run as the plugin binary, and through docker with the signal
// sent to the process group, as a terminal or a service manager sends it.
// (Through docker, the CLI also closes the plugin's socket on the signal,
// which cancels the plugin's context without saying which signal it was:
// the plugin's own signal must still decide the exit code.)
func TestCacheCommandsSignalled(t *testing.T) {
	requireE2E(t)
	for _, sub := range [][]string{{"prune", "-f"}, {"du"}} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			for _, via := range []string{"plugin", "docker"} {
				t.Run(sub[0]+"/"+sig.String()+"/"+via, func(t *testing.T) {
					root := t.TempDir()
					holdLock(t, root)
					args := append(append([]string{}, sub...), "--root", root)
					var cmd *exec.Cmd
					if via == "plugin" {
						cmd = exec.Command(world.plugin, args...)
					} else {
						cmd = exec.Command(world.docker, append([]string{"build2"}, args...)...)
						cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
					}
					cmd.Env = baseEnv()
					out := &syncBuffer{}
					cmd.Stdout, cmd.Stderr = out, out
					require.NoError(t, cmd.Start())
					t.Cleanup(func() { _ = cmd.Process.Kill() })
					waitFor(t, out, "waiting for another docker-build2 process to release "+filepath.Join(root, "buildkitd.lock"))
					time.Sleep(300 * time.Millisecond)
					require.NoError(t, cmd.Process.Signal(syscall.Signal(0)), "still waiting:\n%s", out.String())
					start := time.Now()
					if via == "plugin" {
						require.NoError(t, cmd.Process.Signal(sig))
					} else {
						require.NoError(t, syscall.Kill(-cmd.Process.Pid, sig))
					}
					err := cmd.Wait()
					assert.Equal(t, 128+int(sig), exitCode(err), out.String())
					if via == "plugin" {
						assert.Contains(t, out.String(), "ERROR: interrupted by "+sig.String())
					} else {
						assert.Equal(t, 1, strings.Count(out.String(), "ERROR:"), out.String())
					}
					assert.Less(t, time.Since(start), 5*time.Second, "exit soon after the signal")
					noCrash(t, result{stderr: out.String()})
				})
			}
		}
	}
}

// TestRawJSONNonSolverStep: in rawjson mode every stderr line is one
// BuildKit SolveStatus, the non-solver phases' steps (here the notice that
// the result stays in the build cache) included.
func TestRawJSONNonSolverStep(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo rawjson-step\n")})
	r := mustSucceed(t, build2(t, "--progress=rawjson", "--root", t.TempDir(), ctx))
	found, steps := false, 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var st client.SolveStatus
		require.NoError(t, json.Unmarshal([]byte(l), &st), "not a JSON SolveStatus: %q", l)
		for _, v := range st.Vertexes {
			steps++
			if strings.Contains(v.Name, "only remain in the build cache") {
				found = true
				assert.NotNil(t, v.Completed, "the notice is a finished step")
			}
		}
	}
	assert.True(t, found, "a step says the result only remains in the build cache:\n%s", r.stderr)
	assert.Positive(t, steps)
	assert.Empty(t, r.stdout)
}
