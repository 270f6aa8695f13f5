package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unprivileged is a user created for a test, with the plugin installed in
// its ~/.docker/cli-plugins as `make install` puts it there.
type unprivileged struct {
	name     string
	uid, gid int
	home     string
}

var userSeq atomic.Int64

// newUnprivileged creates a user; withRanges gives it a subuid and subgid
// range (useradd picks a free one), as a rootless setup needs.
func newUnprivileged(t *testing.T, withRanges bool) unprivileged {
	t.Helper()
	name := fmt.Sprintf("b2e2e%d-%d", os.Getpid(), userSeq.Add(1))
	_ = exec.Command("userdel", "-r", name).Run() // left by a killed run
	args := []string{"-m", "-s", "/bin/sh"}
	if !withRanges {
		args = append(args, "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0")
	}
	out, err := exec.Command("useradd", append(args, name)...).CombinedOutput()
	require.NoError(t, err, "useradd: %s", out)
	home := filepath.Join("/home", name) // useradd -m's, checked below
	t.Cleanup(func() {
		// A solver the user's builds left serving (--solver-idle) stops
		// when asked; the user's processes are gone before userdel.
		marks, _ := filepath.Glob(filepath.Join(home, "*", "buildkitd.idle"))
		more, _ := filepath.Glob(filepath.Join(home, ".local", "share", "docker-build2", "buildkitd.idle"))
		for _, m := range append(marks, more...) {
			_ = os.Remove(m)
		}
		for deadline := time.Now().Add(10 * time.Second); exec.Command("pgrep", "-u", name).Run() == nil && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		_ = exec.Command("pkill", "-KILL", "-u", name).Run()
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v: %s", name, err, out)
		}
	})
	if withRanges {
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			require.Contains(t, readFile(t, f), name+":", "useradd gave %s no range in %s", name, f)
		}
	}
	u, err := user.Lookup(name)
	require.NoError(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	require.Equal(t, home, u.HomeDir)
	usr := unprivileged{name: name, uid: uid, gid: gid, home: u.HomeDir}
	plugins := filepath.Join(usr.home, ".docker", "cli-plugins")
	require.NoError(t, os.MkdirAll(plugins, 0o755))
	bin, err := os.ReadFile(world.plugin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(plugins, "docker-build2"), bin, 0o755))
	usr.chown(t, filepath.Join(usr.home, ".docker"))
	return usr
}

func (u unprivileged) chown(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.uid, u.gid), dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// files writes a build context in the user's home and returns its path.
func (u unprivileged) files(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp(u.home, "ctx-")
	require.NoError(t, err)
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	u.chown(t, dir)
	return dir
}

// env is a login environment of the user: no DOCKER_CONFIG, no state dir or
// daemon.json given, so their per-user defaults apply.
func (u unprivileged) env() []string {
	return []string{
		"HOME=" + u.home,
		"USER=" + u.name,
		"LOGNAME=" + u.name,
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"DOCKER_HOST=unix:///nonexistent/docker.sock",
		"BUILDKIT_PROGRESS=plain",
		"NO_COLOR=1",
	}
}

// as runs the command as the user, in its login environment.
func (u unprivileged) as() runOpt {
	return func(c *exec.Cmd) {
		c.Env = u.env()
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{},
		}}
	}
}

// mirror makes docker.io resolve to the test registry for this user, in its
// own ~/.config/docker/daemon.json.
func (u unprivileged) mirror(t *testing.T) {
	t.Helper()
	dir := filepath.Join(u.home, ".config", "docker")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))
	u.chown(t, filepath.Join(u.home, ".config"))
}

func (u unprivileged) stateDir() string {
	return filepath.Join(u.home, ".local", "share", "docker-build2")
}

// assertOwnedBy checks that path and everything under it belongs to the
// user: nothing a rootless build writes on the host is root's.
func (u unprivileged) assertOwnedBy(t *testing.T, path string) {
	t.Helper()
	st, err := os.Lstat(path)
	require.NoError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	assert.Equal(t, uint32(u.uid), sys.Uid, "%s owner", path)
}

