package embedded

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"
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

// solverSlots caps how many tests run solvers at once; each test has state
// dirs of its own (a process opens a given state dir once).
var solverSlots = make(chan struct{}, 1)

func takeSlot(t *testing.T) {
	t.Helper()
	solverSlots <- struct{}{}
	t.Cleanup(func() { <-solverSlots })
}

// notices records what a Solver tells through Config.Notify.
type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) add(msg string) func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
	return func() {}
}

func (n *notices) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// openSolver opens a Solver on root, closed when the test ends.
func openSolver(t *testing.T, cfg Config) *Solver {
	t.Helper()
	s, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// writeContext writes a context dir holding dockerfile and a busybox
// rootfs under rootfs/, usable as `FROM scratch` + `COPY rootfs/ /`.
func writeContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	src, err := os.ReadFile("/bin/busybox")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "busybox"), src, 0o755))
	for _, applet := range []string{"sh", "echo", "cat"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(bin, applet)))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644))
	return dir
}

// solveDockerfile builds the Dockerfile of ctxDir on s with the
// dockerfile.v0 frontend into a new local directory, and returns it and
// how many status updates the solve sent.
func solveDockerfile(t *testing.T, s *Solver, ctxDir string) (string, int, error) {
	t.Helper()
	fs, err := fsutil.NewFS(ctxDir)
	require.NoError(t, err)
	out := t.TempDir()
	so := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": "Dockerfile"},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports:       []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: out}},
	}
	ch := make(chan *client.SolveStatus)
	updates := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			updates++
		}
	}()
	_, err = s.Solve(t.Context(), so, ch) // closes ch
	<-done
	return out, updates, err
}

func readOut(t *testing.T, dir, name string) string {
	t.Helper()
	dt, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return strings.TrimSpace(string(dt))
}

// requireLocked checks whether root's lock is held (by anyone: flock locks
// of two open files conflict within one process too).
func requireLocked(t *testing.T, root string, want bool) {
	t.Helper()
	l, err := statedir.TryLock(root)
	if want {
		require.ErrorIs(t, err, statedir.ErrBusy, "the state dir's lock is held")
		return
	}
	require.NoError(t, err, "the state dir's lock is free")
	require.NoError(t, l.Unlock())
}

func TestSecondSolverAttaches(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	takeSlot(t)
	root := t.TempDir()
	var holderNotes notices
	holder := openSolver(t, Config{Root: root, Notify: holderNotes.add})
	_, owns := holder.mode.(childClient)
	require.True(t, owns, "the first solver on a state dir serves it, from a process of its own")
	assert.Empty(t, holderNotes.list(), "nothing to wait for or share")
	st, err := os.Stat(statedir.SocketPath(root))
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSocket)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the socket is the owner's only")

	var notes notices
	other := openSolver(t, Config{Root: root, Notify: notes.add})
	assert.IsType(t, attached{}, other.mode, "the second solver does not take the lock")
	assert.Equal(t, []string{fmt.Sprintf(statedir.NoticeSharing, root)}, notes.list())

	ctxDir := writeContext(t, "FROM scratch\nCOPY rootfs/ /\nRUN echo attached > /a.txt\n")
	out, updates, err := solveDockerfile(t, other, ctxDir)
	require.NoError(t, err)
	assert.NotZero(t, updates)
	assert.Equal(t, "attached", readOut(t, out, "a.txt"))
	assert.Len(t, notes.list(), 1, "a build that went through tells nothing more")
	require.NoError(t, other.Close())
	require.NoError(t, holder.Close())
	requireLocked(t, root, false)
	assert.NoFileExists(t, statedir.SocketPath(root), "the holder removes its socket")
}

