package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretDockerfile = `FROM alpine
RUN --mount=type=secret,id=mysecret cat /run/secrets/mysecret
RUN --mount=type=secret,id=mysecret,dst=/foobar cat /foobar
`

// mirrorConfig writes a daemon.json that makes docker.io resolve to the
// local registry, so documentation examples' FROM alpine work offline.
func mirrorConfig(t *testing.T) string {
	t.Helper()
	dj := filepath.Join(t.TempDir(), "daemon.json")
	require.NoError(t, os.WriteFile(dj, []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))
	return dj
}

// TestSecretDocumentedExample runs Docker's documented --secret example.
func TestSecretDocumentedExample(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": secretDockerfile, "mysecret.txt": "WARMACHINEROX\n"})
	r := mustSucceed(t, docker(t, []string{"build2", "--no-cache", "--progress=plain", "--secret", "id=mysecret,src=mysecret.txt", "."},
		withEnv("DOCKER_BUILD2_DAEMON_CONFIG="+mirrorConfig(t)), withDir(ctx)))
	// The steps print the value: the output shows it masked.
	assert.Regexp(t, `#\d+ \[(stage-0 )?2/3\] RUN --mount=type=secret,id=mysecret cat /run/secrets/mysecret\n#\d+ \d+\.\d+ \*\*\*\n`, r.stderr)
	assert.Regexp(t, `#\d+ \[(stage-0 )?3/3\] RUN --mount=type=secret,id=mysecret,dst=/foobar cat /foobar\n#\d+ \d+\.\d+ \*\*\*\n`, r.stderr)
	assert.NotContains(t, r.stderr, "WARMACHINEROX")
	// Shown for one build on request: the value really is mounted.
	r = mustSucceed(t, docker(t, []string{"build2", "--no-cache", "--progress=plain", "--secret", "id=mysecret,src=mysecret.txt", "."},
		withEnv("DOCKER_BUILD2_DAEMON_CONFIG="+mirrorConfig(t), "DOCKER_BUILD2_SHOW_SECRETS=1"), withDir(ctx)))
	assert.Regexp(t, `#\d+ \[(stage-0 )?2/3\] RUN --mount=type=secret,id=mysecret cat /run/secrets/mysecret\n#\d+ \d+\.\d+ WARMACHINEROX\n`, r.stderr)
	assert.Regexp(t, `#\d+ \[(stage-0 )?3/3\] RUN --mount=type=secret,id=mysecret,dst=/foobar cat /foobar\n#\d+ \d+\.\d+ WARMACHINEROX\n`, r.stderr)
}

func TestSecretForms(t *testing.T) {
	requireE2E(t)
	dj := withEnv("DOCKER_BUILD2_DAEMON_CONFIG=" + mirrorConfig(t))
	ctx := writeFiles(t, map[string]string{
		"Dockerfile": "FROM alpine\n" +
			"RUN --mount=type=secret,id=foo cat /run/secrets/foo\n" +
			"RUN --mount=type=secret,id=MY_ENV cat /run/secrets/MY_ENV\n" +
			"RUN --mount=type=secret,id=MY_FILE cat /run/secrets/MY_FILE\n" +
			"RUN test ! -e /run/secrets/foo && echo not-mounted-elsewhere\n",
		"MY_FILE": "from-shorthand-file",
	})
	r := mustSucceed(t, docker(t, []string{
		"build2", "--no-cache", "--progress=plain",
		"--secret", "id=foo,env=MY_ENV", "--secret", "id=MY_ENV", "--secret", "id=MY_FILE", ".",
	},
		dj, withDir(ctx), withEnv("MY_ENV=from-env-var", "DOCKER_BUILD2_SHOW_SECRETS=1")))
	assert.Regexp(t, `RUN --mount=type=secret,id=foo cat /run/secrets/foo\n#\d+ \d+\.\d+ from-env-var\n`, r.stderr)
	assert.Regexp(t, `RUN --mount=type=secret,id=MY_ENV cat /run/secrets/MY_ENV\n#\d+ \d+\.\d+ from-env-var\n`, r.stderr)
	assert.Regexp(t, `RUN --mount=type=secret,id=MY_FILE cat /run/secrets/MY_FILE\n#\d+ \d+\.\d+ from-shorthand-file\n`, r.stderr)
	assert.Contains(t, r.stderr, "not-mounted-elsewhere")

	// required=true fails clearly when the secret was not given.
	req := writeFiles(t, map[string]string{"Dockerfile": "FROM alpine\nRUN --mount=type=secret,id=needed,required=true cat /run/secrets/needed\n"})
	r = docker(t, []string{"build2", "--progress=plain", req}, dj)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "needed")
	assert.Contains(t, r.stderr, "not found")
}

