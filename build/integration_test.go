package build

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gofrs/flock"
	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSolver skips unless the integration suite was asked for (make test
// always asks) and the machine can run it.
func requireSolver(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if os.Getenv("DOCKER_BUILD2_INTEGRATION") == "" {
		t.Skip("integration test: set DOCKER_BUILD2_INTEGRATION=1 (make test does)")
	}
	if os.Geteuid() != 0 {
		t.Skip("integration test: needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc is not installed: apt-get install runc")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatal("busybox-static is not installed: apt-get install busybox-static")
	}
}

// engineMu serialises solver use: one test builds at a time, each on its
// own state dir.
var engineMu sync.Mutex

func newEngine(t *testing.T, root string) *Engine {
	t.Helper()
	e, err := New(t.Context(), Config{Root: root})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, e.Close()) })
	return e
}

// writeContext writes files into a new context dir with a busybox rootfs
// under rootfs/, usable as `FROM scratch` + `COPY rootfs/ /`.
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rootfs", "tmp"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(dir, "rootfs", "tmp"), 0o1777|os.ModeSticky))
	src, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "busybox"), src, 0o755))
	for _, applet := range []string{"sh", "cat", "echo", "id", "ls", "mkdir", "chown", "touch", "whoami", "pwd", "env"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(bin, applet)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rootfs", "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rootfs", "etc", "group"), []byte("root:x:0:\nnogroup:x:65534:\napp:x:1000:\n"), 0o644))
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

type solveRecord struct {
	vertices map[string]*client.Vertex
	logs     strings.Builder
}

// solve runs a build exporting to a local dir and records vertices and logs.
func solve(t *testing.T, e *Engine, opts Options) (string, *solveRecord, error) {
	t.Helper()
	out := t.TempDir()
	opts.Exports = append(opts.Exports, client.ExportEntry{Type: client.ExporterLocal, OutputDir: out})
	ch := make(chan *client.SolveStatus)
	rec := &solveRecord{vertices: map[string]*client.Vertex{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			for _, v := range st.Vertexes {
				rec.vertices[v.Digest.String()] = v
			}
			for _, l := range st.Logs {
				rec.logs.Write(l.Data)
			}
		}
	}()
	_, err := Build(context.WithoutCancel(t.Context()), e, opts, ch)
	<-done
	return out, rec, err
}

// cached reports, by vertex name, whether the vertex was served from cache.
func (r *solveRecord) cached(prefix string) (cached, found bool) {
	for _, v := range r.vertices {
		if strings.Contains(v.Name, prefix) {
			found = true
			cached = v.Cached
			if !v.Cached {
				return false, true
			}
		}
	}
	return cached, found
}

const multiStage = `FROM scratch AS base
COPY rootfs/ /
ARG GREETING=hello
ENV WHO=world
WORKDIR /src
RUN echo "$GREETING $WHO" > msg.txt && pwd > where.txt

FROM base AS user
RUN mkdir -p /home/app && chown app:app /home/app
USER app
RUN id -u > /tmp/uid.txt && whoami > /tmp/name.txt

FROM scratch
COPY --from=base /src/msg.txt /src/where.txt /
COPY --from=user /tmp/uid.txt /tmp/name.txt /
COPY app.txt /
`

func readOut(t *testing.T, dir, name string) string {
	t.Helper()
	dt, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return strings.TrimSpace(string(dt))
}

func TestBuildMultiStage(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	e := newEngine(t, t.TempDir())

	out, _, err := solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, BuildArgs: map[string]string{"GREETING": "hi"}})
	require.NoError(t, err)
	assert.Equal(t, "hi world", readOut(t, out, "msg.txt"))
	assert.Equal(t, "/src", readOut(t, out, "where.txt"))
	assert.Equal(t, "1000", readOut(t, out, "uid.txt"))
	assert.Equal(t, "app", readOut(t, out, "name.txt"))
	assert.Equal(t, "app", readOut(t, out, "app.txt"))
}