func TestLockWaitStopsOnCancel(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	root := t.TempDir()
	// A holder that does not serve (starting up, or stuck): wait, visibly.
	lock := flock.New(statedir.LockPath(root))
	ok, err := lock.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	defer func() { _ = lock.Unlock() }()

	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	var notes notices
	s, err := Open(ctx, Config{Root: root, Notify: func(m string) func() {
		notes.add(m)
		cancel(context.Canceled)
		return func() {}
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, s)
	assert.Equal(t, []string{fmt.Sprintf(statedir.NoticeWaiting, statedir.LockPath(root))}, notes.list())
	assert.NoFileExists(t, statedir.SocketPath(root))
}

func TestPlatformsCached(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	takeSlot(t)
	root := t.TempDir()
	s := openSolver(t, Config{Root: root})
	first, err := s.Platforms(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, first)
	assert.Equal(t, "linux", first[0].OS)

	// The probe result is kept in the state dir, keyed by the machine.
	cache := filepath.Join(root, "platforms.json")
	require.FileExists(t, cache)
	fake := `{"key":"` + platformKey() + `","platforms":[{"architecture":"fake","os":"linux"}]}`
	require.NoError(t, os.WriteFile(cache, []byte(fake), 0o600))
	got, err := s.Platforms(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "fake", got[0].Architecture, "a fresh cache is used without probing")

	// A different machine state (key), or a cache that is not JSON, probes
	// again and rewrites the cache.
	for _, stale := range []string{`{"key":"other","platforms":[{"architecture":"fake","os":"linux"}]}`, `not json`} {
		require.NoError(t, os.WriteFile(cache, []byte(stale), 0o600))
		got, err = s.Platforms(t.Context())
		require.NoError(t, err)
		assert.Equal(t, first, got, stale)
		dt, err := os.ReadFile(cache)
		require.NoError(t, err)
		assert.Contains(t, string(dt), platformKey(), "the cache was rewritten")
	}
	left, err := filepath.Glob(filepath.Join(root, ".platforms-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary cache file is left")
}

// TestHolderGoneBeforeSolve: when the serving process exits between an
// attach and the solve, nothing was built yet: the attached Solver's Solve
// says it starts again, serves the state dir itself, and builds.
func TestHolderGoneBeforeSolve(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	takeSlot(t)
	root := t.TempDir()
	// The holder builds nothing: the state dir stays fresh, so this process
	// can serve it again (BuildKit's process-wide checksum caches hold no
	// record of it).
	holder := openSolver(t, Config{Root: root})
	var notes notices
	other := openSolver(t, Config{Root: root, Notify: notes.add})
	require.IsType(t, attached{}, other.mode)
	require.NoError(t, holder.Close())
	requireLocked(t, root, false)

	ctxDir := writeContext(t, "FROM scratch\nCOPY rootfs/ /\nRUN echo again > /a.txt\n")
	out, _, err := solveDockerfile(t, other, ctxDir)
	require.NoError(t, err)
	assert.Equal(t, "again", readOut(t, out, "a.txt"))
	assert.Equal(t, []string{fmt.Sprintf(statedir.NoticeSharing, root), NoticeRestart}, notes.list())

	// It serves the state dir now: it holds the lock until it closes.
	other.mu.Lock()
	_, owns := other.mode.(childClient)
	other.mu.Unlock()
	assert.True(t, owns, "the solver that started again serves the state dir")
	requireLocked(t, root, true)
	require.NoError(t, other.Close())
	requireLocked(t, root, false)
}

// TestOpenErrors: Open's own checks, made before anything is started.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Config{})
	require.Error(t, err)
	if _, lookErr := exec.LookPath("runc"); lookErr != nil {
		require.ErrorIs(t, err, ErrRuncMissing)
		return
	}
	assert.EqualError(t, err, "no state directory given")
}

// TestSolverLingers: with Idle, the solver's process keeps serving after
// the process that started it closed it: the next Open on the same state
// dir with the same configuration shares it silently; one with another
// configuration asks it to stop and starts its own (but one with the
// history on serves a build that needs none); one with no idle time of
// its own stops it once done.
func TestSolverLingers(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	takeSlot(t)
	root := t.TempDir()
	ctxDir := writeContext(t, "FROM scratch\nCOPY rootfs/ /\nRUN echo lingered > /a.txt\n")

	first := openSolver(t, Config{Root: root, Idle: time.Minute})
	_, err := os.Stat(statedir.IdlePath(root))
	require.ErrorIs(t, err, os.ErrNotExist, "not idle while its process uses it")
	_, _, err = solveDockerfile(t, first, ctxDir)
	require.NoError(t, err)
	require.NoError(t, first.Close())
	requireLocked(t, root, true)
	assert.FileExists(t, statedir.IdlePath(root), "the solver lingers")
	lingeringID, err := os.ReadFile(statedir.IdlePath(root))
	require.NoError(t, err)

	var notes notices
	second := openSolver(t, Config{Root: root, Idle: time.Minute, Notify: notes.add})
	assert.IsType(t, attached{}, second.mode, "the same configuration shares the lingering solver")
	out, _, err := solveDockerfile(t, second, ctxDir)
	require.NoError(t, err)
	assert.Equal(t, "lingered", readOut(t, out, "a.txt"))
	require.NoError(t, second.Close())
	assert.Empty(t, notes.list(), "sharing a lingering solver is silent")

	// Another configuration (here: the build history on) replaces it.
	third := openSolver(t, Config{Root: root, Idle: time.Minute, History: true})
	_, owns := third.mode.(childClient)
	require.True(t, owns, "another configuration starts a solver of its own")
	require.NoError(t, third.Close())
	thirdID, err := os.ReadFile(statedir.IdlePath(root))
	require.NoError(t, err)
	assert.NotEqual(t, string(lingeringID), string(thirdID))

	// One that needs no history shares it, history on, and with no idle
	// time of its own stops it once done.
	fourth := openSolver(t, Config{Root: root})
	assert.IsType(t, attached{}, fourth.mode, "a solver with the history on serves a build that needs none")
	require.NoError(t, fourth.Close())
	require.Eventually(t, func() bool {
		l, err := statedir.TryLock(root)
		if err != nil {
			return false
		}
		_ = l.Unlock()
		return true
	}, 10*time.Second, 50*time.Millisecond, "the lingering solver stopped")
	assert.NoFileExists(t, statedir.IdlePath(root))
	assert.NoFileExists(t, statedir.SocketPath(root))
}