// TestRootlessSecretExample runs Docker's documented --secret example as a
// user who is not root, exporting with -o type=oci.
func TestRootlessSecretExample(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	u.mirror(t)
	ctx := u.files(t, map[string]string{"Dockerfile": secretDockerfile, "mysecret.txt": "WARMACHINEROX\n"})
	dest := filepath.Join(ctx, "out.tar")
	r := mustSucceed(t, docker(t, []string{"build2", "--no-cache", "--secret", "id=mysecret,src=mysecret.txt", "-o", "type=oci,dest=out.tar", "."},
		u.as(), withDir(ctx)))
	noCrash(t, r)
	assert.Regexp(t, `RUN --mount=type=secret,id=mysecret cat /run/secrets/mysecret\n#\d+ \d+\.\d+ \*\*\*\n`, r.stderr)
	assert.Regexp(t, `RUN --mount=type=secret,id=mysecret,dst=/foobar cat /foobar\n#\d+ \d+\.\d+ \*\*\*\n`, r.stderr)
	assert.NotContains(t, r.stderr, "WARMACHINEROX")
	assert.NotContains(t, r.stderr, "process sandbox", "a plain host mounts /proc: the sandbox stays on")
	assertTarClean(t, dest, "WARMACHINEROX")
	assertDirClean(t, u.stateDir(), "WARMACHINEROX")
	u.assertOwnedBy(t, dest)
	u.assertOwnedBy(t, u.stateDir())
}

// TestRootlessMultiStage builds stages that chown files as root in the
// build, exports the image as OCI and pushes it: files RUN creates as root
// are root's in the image, chowned ones keep their IDs, and the state dir
// is under $XDG_DATA_HOME.
func TestRootlessMultiStage(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile(`FROM {{BASE}} AS build
RUN mkdir /out && echo root > /out/root-owned && echo app > /out/app-owned && chown 1000:1001 /out/app-owned
RUN id -u > /out/build-uid

FROM {{BASE}}
COPY --from=build /out /out
RUN echo created > /created-by-root && mkdir -p /home/app && echo app > /home/app/f && chown -R 4242:4243 /home/app
RUN ls -n /home/app/f
`)})
	xdg := filepath.Join(u.home, "xdg-data")
	dest := filepath.Join(u.home, "img.oci.tar")
	r := mustSucceed(t, docker(t, []string{"build2", "-t", world.reg.host + "/e2e/rootless:1", "-o", "type=oci,dest=" + dest, ctx},
		u.as(), withEnv("XDG_DATA_HOME="+xdg)))
	noCrash(t, r)
	assert.Regexp(t, `RUN ls -n /home/app/f\n#\d+ \d+\.\d+ -rw-r--r--\s+1 4242\s+4243 `, r.stderr)
	u.assertOwnedBy(t, dest)
	assert.DirExists(t, filepath.Join(xdg, "docker-build2"), "state dir under $XDG_DATA_HOME")
	u.assertOwnedBy(t, filepath.Join(xdg, "docker-build2"))
	assert.NoDirExists(t, u.stateDir(), "with XDG_DATA_HOME set, ~/.local/share is not used")

	owners := ociOwners(t, dest)
	for path, want := range map[string]string{
		"out/root-owned":  "0:0",
		"out/app-owned":   "1000:1001",
		"out/build-uid":   "0:0",
		"created-by-root": "0:0",
		"home/app":        "4242:4243",
		"home/app/f":      "4242:4243",
		"bin/busybox":     "0:0",
	} {
		assert.Equal(t, want, owners[path], "owner of /%s in the exported layers", path)
	}

	// The same build, pushed and read back from the registry.
	r = mustSucceed(t, docker(t, []string{"build2", "--push", "-t", world.reg.host + "/e2e/rootless:1", ctx},
		u.as(), withEnv("XDG_DATA_HOME="+xdg)))
	noCrash(t, r)
	img := world.reg.image(t, "e2e/rootless", "1")
	assert.Equal(t, "0\n", img.files["out/build-uid"], "RUN runs as root in the build")
	assert.Equal(t, "created\n", img.files["created-by-root"])
}