func TestBuildTarget(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	e := newEngine(t, t.TempDir())

	out, _, err := solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, Target: "base"})
	require.NoError(t, err)
	assert.Equal(t, "hello world", readOut(t, out, "src/msg.txt"))
	assert.NoFileExists(t, filepath.Join(out, "uid.txt"))
}

func TestBuildCacheReuse(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	root := t.TempDir()
	opts := Options{ContextDir: ctxDir, DockerfileDir: ctxDir}

	e := newEngine(t, root)
	_, first, err := solve(t, e, opts)
	require.NoError(t, err)
	cached, found := first.cached(`> msg.txt && pwd`)
	require.True(t, found, "RUN vertex not reported")
	assert.False(t, cached, "first build on an empty state dir reported CACHED")

	// A second process on the same state dir is covered end to end (e2e):
	// BuildKit keeps per-process checksum caches keyed by record ID, so one
	// state dir is opened once per process.
	e2 := e
	_, second, err := solve(t, e2, opts)
	require.NoError(t, err)
	cached, found = second.cached(`> msg.txt && pwd`)
	require.True(t, found)
	assert.True(t, cached, "rebuild did not reuse the cache")

	opts.NoCache = true
	_, third, err := solve(t, e2, opts)
	require.NoError(t, err)
	cached, found = third.cached(`> msg.txt && pwd`)
	require.True(t, found)
	assert.False(t, cached, "--no-cache build reported CACHED")
}

func TestBuildDockerignore(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	df := "FROM scratch\nCOPY . /ctx/\n"
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile":                            df,
		".dockerignore":                         "secret.txt\nrootfs\n",
		"secret.txt":                            "do not send",
		"keep.txt":                              "keep",
		"docker/Dockerfile.custom":              df,
		"docker/Dockerfile.custom.dockerignore": "keep.txt\nrootfs\nsecret.txt\ndocker\n",
	})
	e := newEngine(t, t.TempDir())

	out, rec, err := solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(out, "ctx", "keep.txt"))
	assert.NoFileExists(t, filepath.Join(out, "ctx", "secret.txt"))
	assert.NoDirExists(t, filepath.Join(out, "ctx", "rootfs"))
	assert.NotContains(t, rec.logs.String(), "do not send")

	// <Dockerfile>.dockerignore wins over .dockerignore.
	out, _, err = solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: filepath.Join(ctxDir, "docker"), DockerfileName: "Dockerfile.custom"})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(out, "ctx", "keep.txt"))
	assert.FileExists(t, filepath.Join(out, "ctx", "Dockerfile"))
}

func TestBuildFailingStep(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo boom && exit 3\n"})
	e := newEngine(t, t.TempDir())

	_, rec, err := solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit code: 3")
	assert.Contains(t, rec.logs.String(), "boom")
}

func TestBuildContextTar(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": "from tar"})
	pr, pw := io.Pipe()
	go func() {
		cmd := exec.Command("tar", "-C", ctxDir, "-cf", "-", "Dockerfile", "a.txt")
		cmd.Stdout = pw
		pw.CloseWithError(cmd.Run())
	}()
	e := newEngine(t, t.TempDir())
	out, _, err := solve(t, e, Options{ContextTar: pr})
	require.NoError(t, err)
	assert.Equal(t, "from tar", readOut(t, out, "a.txt"))
}

func TestSecondEngineAttaches(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	root := t.TempDir()
	holder := newEngine(t, root)
	require.NotNil(t, holder.shared)
	st, err := os.Stat(socketPath(root))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the socket is the owner's only")

	var msgs []string
	other, err := New(t.Context(), Config{Root: root, Notify: func(m string) { msgs = append(msgs, m) }})
	require.NoError(t, err)
	assert.Nil(t, other.lock, "the second engine does not take the lock")
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0], "sharing the builder of another docker-build2 process")

	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo attached > /a.txt\n"})
	out, _, err := solve(t, other, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.NoError(t, err)
	assert.Equal(t, "attached", readOut(t, out, "a.txt"))
	require.NoError(t, other.Close())
}

