package build

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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

// solverSlots caps how many tests run a solver at once. Each test has a
// state dir of its own (BuildKit keeps process-wide checksum caches keyed
// by cache record IDs, so a process opens a state dir once); the cap keeps
// the machine from being swamped by several controllers building at once.
var solverSlots = make(chan struct{}, 1)

// openBuilder waits for a solver slot and opens the embedded builder on
// root through the public API. Its Open and Close notices go to a channel
// of their own, drained for the whole test and closed once the builder is.
func openBuilder(t *testing.T, root string) Builder {
	t.Helper()
	solverSlots <- struct{}{}
	t.Cleanup(func() { <-solverSlots })

	status := make(chan *client.SolveStatus)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range status {
		}
	}()
	b, err := Open(t.Context(), Target{Builder: "default", Root: root, Status: status})
	if err != nil {
		close(status)
		<-drained
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		assert.NoError(t, b.Close())
		close(status)
		<-drained
	})
	require.Equal(t, "default", b.Name())
	return b
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

// solveRecord is what a build reported on its status channel.
type solveRecord struct {
	mu       sync.Mutex
	vertices map[string]*client.Vertex
	logs     strings.Builder
}

// run builds opts on b, recording its status. Run does not close the
// channel it is given: run closes it once Run returned, which would panic
// were Run still sending.
func run(t *testing.T, b Builder, opts Options) (*Result, *solveRecord, error) {
	t.Helper()
	ch := make(chan *client.SolveStatus)
	rec := &solveRecord{vertices: map[string]*client.Vertex{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			rec.mu.Lock()
			for _, v := range st.Vertexes {
				rec.vertices[v.Digest.String()] = v
			}
			for _, l := range st.Logs {
				rec.logs.Write(l.Data)
			}
			rec.mu.Unlock()
		}
	}()
	res, err := Run(t.Context(), b, opts, ch)
	close(ch)
	<-done
	return res, rec, err
}

// runLocal builds opts on b into a new local output directory.
func runLocal(t *testing.T, b Builder, opts Options) (string, *solveRecord, error) {
	t.Helper()
	out := t.TempDir()
	opts.Outputs = append(opts.Outputs, Output{Type: client.ExporterLocal, Dest: out})
	_, rec, err := run(t, b, opts)
	return out, rec, err
}

// cached reports whether every vertex whose name contains part was served
// from the cache, and whether there was one.
func (r *solveRecord) cached(part string) (cached, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.vertices {
		if strings.Contains(v.Name, part) {
			found = true
			cached = v.Cached
			if !v.Cached {
				return false, true
			}
		}
	}
	return cached, found
}

func (r *solveRecord) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
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
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	b := openBuilder(t, t.TempDir())

	out, _, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, BuildArgs: map[string]string{"GREETING": "hi"}})
	require.NoError(t, err)
	for name, want := range map[string]string{
		"msg.txt":   "hi world",
		"where.txt": "/src",
		"uid.txt":   "1000",
		"name.txt":  "app",
		"app.txt":   "app",
	} {
		assert.Equal(t, want, readOut(t, out, name), name)
	}
}

func TestBuildTarget(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	b := openBuilder(t, t.TempDir())

	out, _, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, Target: "base"})
	require.NoError(t, err)
	assert.Equal(t, "hello world", readOut(t, out, "src/msg.txt"))
	assert.NoFileExists(t, filepath.Join(out, "uid.txt"))
	assert.NoFileExists(t, filepath.Join(out, "app.txt"))
}

func TestBuildCacheReuse(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": multiStage, "app.txt": "app"})
	b := openBuilder(t, t.TempDir())
	const step = `> msg.txt && pwd`

	// A second process on the same state dir is covered end to end (e2e):
	// BuildKit keeps per-process checksum caches keyed by record ID, so one
	// state dir is opened once per process.
	for _, tc := range []struct {
		name       string
		noCache    bool
		wantCached bool
	}{
		{"first build on an empty state dir", false, false},
		{"rebuild", false, true},
		{"--no-cache", true, false},
	} {
		_, rec, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, NoCache: tc.noCache})
		require.NoError(t, err, tc.name)
		cached, found := rec.cached(step)
		require.True(t, found, "%s: RUN vertex not reported", tc.name)
		assert.Equal(t, tc.wantCached, cached, "%s: CACHED", tc.name)
	}
}

func TestBuildDockerignore(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	df := "FROM scratch\nCOPY . /ctx/\n"
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile":                            df,
		".dockerignore":                         "secret.txt\nrootfs\n",
		"secret.txt":                            "do not send",
		"keep.txt":                              "keep",
		"docker/Dockerfile.custom":              df,
		"docker/Dockerfile.custom.dockerignore": "keep.txt\nrootfs\nsecret.txt\ndocker\n",
	})
	b := openBuilder(t, t.TempDir())

	out, rec, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(out, "ctx", "keep.txt"))
	assert.NoFileExists(t, filepath.Join(out, "ctx", "secret.txt"))
	assert.NoDirExists(t, filepath.Join(out, "ctx", "rootfs"))
	assert.NotContains(t, rec.logText(), "do not send")

	// <Dockerfile>.dockerignore wins over .dockerignore.
	out, _, err = runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: filepath.Join(ctxDir, "docker"), DockerfileName: "Dockerfile.custom"})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(out, "ctx", "keep.txt"))
	assert.FileExists(t, filepath.Join(out, "ctx", "Dockerfile"))
	assert.NoDirExists(t, filepath.Join(out, "ctx", "docker"))
}

func TestBuildFailingStep(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo boom && exit 3\n"})
	b := openBuilder(t, t.TempDir())

	out, rec, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit code: 3")
	assert.Contains(t, rec.logText(), "boom")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "a failed build exports nothing")
}

func TestBuildContextTar(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": "from tar"})
	pr, pw := io.Pipe()
	go func() {
		cmd := exec.Command("tar", "-C", ctxDir, "-cf", "-", "Dockerfile", "a.txt")
		cmd.Stdout = pw
		pw.CloseWithError(cmd.Run())
	}()
	b := openBuilder(t, t.TempDir())
	out, _, err := runLocal(t, b, Options{ContextTar: pr})
	require.NoError(t, err)
	assert.Equal(t, "from tar", readOut(t, out, "a.txt"))
}

// TestStepOutputNotStored: what a RUN step prints reaches the caller's
// status stream but is never written to the state dir (BuildKit's build
// history would keep it, a printed secret included).
func TestStepOutputNotStored(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	// The marker is computed by the step, so it appears in no input.
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo $(( 1234567 * 7 ))XYZ\n"})
	root := t.TempDir()
	b := openBuilder(t, root)
	_, rec, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
	require.NoError(t, err)
	require.Contains(t, rec.logText(), "8641969XYZ")
	require.NoError(t, b.Close())

	files := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		dt, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		assert.NotContains(t, string(dt), "8641969XYZ", "step output stored in %s", path)
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, files, "the state dir was walked")
}