// ociOwners reads an OCI image tarball and returns uid:gid of every path in
// its layers (later layers win).
func ociOwners(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	entries := tarEntries(t, f)
	blob := func(d descriptor) []byte {
		b, ok := entries["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		require.True(t, ok, "blob %s missing", d.Digest)
		return b
	}
	var idx manifest
	require.NoError(t, json.Unmarshal(entries["index.json"], &idx))
	require.Len(t, idx.Manifests, 1)
	var m manifest
	require.NoError(t, json.Unmarshal(blob(idx.Manifests[0]), &m))
	require.NotEmpty(t, m.Layers)
	owners := map[string]string{}
	for _, l := range m.Layers {
		var rd io.Reader = bytes.NewReader(blob(l))
		if strings.HasSuffix(l.MediaType, "gzip") {
			zr, err := gzip.NewReader(rd)
			require.NoError(t, err)
			rd = zr
		}
		tr := tar.NewReader(rd)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			owners[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = fmt.Sprintf("%d:%d", h.Uid, h.Gid)
		}
	}
	return owners
}

// TestRootlessNoProcessSandbox runs a rootless build where /proc cannot be
// mounted in a new PID namespace, as in a container that masks parts of
// /proc: RUN steps still run, without the process sandbox, and one line
// says so.
func TestRootlessNoProcessSandbox(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo ran-without-sandbox\n")})
	masked := ""
	for _, d := range []string{"/proc/acpi", "/proc/scsi", "/proc/bus", "/proc/irq"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			masked = d
			break
		}
	}
	require.NotEmpty(t, masked, "no /proc directory to mask")
	// A mount namespace of its own with that /proc directory covered, as
	// Docker covers it; then the user's command.
	script := fmt.Sprintf("mount -t tmpfs -o ro tmpfs %s && exec setpriv --reuid=%d --regid=%d --clear-groups -- %s build2 --no-cache %s",
		masked, u.uid, u.gid, world.docker, ctx)
	r := runCmd(t, "unshare", []string{"--mount", "--propagation", "private", "sh", "-c", script},
		func(c *exec.Cmd) { c.Env = u.env() })
	mustSucceed(t, r)
	noCrash(t, r)
	assert.Regexp(t, `(?m)^notice: /proc cannot be mounted in a new PID namespace here \(.*\): RUN steps share the builder's PID namespace`, r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "notice: /proc"), "one line:\n%s", r.stderr)
	assert.Regexp(t, `#\d+ \d+\.\d+ ran-without-sandbox\n`, r.stderr)
}

// TestRootlessPrerequisites: each missing piece is a clear error that says
// how to fix it, and nothing is left behind.
func TestRootlessPrerequisites(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN true\n")})
	// only makes a PATH of the named programs.
	only := func(progs ...string) string {
		dir := filepath.Join(u.home, "path-"+strings.Join(progs, "-"))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, p := range progs {
			src, err := exec.LookPath(p)
			require.NoError(t, err)
			_ = os.Remove(filepath.Join(dir, p))
			require.NoError(t, os.Symlink(src, filepath.Join(dir, p)))
		}
		return "PATH=" + dir
	}
	check := func(t *testing.T, r result, want ...string) {
		t.Helper()
		assert.Equal(t, 1, r.code, r.String())
		noCrash(t, r)
		for _, w := range want {
			assert.Contains(t, r.stderr, w)
		}
		assert.NoDirExists(t, u.stateDir(), "a failed start leaves no state dir")
	}

	t.Run("newuidmap missing", func(t *testing.T) {
		r := docker(t, []string{"build2", ctx}, u.as(), withEnv(only("runc")))
		check(t, r, "newuidmap is not installed or not on PATH", "apt-get install uidmap")
	})
	t.Run("runc missing", func(t *testing.T) {
		r := docker(t, []string{"build2", ctx}, u.as(), withEnv(only("newuidmap", "newgidmap")))
		check(t, r, "runc is not installed or not on PATH", "apt-get install runc")
	})
	t.Run("no subuid range", func(t *testing.T) {
		n := newUnprivileged(t, false)
		nctx := n.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN true\n")})
		r := docker(t, []string{"build2", nctx}, n.as())
		check(t, r, "/etc/subuid has no range for user "+n.name, "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "+n.name)
		assert.NoDirExists(t, n.stateDir())
	})
	t.Run("user namespaces disabled", func(t *testing.T) {
		// Inside a user namespace of root's whose own limit is 0, as
		// `sysctl -w user.max_user_namespaces=0` sets it for the host.
		script := fmt.Sprintf("echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --reuid=%d --regid=%d --clear-groups -- %s build2 %s",
			u.uid, u.gid, world.docker, ctx)
		r := runCmd(t, "sh", []string{"-c", script}, func(c *exec.Cmd) {
			c.Env = u.env()
			c.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:                 syscall.CLONE_NEWUSER,
				UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1 << 31}},
				GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1 << 31}},
				GidMappingsEnableSetgroups: true,
			}
		})
		check(t, r, "user namespaces are disabled (sysctl user.max_user_namespaces is 0)", "sysctl -w user.max_user_namespaces=")
	})
}