func TestSecretErrors(t *testing.T) {
	requireE2E(t)
	const value = "S3CR3T-VALUE-NOT-IN-ERRORS"
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte("x"), 600*1024), 0o600))
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown key", []string{"--secret", "id=a,foo=" + value}, []string{"--secret", `unknown key "foo"`}},
		{"missing id", []string{"--secret", "src=x"}, []string{"--secret", "id is missing"}},
		{"missing file", []string{"--secret", "id=a,src=/nonexistent/s"}, []string{"--secret id=a", "/nonexistent/s", "no such file"}},
		{"unset env", []string{"--secret", "id=a,env=UNSET_E2E_VAR"}, []string{"--secret id=a", "UNSET_E2E_VAR is not set"}},
		{"too big", []string{"--secret", "id=big,src=" + big}, []string{"--secret id=big", "limit"}},
		{"duplicate", []string{"--secret", "id=a,env=HOME", "--secret", "id=a,env=HOME"}, []string{"--secret id=a is given more than once"}},
		{"ssh default without agent", []string{"--ssh", "default"}, []string{"--ssh default", "SSH_AUTH_SOCK is not set"}},
		{"ssh not a socket", []string{"--ssh", "x=" + big}, []string{"--ssh x", "neither an agent socket nor a private key"}},
		{"ssh missing path", []string{"--ssh", "x=/nonexistent/agent"}, []string{"--ssh x", "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := docker(t, append(append([]string{"build2"}, tc.args...), ctx), withEnv("SSH_AUTH_SOCK="))
			assert.Equal(t, 125, r.code, r.String())
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			assert.NotContains(t, r.stderr, value)
			noCrash(t, r)
		})
	}
}

// TestSecretNeverPersisted: a secret printed by a RUN step reaches the
// terminal masked, and nothing persistent: not the image layers or config,
// not the exported tarballs, not a cache export, not the state dir (build
// records included).
func TestSecretNeverPersisted(t *testing.T) {
	requireE2E(t)
	const value = "LEAKCHECK-7f3a9c1e-SECRET"
	state := t.TempDir()
	dir := t.TempDir()
	ctx := writeFiles(t, map[string]string{
		"Dockerfile": dockerfile("FROM {{BASE}}\n" +
			"RUN --mount=type=secret,id=tok cat /run/secrets/tok && cat /run/secrets/tok | wc -c > /len.txt\n" +
			"RUN --mount=type=secret,id=tok,env=TOK sh -c 'echo \"env:$TOK\"'\n"),
		"tok.txt": value,
	})
	ociTar := filepath.Join(dir, "img.tar")
	dockerTar := filepath.Join(dir, "img.docker.tar")
	cacheDir := filepath.Join(dir, "cache")
	r := mustSucceed(t, docker(t, []string{
		"build2", "--root", state, "--progress=plain", "--secret", "id=tok,src=" + filepath.Join(ctx, "tok.txt"),
		"-o", "type=oci,dest=" + ociTar, "-o", "type=docker,dest=" + dockerTar,
		"-t", world.reg.host + "/e2e/leak:1", "--push", "--cache-to", "type=local,dest=" + cacheDir + ",mode=max", ctx,
	}))
	assert.NotContains(t, r.stderr, value, "the step's output shows the secret masked")
	assert.Contains(t, r.stderr, "***")

	// The context holds the secret file itself; only what the build wrote
	// is checked.
	for _, p := range []string{ociTar, dockerTar} {
		assertTarClean(t, p, value)
	}
	assertDirClean(t, cacheDir, value)
	assertDirClean(t, state, value)
	top, raw, err := world.reg.getManifest("e2e/leak", "1")
	require.NoError(t, err)
	assert.NotContains(t, string(raw), value)
	// The image and, with the default provenance, its attestation
	// manifest: neither may hold the secret.
	ms := []*manifest{top}
	if top.MediaType == mediaOCIIndex {
		ms = nil
		for _, d := range top.Manifests {
			m, raw, err := world.reg.getManifest("e2e/leak", d.Digest)
			require.NoError(t, err)
			assert.NotContains(t, string(raw), value)
			ms = append(ms, m)
		}
	}
	for _, m := range ms {
		for _, d := range append(m.Layers, m.Config) {
			b, err := world.reg.getBlob("e2e/leak", d.Digest)
			require.NoError(t, err)
			assert.NotContains(t, string(decompress(t, b)), value, "registry blob %s", d.Digest)
		}
	}
}

