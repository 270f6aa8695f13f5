package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded solver keeps serving for --solver-idle after a build, for
// the next builds on the same state dir: these tests check that the next
// build shares it silently, that a build with another configuration gets a
// solver of its own, that the solver lets go of the build's output, that
// killing a build that shares it ends its steps, and that it stops when
// asked to.

// stateLocked reports whether the state dir's lock is held, as the
// lingering solver holds it.
func stateLocked(t *testing.T, state string) bool {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(state, "buildkitd.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	require.NoError(t, err)
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// lockHolder is the process holding the state dir's lock (/proc/locks
// names it by the lock file's inode), or 0.
func lockHolder(t *testing.T, state string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(state, "buildkitd.lock"), &st); err != nil {
		return 0
	}
	dt, err := os.ReadFile("/proc/locks")
	require.NoError(t, err)
	for _, l := range strings.Split(string(dt), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && strings.HasSuffix(f[5], fmt.Sprintf(":%d", st.Ino)) {
			pid, _ := strconv.Atoi(f[4])
			return pid
		}
	}
	return 0
}

// waitUnlocked waits up to d for the state dir's lock to be free.
func waitUnlocked(t *testing.T, state string, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for stateLocked(t, state) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// stopSolver asks the solver that lingers on state to stop, and waits
// until it did.
func stopSolver(t *testing.T, state string) bool {
	t.Helper()
	_ = os.Remove(filepath.Join(state, "buildkitd.idle"))
	return waitUnlocked(t, state, 10*time.Second)
}

// stopLingering stops the solver that lingers on state when the test ends.
func stopLingering(t *testing.T, state string) {
	t.Helper()
	t.Cleanup(func() { stopSolver(t, state) })
}

func TestSolverLingers(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	state := t.TempDir()
	stopLingering(t, state)
	idleMark := filepath.Join(state, "buildkitd.idle")
	marker := uniqueMarker()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo " + marker + " > /one.txt\n")})

	// The build's output is read through pipes (bytes.Buffer): the build
	// returns although its solver keeps serving for a minute.
	start := time.Now()
	out1 := t.TempDir()
	r := mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "-o", out1, ctx))
	assert.Less(t, time.Since(start), 30*time.Second, "the lingering solver holds none of the build's output pipes")
	assert.Equal(t, marker, readFile(t, filepath.Join(out1, "one.txt")))
	assert.True(t, stateLocked(t, state), "the solver still holds the state dir")
	first, err := os.ReadFile(idleMark)
	require.NoError(t, err, "the solver marks itself idle")
	assert.NotContains(t, r.stderr, "sharing the builder")
	// It keeps neither the build's stderr nor its working directory.
	solver := lockHolder(t, state)
	require.NotZero(t, solver)
	for fd, want := range map[string]string{"fd/0": os.DevNull, "fd/1": os.DevNull, "fd/2": os.DevNull, "cwd": "/"} {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", solver, fd))
		require.NoError(t, err)
		assert.Equal(t, want, got, "the lingering solver's %s", fd)
	}

	// The next build shares it, silently, from the cache.
	out2 := t.TempDir()
	r = mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "-o", out2, ctx))
	assert.Regexp(t, regexp.QuoteMeta("RUN echo "+marker+" > /one.txt")+`\n#\d+ CACHED`, r.stderr)
	assert.NotContains(t, r.stderr, "sharing the builder")
	assert.NotContains(t, r.stderr, "waiting for")
	second, err := os.ReadFile(idleMark)
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "the same solver serves both builds")

	// A build that reads provenance from the build history needs a solver
	// with the history on: it replaces the idle one, which then serves
	// the builds that need none.
	meta := filepath.Join(t.TempDir(), "meta.json")
	mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "--metadata-file", meta, "-o", t.TempDir(), ctx))
	assert.Contains(t, readFile(t, meta), "buildx.build.provenance")
	withHistory, err := os.ReadFile(idleMark)
	require.NoError(t, err)
	assert.NotEqual(t, string(first), string(withHistory), "another solver, with the history on")
	mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "-o", t.TempDir(), ctx))
	now, err := os.ReadFile(idleMark)
	require.NoError(t, err)
	assert.Equal(t, string(withHistory), string(now), "the solver with the history on serves a build that needs none")

	// A build with no idle time stops it once done.
	mustSucceed(t, build2(t, "--root", state, "--solver-idle=0", "-o", t.TempDir(), ctx))
	assert.True(t, waitUnlocked(t, state, 10*time.Second), "the solver stops after a build with --solver-idle=0")
	assert.NoFileExists(t, idleMark)
	assert.NoFileExists(t, filepath.Join(state, "buildkitd.sock"))

	// And by itself once idle for its time.
	mustSucceed(t, build2(t, "--root", state, "--solver-idle=500ms", "-o", t.TempDir(), ctx))
	assert.True(t, waitUnlocked(t, state, 10*time.Second), "the solver stops after --solver-idle")
	assert.NoFileExists(t, idleMark)

	// A bad value is named with its fix.
	r = runCmd(t, world.docker, []string{"build2", "--root", state, ctx}, withEnv("DOCKER_BUILD2_SOLVER_IDLE=soon"))
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, `invalid DOCKER_BUILD2_SOLVER_IDLE "soon": want a duration such as 10s`)
	noCrash(t, r)
	r = build2(t, "--root", state, "--solver-idle=-1s", ctx)
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, `invalid argument "-1s" for "--solver-idle" flag: -1s is negative: give 0`)
	noCrash(t, r)
}