// TestRootlessSSH forwards the user's own ssh-agent into a rootless build.
func TestRootlessSSH(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nCOPY agentlist /bin/agentlist\nRUN --mount=type=ssh agentlist\n")})
	build := exec.Command("go", "build", "-o", filepath.Join(ctx, "agentlist"), "./testdata/agentlist")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	key := filepath.Join(u.home, "id_ed25519")
	out, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key).Output()
	require.NoError(t, err)
	u.chown(t, ctx)
	u.chown(t, key)

	sock := filepath.Join(u.home, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	u.as()(agent)
	require.NoError(t, agent.Start())
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	waitForSocket(t, sock)
	mustSucceed(t, runCmd(t, "ssh-add", []string{key}, u.as(), withEnv("SSH_AUTH_SOCK="+sock)))

	r := mustSucceed(t, docker(t, []string{"build2", "--no-cache", "--ssh", "default", ctx}, u.as(), withEnv("SSH_AUTH_SOCK="+sock)))
	noCrash(t, r)
	assert.Regexp(t, `RUN --mount=type=ssh agentlist\n#\d+ \d+\.\d+ `+regexp.QuoteMeta(strings.Fields(string(fp))[1]), r.stderr)
}

// TestRootlessCustomCA pushes to a registry whose certificate a private CA
// signed, with the CA where rootless dockerd reads it:
// ~/.config/docker/certs.d/<host>/ca.crt.
func TestRootlessCustomCA(t *testing.T) {
	requireE2E(t)
	ca, cert, key := selfSignedCA(t)
	host := startTLSRegistry(t, cert, key)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo over-tls > /tls.txt\n")})
	ref := host + "/e2e/rootless-tls:1"

	r := docker(t, []string{"build2", "-t", ref, "--push", ctx}, u.as())
	// Without the CA nothing verifies the registry (and on loopback
	// BuildKit then tries plain HTTP, which an HTTPS registry refuses).
	assert.Equal(t, 1, r.code, "no CA, no push:\n%s", r)
	assert.Contains(t, r.stderr, "failed to push "+ref)

	certs := filepath.Join(u.home, ".config", "docker", "certs.d", host)
	require.NoError(t, os.MkdirAll(certs, 0o755))
	dt, err := os.ReadFile(ca)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(certs, "ca.crt"), dt, 0o644))
	u.chown(t, filepath.Join(u.home, ".config"))
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "-t", ref, "--push", ctx}, u.as())))
}

// TestRootInUserNamespace runs docker build2 as root of a user namespace
// that something else made, as in a rootless container (here unshare maps
// the user's subuid range): RUN steps need rootless runc there too.
func TestRootInUserNamespace(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN id -u > /who && echo in-a-userns\n")})
	out := filepath.Join(u.home, "out")
	script := fmt.Sprintf("exec unshare --user --map-root-user --map-auto --mount -- %s build2 --no-cache -o type=local,dest=%s %s", world.docker, out, ctx)
	r := runCmd(t, "sh", []string{"-c", script}, u.as(), withEnv("DOCKER_BUILD2_ROOT="+filepath.Join(u.home, "state")))
	mustSucceed(t, r)
	noCrash(t, r)
	assert.Regexp(t, `#\d+ \d+\.\d+ in-a-userns\n`, r.stderr)
	assert.Equal(t, "0", readFile(t, filepath.Join(out, "who")))
	u.assertOwnedBy(t, filepath.Join(out, "who"))
}
