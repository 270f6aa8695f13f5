package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDockerfileURL: -f http(s)://… is downloaded by the builder, as buildx
// does it, and builds with every kind of context and on a remote builder.
func TestDockerfileURL(t *testing.T) {
	requireE2E(t)
	const remote = "FROM scratch\nCOPY hello.txt /from-url.txt\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/Dockerfile" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(remote))
	}))
	t.Cleanup(srv.Close)
	dfURL := srv.URL + "/files/Dockerfile"
	// The context's own Dockerfile would copy something else.
	ctxFiles := map[string]string{"hello.txt": "hello-from-the-context", "Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"}

	t.Run("local directory", func(t *testing.T) {
		out := t.TempDir()
		r := mustSucceed(t, build2(t, "--progress=plain", "-f", dfURL, "-o", out, writeFiles(t, ctxFiles)))
		assert.Equal(t, "hello-from-the-context", readFile(t, filepath.Join(out, "from-url.txt")))
		assert.NoFileExists(t, filepath.Join(out, "Dockerfile"), "the context's Dockerfile is not the one built")
		assert.Contains(t, r.stderr, "[internal] load Dockerfile from "+dfURL)
	})
	t.Run("git context", func(t *testing.T) {
		out := t.TempDir()
		mustSucceed(t, build2(t, "-f", dfURL, "-o", out, gitDaemon(t, ctxFiles)))
		assert.Equal(t, "hello-from-the-context", readFile(t, filepath.Join(out, "from-url.txt")))
	})
	t.Run("tar on stdin", func(t *testing.T) {
		out := t.TempDir()
		mustSucceed(t, docker(t, []string{"build2", "-f", dfURL, "-o", out, "-"}, withStdinBytes(tarGz(t, ctxFiles))))
		assert.Equal(t, "hello-from-the-context", readFile(t, filepath.Join(out, "from-url.txt")))
	})
	t.Run("remote builder", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "buildkitd.sock")
		startBuildkitd(t, "unix://"+sock)
		out := t.TempDir()
		mustSucceed(t, build2(t, "--builder", "unix://"+sock, "-f", dfURL, "-o", out, writeFiles(t, ctxFiles)))
		assert.Equal(t, "hello-from-the-context", readFile(t, filepath.Join(out, "from-url.txt")))
	})
	t.Run("builder of two nodes", func(t *testing.T) {
		dir := t.TempDir()
		amdSock, armSock := filepath.Join(dir, "amd.sock"), filepath.Join(dir, "arm.sock")
		startBuildkitd(t, "unix://"+amdSock)
		startBuildkitd(t, "unix://"+armSock)
		cfg := aliasConfig(t)
		mustSucceed(t, docker(t, []string{"build2", "builder", "create", "urlfleet", "--node", "amd=unix://" + amdSock, "--platform", "linux/amd64", "--node", "arm=unix://" + armSock, "--platform", "linux/arm64"}, cfg))
		dest := filepath.Join(t.TempDir(), "img.tar")
		r := mustSucceed(t, docker(t, []string{"build2", "--builder", "urlfleet", "--progress=plain", "--platform", "linux/amd64,linux/arm64", "-f", dfURL, "-o", "type=oci,dest=" + dest, writeFiles(t, ctxFiles)}, cfg))
		assert.Contains(t, r.stderr, "[internal] load Dockerfile from "+dfURL)
		assert.Contains(t, r.stderr, "building linux/arm64 on node arm")
		assert.Contains(t, r.stderr, "building linux/amd64 on node amd")
		layout := t.TempDir()
		extract(t, dest, layout)
		assert.Contains(t, readFile(t, filepath.Join(layout, "index.json")), "application/vnd.oci.image.index.v1+json")
	})
	t.Run("not found", func(t *testing.T) {
		missing := srv.URL + "/nope/Dockerfile"
		r := build2(t, "-f", missing, "-o", t.TempDir(), writeFiles(t, ctxFiles))
		assert.Equal(t, 1, r.code, r.String())
		errLine := lastLine(r.stderr)
		assert.True(t, strings.HasPrefix(errLine, "ERROR: failed to build: -f/--file "+missing+": "), "error line %q names -f and the URL\n%s", errLine, r)
		assert.Contains(t, errLine, "404")
		noCrash(t, r)
	})
	t.Run("not a URL", func(t *testing.T) {
		r := build2(t, "-f", "http://", writeFiles(t, ctxFiles))
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, `-f/--file "http://": not a valid URL`)
		noCrash(t, r)
	})
}