func TestLockWaitStopsOnCancel(t *testing.T) {
	requireSolver(t)
	root := t.TempDir()
	// A holder that does not serve (starting up, or stuck): wait, visibly.
	lock := flock.New(filepath.Join(root, "buildkitd.lock"))
	ok, err := lock.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	defer func() { _ = lock.Unlock() }()

	ctx, cancel := context.WithCancelCause(t.Context())
	var msgs []string
	notify := func(m string) {
		msgs = append(msgs, m)
		cancel(context.Canceled)
	}
	_, err = New(ctx, Config{Root: root, Notify: notify})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0], "waiting for another docker-build2")
}

// TestStepOutputNotStored: what a RUN step prints reaches the caller's
// status stream but is never written to the state dir (BuildKit's build
// history would keep it, a printed secret included).
func TestStepOutputNotStored(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	// The marker is computed by the step, so it appears in no input.
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo $(( 1234567 * 7 ))XYZ\n"})
	root := t.TempDir()
	e := newEngine(t, root)
	_, rec, err := solve(t, e, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.NoError(t, err)
	require.Contains(t, rec.logs.String(), "8641969XYZ")
	require.NoError(t, e.Close())

	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		dt, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(dt), "8641969XYZ", "step output stored in %s", path)
		return nil
	})
	require.NoError(t, err)
}

func TestPlatformsCached(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	root := t.TempDir()
	e := newEngine(t, root)
	first, err := e.Platforms(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, first)
	assert.Equal(t, "linux", first[0].OS)

	// The probe result is kept in the state dir, keyed by the machine.
	cache := filepath.Join(root, "platforms.json")
	require.FileExists(t, cache)
	fake := `{"key":"` + platformKey() + `","platforms":[{"architecture":"fake","os":"linux"}]}`
	require.NoError(t, os.WriteFile(cache, []byte(fake), 0o600))
	got, err := e.Platforms(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "fake", got[0].Architecture, "a fresh cache is used without probing")

	// A different machine state (key) probes again.
	require.NoError(t, os.WriteFile(cache, []byte(`{"key":"other","platforms":[{"architecture":"fake","os":"linux"}]}`), 0o600))
	got, err = e.Platforms(t.Context())
	require.NoError(t, err)
	assert.Equal(t, first, got)

	err = CheckPlatforms(t.Context(), e, []string{"windows/amd64"})
	var upe *UnsupportedPlatformError
	require.ErrorAs(t, err, &upe)
	assert.Equal(t, "windows/amd64", upe.Platform)
	require.NoError(t, CheckPlatforms(t.Context(), e, []string{"linux/amd64"}))
}

// TestHolderGoneBeforeSolve: when the serving process exits between an
// attach and the solve, the attached build fails as Unavailable before it
// started (the plugin then starts again), and the next New serves.
func TestHolderGoneBeforeSolve(t *testing.T) {
	requireSolver(t)
	engineMu.Lock()
	defer engineMu.Unlock()
	root := t.TempDir()
	holder, err := New(t.Context(), Config{Root: root})
	require.NoError(t, err)
	other, err := New(t.Context(), Config{Root: root})
	require.NoError(t, err)
	require.True(t, other.Attached())
	require.NoError(t, holder.Close())

	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo again > /a.txt\n"})
	_, rec, err := solve(t, other, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.Error(t, err)
	assert.True(t, Unavailable(err), "%v", err)
	assert.Empty(t, rec.vertices, "nothing started")
	require.NoError(t, other.Close())

	// The state dir is free: a new engine serves it.
	// (A new process would; in this process BuildKit's checksum caches
	// still hold the first engine's records, so only the lock is checked.)
	lock := flock.New(filepath.Join(root, "buildkitd.lock"))
	ok, err := lock.TryLock()
	require.NoError(t, err)
	assert.True(t, ok, "the lock was released")
	_ = lock.Unlock()
}