func decompress(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		out, err := io.ReadAll(zr)
		require.NoError(t, err)
		return out
	}
	return b
}

// assertTarClean greps every entry of a tarball, nested layer tars
// decompressed, for value.
func assertTarClean(t *testing.T, path, value string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		assert.NotContains(t, string(decompress(t, b)), value, "%s: %s", path, h.Name)
		n++
	}
	require.Positive(t, n, "%s is empty", path)
}

func assertDirClean(t *testing.T, dir, value string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		assert.NotContains(t, string(decompress(t, b)), value, "%s", p)
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, n, "%s has no files", dir)
}

// TestSSHForwarding runs the documented --ssh forms with a real ssh-agent
// and checks from inside the step that the agent holds the key.
func TestSSHForwarding(t *testing.T) {
	requireE2E(t)
	for _, b := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		_, err := exec.LookPath(b)
		require.NoError(t, err, "openssh-client is needed (apt-get install openssh-client)")
	}
	dir := t.TempDir()
	// A static helper that lists an agent's keys, like ssh-add -l.
	helper := filepath.Join(dir, "ctx", "agentlist")
	build := exec.Command("go", "build", "-o", helper, "./testdata/agentlist")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	key := filepath.Join(dir, "id_ed25519")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key).Output()
	require.NoError(t, err)
	fingerprint := strings.Fields(string(fp))[1]
	otherKey := filepath.Join(dir, "id_other")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fp, err = exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", otherKey).Output()
	require.NoError(t, err)
	otherFingerprint := strings.Fields(string(fp))[1]

	sock := filepath.Join(dir, "agent.sock")
	agentCmd := exec.Command("ssh-agent", "-D", "-a", sock)
	require.NoError(t, agentCmd.Start())
	t.Cleanup(func() { _ = agentCmd.Process.Kill(); _ = agentCmd.Wait() })
	waitForSocket(t, sock)
	addCmd := exec.Command("ssh-add", key)
	addCmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err = addCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ctx := filepath.Dir(helper)
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile(`FROM {{BASE}}
COPY agentlist /bin/agentlist
RUN --mount=type=ssh agentlist
RUN --mount=type=ssh,id=main agentlist
RUN --mount=type=ssh,id=keys agentlist
RUN test -z "$SSH_AUTH_SOCK" && echo no-agent-without-mount
`)), 0o644))
	r := mustSucceed(t, docker(t, []string{
		"build2", "--no-cache", "--progress=plain",
		"--ssh", "default", "--ssh", "main=" + sock, "--ssh", "keys=" + otherKey, ctx,
	},
		withEnv("SSH_AUTH_SOCK="+sock)))
	assert.Regexp(t, `RUN --mount=type=ssh agentlist\n#\d+ \d+\.\d+ `+regexp.QuoteMeta(fingerprint), r.stderr)
	assert.Regexp(t, `RUN --mount=type=ssh,id=main agentlist\n#\d+ \d+\.\d+ `+regexp.QuoteMeta(fingerprint), r.stderr)
	assert.Regexp(t, `RUN --mount=type=ssh,id=keys agentlist\n#\d+ \d+\.\d+ `+regexp.QuoteMeta(otherFingerprint), r.stderr)
	assert.Contains(t, r.stderr, "no-agent-without-mount")

	// A passphrase-protected key file is refused before the build.
	locked := filepath.Join(dir, "id_locked")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "hunter2", "-f", locked).CombinedOutput()
	require.NoError(t, err, "%s", out)
	r = build2(t, "--ssh", "k="+locked, ctx)
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, "--ssh k")
	assert.Contains(t, r.stderr, "passphrase-protected")
}