// TestGitHTTPContext: a Git repository served over smart HTTP (git
// http-backend) is the context, #REF:SUBDIR choosing the branch and the
// directory, as the positional context and as --build-context.
func TestGitHTTPContext(t *testing.T) {
	requireE2E(t)
	base := bareRepo(t, map[string]string{
		"top.txt":        "outside-the-subdir",
		"sub/Dockerfile": "FROM scratch\nCOPY . /ctx/\n",
		"sub/in-sub.txt": "from-the-subdir",
	}, "release")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend is needed (apt-get install git): %v", err)
	}
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + base, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	repo := srv.URL + "/repo.git"

	t.Run("context", func(t *testing.T) {
		out := t.TempDir()
		mustSucceed(t, build2(t, "-o", out, repo+"#release:sub"))
		assert.Equal(t, "from-the-subdir", readFile(t, filepath.Join(out, "ctx", "in-sub.txt")))
		assert.NoFileExists(t, filepath.Join(out, "ctx", "top.txt"), "only the subdirectory is the context")
	})
	t.Run("wrong ref", func(t *testing.T) {
		r := build2(t, "-o", t.TempDir(), repo+"#no-such-branch:sub")
		assert.NotEqual(t, 0, r.code, r.String())
		assert.Contains(t, r.stderr, "no-such-branch")
		noCrash(t, r)
	})
	t.Run("build context", func(t *testing.T) {
		out := t.TempDir()
		ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY --from=repo in-sub.txt /\n"})
		mustSucceed(t, build2(t, "--build-context", "repo="+repo+"#release:sub", "-o", out, ctx))
		assert.Equal(t, "from-the-subdir", readFile(t, filepath.Join(out, "in-sub.txt")))
	})
}

// TestGitSSHContext: an ssh:// Git context is cloned through the SSH agent
// of SSH_AUTH_SOCK without --ssh, as buildx forwards it; an --ssh given
// replaces it. The sshd runs on 127.0.0.1 with a throwaway host key and
// lets in the one key the agent holds.
func TestGitSSHContext(t *testing.T) {
	requireE2E(t)
	for _, b := range []string{"/usr/sbin/sshd", "ssh-agent", "ssh-add", "ssh-keygen"} {
		_, err := exec.LookPath(b)
		require.NoError(t, err, "openssh-server and openssh-client are needed (apt-get install openssh-server)")
	}
	base := bareRepo(t, map[string]string{
		"Dockerfile":   "FROM scratch\nCOPY over-ssh.txt /\n",
		"over-ssh.txt": "cloned-over-ssh",
	}, "main")
	dir := t.TempDir()
	keygen := func(name string) string {
		p := filepath.Join(dir, name)
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return p
	}
	hostKey, userKey, otherKey := keygen("host"), keygen("user"), keygen("other")
	pub, err := os.ReadFile(userKey + ".pub")
	require.NoError(t, err)
	authorized := filepath.Join(dir, "authorized_keys")
	require.NoError(t, os.WriteFile(authorized, pub, 0o600))
	port := startSSHD(t, dir, hostKey, authorized)

	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	require.NoError(t, agent.Start())
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	waitForSocket(t, sock)
	add := exec.Command("ssh-add", userKey)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err := add.CombinedOutput()
	require.NoError(t, err, "ssh-add: %s", out)

	// root: the test runs as root and the machine has no git user.
	repo := fmt.Sprintf("ssh://root@127.0.0.1:%d%s/repo.git#main", port, base)
	t.Run("agent forwarded", func(t *testing.T) {
		dest := t.TempDir()
		mustSucceed(t, docker(t, []string{"build2", "--no-cache", "-o", dest, repo}, withEnv("SSH_AUTH_SOCK="+sock)))
		assert.Equal(t, "cloned-over-ssh", readFile(t, filepath.Join(dest, "over-ssh.txt")))
	})
	t.Run("--ssh replaces the agent", func(t *testing.T) {
		r := docker(t, []string{"build2", "--no-cache", "--ssh", "default=" + otherKey, "-o", t.TempDir(), repo}, withEnv("SSH_AUTH_SOCK="+sock))
		assert.NotEqual(t, 0, r.code, "a key sshd does not take cannot clone:\n%s", r)
		assert.Contains(t, r.stderr, "Permission denied", r.String())
		noCrash(t, r)
	})
	t.Run("no agent", func(t *testing.T) {
		r := build2(t, "-o", t.TempDir(), repo)
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "is a Git repository over SSH")
		assert.Contains(t, r.stderr, "SSH_AUTH_SOCK is not set")
		noCrash(t, r)
	})
}

// startSSHD runs sshd on a free port of 127.0.0.1, letting root in with
// the keys of authorized only, and returns the port.
func startSSHD(t *testing.T, dir, hostKey, authorized string) int {
	t.Helper()
	// sshd's privilege separation directory, as the Debian service makes it.
	require.NoError(t, os.MkdirAll("/run/sshd", 0o755))
	port, err := freePort()
	require.NoError(t, err)
	cfg := filepath.Join(dir, "sshd_config")
	require.NoError(t, os.WriteFile(cfg, []byte(strings.Join([]string{
		fmt.Sprintf("Port %d", port),
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorized,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthenticationMethods publickey",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowUsers root",
		"StrictModes no",
		"UsePAM no",
		"",
	}, "\n")), 0o600))
	var log bytes.Buffer
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfg)
	sshd.Stdout, sshd.Stderr = &log, &log
	require.NoError(t, sshd.Start())
	t.Cleanup(func() {
		_ = sshd.Process.Kill()
		_ = sshd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return port
		}
		require.True(t, time.Now().Before(deadline), "sshd did not start: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
}

// bareRepo makes BASE/repo.git, a bare repository whose branch holds
// files, and returns BASE.
func bareRepo(t *testing.T, files map[string]string, branch string) string {
	t.Helper()
	base := t.TempDir()
	work := writeFiles(t, files)
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	git(work, "init", "-q", "-b", branch)
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "files")
	git(base, "clone", "-q", "--bare", work, filepath.Join(base, "repo.git"))
	return base
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