// TestSolverLingerNewConfig: a lingering solver started with another
// daemon.json is replaced, so that the new configuration applies.
func TestSolverLingerNewConfig(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	state := t.TempDir()
	stopLingering(t, state)
	daemonJSON := filepath.Join(t.TempDir(), "daemon.json")
	require.NoError(t, os.WriteFile(daemonJSON, []byte(`{}`), 0o644))
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo " + uniqueMarker() + "\n")})
	args := []string{"--root", state, "--daemon-config", daemonJSON, "--solver-idle=1m", "--network=host", "-o", t.TempDir(), ctx}
	mustSucceed(t, build2(t, args...))
	require.True(t, stateLocked(t, state))

	require.NoError(t, os.WriteFile(daemonJSON, []byte(`{"builder": {"entitlements": {"network-host": false}}}`), 0o644))
	r := build2(t, args...)
	assert.Equal(t, 1, r.code, "network.host is no longer allowed:\n%s", r)
	assert.Contains(t, r.stderr, "network.host")
	assert.NotContains(t, r.stderr, "sharing the builder")
	noCrash(t, r)
}

// TestKillBuildSharingLingeringSolver SIGKILLs a build that shares a
// lingering solver in the middle of a RUN step: the step's processes end,
// and the solver serves the next build.
func TestKillBuildSharingLingeringSolver(t *testing.T) {
	requireE2E(t)
	t.Parallel()
	state := t.TempDir()
	stopLingering(t, state)
	t.Cleanup(func() { deleteRuncContainers(t, state) })
	marker, sleep := uniqueMarker(), uniqueSleep()
	killLeftSleepers(t, sleep)
	warm := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo warm-" + marker + "\n")})
	mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "-o", t.TempDir(), warm))
	first, err := os.ReadFile(filepath.Join(state, "buildkitd.idle"))
	require.NoError(t, err)

	df := dockerfile(fmt.Sprintf("FROM {{BASE}}\nRUN echo started-%s && sleep %d\n", marker, sleep))
	p := startDocker(t, []string{"build2", "--root", state, "--solver-idle=1m", "--progress=plain", writeFiles(t, map[string]string{"Dockerfile": df})})
	waitForOutput(t, p, stepOutput("started-"+marker))
	require.NotEmpty(t, waitProcesses(func(a []string) bool { return sleepers(sleep)(a) && a[0] == "sleep" }, true, 10*time.Second))
	require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	left := waitProcesses(sleepers(sleep), false, 5*time.Second)
	assert.Empty(t, left, "the killed build's RUN step ends")
	_, ok := p.wait(10 * time.Second)
	require.True(t, ok)

	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--root", state, "--solver-idle=1m", "--progress=plain", "-o", out,
		writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo warm-" + marker + "\nRUN echo after > /after.txt\n")})))
	assert.Regexp(t, regexp.QuoteMeta("RUN echo warm-"+marker)+`\n#\d+ CACHED`, r.stderr)
	assert.Equal(t, "after", readFile(t, filepath.Join(out, "after.txt")))
	now, err := os.ReadFile(filepath.Join(state, "buildkitd.idle"))
	require.NoError(t, err)
	assert.Equal(t, string(first), string(now), "the lingering solver survived the killed build")
	assert.Empty(t, runcContainers(t, state), "runc containers of the state dir")
}
