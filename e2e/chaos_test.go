package e2e

import (
	"fmt"
	"math/rand"
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

// chaosPhase is a part of a build that TestChaos kills builds in.
type chaosPhase struct {
	name string
	// args are the build's arguments (before the context), dockerfile its
	// Dockerfile, for build n.
	args       func(n int) []string
	dockerfile func(n int) string
	// context is the build context (the Dockerfile is written elsewhere
	// and given with -f), or "" for the Dockerfile's own directory.
	context string
	// before, if set, runs before the build starts.
	before func()
	// delay, if set, picks when to kill after the phase started, else
	// a time within window.
	delay func(rng *rand.Rand, window time.Duration) time.Duration
	// started says whether build n is in the phase; ended, whether it is
	// over (nil: at the end of the build). The kill comes a random time
	// after the phase started, within how long it took in a build that
	// was not killed.
	started, ended func(n int, p *buildProc) bool
}

// printed is a chaosPhase condition: the build printed a match of re.
func printed(re string) func(int, *buildProc) bool {
	rx := regexp.MustCompile(re)
	return func(_ int, p *buildProc) bool { return rx.MatchString(p.out.String()) }
}

// waitUntil waits up to d for cond; false if the build exited first (and
// cond is still false) or d passed.
func waitUntil(p *buildProc, n int, cond func(int, *buildProc) bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !cond(n, p) {
		if p.exited() {
			return cond(n, p)
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// TestChaos SIGKILLs 30 builds on one state dir at random moments of
// four phases (sending the context, a RUN step, writing a tarball output,
// pushing to a registry), the docker-build2 process alone or the whole
// process group in turn; then a build must succeed with the cache of the
// earlier ones, and nothing may be left: no step process, mount,
// temporary output file or runc container. Half the kills in a RUN step
// come within 5 ms of runc starting to create its container.
//
// It runs only with DOCKER_BUILD2_CHAOS=1 (make chaos); the seed is logged
// and DOCKER_BUILD2_CHAOS_SEED replays one.
func TestChaos(t *testing.T) {
	requireE2E(t)
	if os.Getenv("DOCKER_BUILD2_CHAOS") != "1" {
		t.Skip("chaos: set DOCKER_BUILD2_CHAOS=1 (make chaos does)")
	}
	const builds = 30
	seed := time.Now().UnixNano()
	if s := os.Getenv("DOCKER_BUILD2_CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "DOCKER_BUILD2_CHAOS_SEED")
	}
	t.Logf("seed %d (DOCKER_BUILD2_CHAOS_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	began := time.Now()

	state := t.TempDir()
	// What this test finds left of runc's containers is not left on the
	// machine; before the state dir goes.
	t.Cleanup(func() { deleteRuncContainers(t, state) })
	work := t.TempDir()
	// A context of 3000 files, 40 MB in all, made once.
	bigCtx := filepath.Join(work, "bigctx")
	var ctxBytes int
	for d := 0; d < 30; d++ {
		dir := filepath.Join(bigCtx, fmt.Sprintf("d%02d", d))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for f := 0; f < 100; f++ {
			b := make([]byte, 4<<10+rng.Intn(20<<10))
			rng.Read(b)
			ctxBytes += len(b)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), b, 0o644))
		}
	}
	t.Logf("context: 3000 files, %d MB", ctxBytes>>20)
	// New times on every file make a build send the whole context again
	// rather than what changed since the last one.
	touched := time.Now()
	touchContext := func() {
		touched = touched.Add(time.Second)
		require.NoError(t, filepath.Walk(bigCtx, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chtimes(p, touched, touched)
		}))
	}
	// Every tarball output goes to the same file, as a rerun of the same
	// command writes it.
	tarDest := filepath.Join(work, "out", "image.tar")
	require.NoError(t, os.MkdirAll(filepath.Dir(tarDest), 0o755))

	// Uploads in progress at the registry, for the push phase: a push has
	// begun once one that was not there before the build has data.
	uploads := filepath.Join(world.tmp, "registry", "data", "docker", "registry", "v2", "repositories", "e2e", "chaos", "_uploads")
	oldUploads := map[string]bool{}
	listUploads := func() map[string]int64 {
		ents, _ := os.ReadDir(uploads)
		out := map[string]int64{}
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(uploads, e.Name(), "data")); err == nil {
				out[e.Name()] = st.Size()
			}
		}
		return out
	}

	// runc's containers (the default root of runc as root of the host),
	// for the run phase.
	oldRunc := map[string]bool{}
	runcDirs := func() map[string]bool {
		ents, _ := os.ReadDir("/run/runc")
		out := map[string]bool{}
		for _, e := range ents {
			out[e.Name()] = true
		}
		return out
	}

	const common = "FROM {{BASE}}\nRUN echo chaos-common > /common.txt\n"
	var sleeps []int
	sleepOf := map[int]int{}
	phases := []chaosPhase{{
		name:       "context",
		context:    bigCtx,
		before:     touchContext,
		dockerfile: func(n int) string { return common + fmt.Sprintf("COPY . /ctx/\nRUN echo context-%d > /n.txt\n", n) },
		started:    printed(`\[internal\] load build context`),
		ended:      printed(`\[internal\] load build context\n(?:.*\n)*?#\d+ transferring context: [^\n]* done`),
	}, {
		name: "run",
		dockerfile: func(n int) string {
			d := uniqueSleep()
			sleeps = append(sleeps, d)
			sleepOf[n] = d
			return common + fmt.Sprintf("RUN echo chaos-run-%d && sleep %d\n", n, d)
		},
		// From the moment runc begins to create the step's container
		// (its directory appears in runc's root, named as the bundle
		// under the state dir); half the kills come within 5 ms of it,
		// while runc creates the container, the others during the sleep.
		before: func() {
			for id := range runcDirs() {
				oldRunc[id] = true
			}
		},
		started: func(int, *buildProc) bool {
			for id := range runcDirs() {
				if b, _ := filepath.Glob(filepath.Join(state, "runc-*", "executor", id)); !oldRunc[id] && len(b) > 0 {
					return true
				}
			}
			return false
		},
		delay: func(rng *rand.Rand, window time.Duration) time.Duration {
			if rng.Intn(2) == 0 {
				return time.Duration(rng.Int63n(int64(5 * time.Millisecond)))
			}
			return time.Duration(rng.Int63n(int64(window)))
		},
	}, {
		name: "export",
		args: func(int) []string { return []string{"-o", "type=tar,dest=" + tarDest} },
		dockerfile: func(n int) string {
			return common + fmt.Sprintf("RUN head -c 67108864 /dev/urandom > /big.bin\nRUN echo export-%d > /n.txt\n", n)
		},
		started: printed(`exporting to client tarball`),
	}, {
		name: "push",
		args: func(n int) []string {
			return []string{"-t", fmt.Sprintf("%s/e2e/chaos:%d", world.reg.host, n), "--push"}
		},
		// A layer of its own for each build, so each push sends it. Plain
		// progress shows "pushing layers" only once it is done: the push
		// has started when the registry has a new upload with data.
		dockerfile: func(n int) string {
			return common + fmt.Sprintf("RUN head -c 50331648 /dev/urandom > /push.bin && echo push-%d > /n.txt\n", n)
		},
		before: func() {
			for id := range listUploads() {
				oldUploads[id] = true
			}
		},
		started: func(int, *buildProc) bool {
			for id, size := range listUploads() {
				if !oldUploads[id] && size > 0 {
					return true
				}
			}
			return false
		},
	}}
	t.Cleanup(func() {
		for _, p := range processes(sleepers(sleeps...)) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})

	n := 0
	startBuild := func(ph chaosPhase) (*buildProc, int) {
		n++
		if ph.before != nil {
			ph.before()
		}
		dfDir := filepath.Join(work, fmt.Sprintf("build-%02d", n))
		require.NoError(t, os.MkdirAll(dfDir, 0o755))
		df := filepath.Join(dfDir, "Dockerfile")
		require.NoError(t, os.WriteFile(df, []byte(dockerfile(ph.dockerfile(n))), 0o644))
		args := []string{"build2", "--root", state, "--progress=plain", "-f", df}
		if ph.args != nil {
			args = append(args, ph.args(n)...)
		}
		ctx := ph.context
		if ctx == "" {
			ctx = dfDir
		}
		return startDocker(t, append(args, ctx)), n
	}

	// Each phase once without a kill: the cache then has what later builds
	// reuse, and how long the phase takes here bounds the kill's delay.
	window := map[string]time.Duration{}
	for _, ph := range phases {
		if ph.name == "run" {
			window[ph.name] = 1500 * time.Millisecond
			continue
		}
		p, i := startBuild(ph)
		require.True(t, waitUntil(p, i, ph.started, 2*time.Minute), "build %d (%s) never got to its phase:\n%s", i, ph.name, p.out.String())
		phaseStart := time.Now()
		if ph.ended != nil {
			require.True(t, waitUntil(p, i, ph.ended, 2*time.Minute), "build %d (%s): the phase never ended:\n%s", i, ph.name, p.out.String())
			window[ph.name] = max(time.Since(phaseStart), 100*time.Millisecond)
		}
		code, ok := p.wait(2 * time.Minute)
		require.True(t, ok && code == 0, "build %d (%s), not killed, succeeds: exit %d:\n%s", i, ph.name, code, p.out.String())
		if ph.ended == nil {
			window[ph.name] = max(time.Since(phaseStart), 100*time.Millisecond)
		}
		t.Logf("build %2d: %-7s not killed: the phase took %v", i, ph.name, window[ph.name].Round(time.Millisecond))
	}

	killedIn := map[string]int{}
	finished := 0
	for k := 0; k < builds; k++ {
		ph := phases[k%len(phases)]
		mode := []killMode{killPlugin, killGroup}[(k+k/len(phases))%2]
		p, i := startBuild(ph)
		plugin := findPlugin(p, state, 30*time.Second)
		require.NotZero(t, plugin, "build %d: the docker CLI started no docker-build2:\n%s", i, p.out.String())
		if !waitUntil(p, i, ph.started, 2*time.Minute) {
			code, _ := p.wait(time.Second)
			t.Fatalf("build %d (%s) never got to its phase (exit %d):\n%s", i, ph.name, code, p.out.String())
		}
		delay := time.Duration(rng.Int63n(int64(window[ph.name])))
		if ph.delay != nil {
			delay = ph.delay(rng, window[ph.name])
		}
		time.Sleep(delay)
		lines := strings.Split(strings.TrimSpace(p.out.String()), "\n")
		last := lines[len(lines)-1]
		if !p.exited() {
			mode.kill(t, p, plugin)
		}
		code, ok := p.wait(30 * time.Second)
		require.True(t, ok, "build %d: the docker CLI exits after the SIGKILL:\n%s", i, p.out.String())
		if code == 0 {
			finished++
			t.Logf("build %2d: %-7s %-6s after %v: had finished", i, ph.name, mode, delay.Round(time.Millisecond))
			continue
		}
		noCrash(t, result{stderr: p.out.String()})
		killedIn[ph.name]++
		t.Logf("build %2d: %-7s %-6s after %v: killed (exit %d); last line printed: %q", i, ph.name, mode, delay.Round(time.Millisecond), code, last)
		if ph.name == "export" {
			tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(tarDest), ".*.tmp-*"))
			t.Logf("          temporary output files now: %d", len(tmps))
		}
		if d, ok := sleepOf[i]; ok {
			left := waitProcesses(sleepers(d), false, 2*time.Second)
			assert.Empty(t, left, "build %d: its step's processes are gone within 2 s", i)
		}
	}
	t.Logf("killed %d builds (%v), %d had finished before their kill", builds-finished, killedIn, finished)

	// Temporary tarballs of killed exports are removed by the next output
	// to the same file: the final build's.
	tmps, err := filepath.Glob(filepath.Join(filepath.Dir(tarDest), ".*.tmp-*"))
	require.NoError(t, err)
	t.Logf("before the final build: %d temporary output files %v", len(tmps), tmps)

	// A build on the state dir after all that succeeds, reusing the cache.
	final, i := startBuild(phases[2])
	code, ok := final.wait(3 * time.Minute)
	require.True(t, ok, "the final build ends:\n%s", final.out.String())
	require.Equal(t, 0, code, "the final build succeeds:\n%s", final.out.String())
	noCrash(t, result{stderr: final.out.String()})
	assert.Regexp(t, regexp.QuoteMeta("RUN echo chaos-common > /common.txt")+`\n#\d+ CACHED`, final.out.String())
	assert.Regexp(t, regexp.QuoteMeta("RUN head -c 67108864 /dev/urandom > /big.bin")+`\n#\d+ CACHED`, final.out.String())
	st, err := os.Stat(tarDest)
	require.NoError(t, err, "build %d wrote its tarball", i)
	t.Logf("final build %d: exit 0, tarball %d MB", i, st.Size()>>20)

	// What the killed builds left.
	steps := waitProcesses(sleepers(sleeps...), false, 2*time.Second)
	mounts := mountsUnder(t, state)
	tmps, err = filepath.Glob(filepath.Join(filepath.Dir(tarDest), ".*.tmp-*"))
	require.NoError(t, err)
	containers := runcContainers(t, state)
	t.Logf("left: %d step processes, %d mounts under the state dir, %d temporary output files, %d runc containers",
		len(steps), len(mounts), len(tmps), len(containers))
	assert.Empty(t, steps, "step processes")
	assert.Empty(t, mounts, "mounts under the state dir")
	assert.Empty(t, tmps, "temporary output files")
	assert.Empty(t, containers, "runc containers")
	// Not asserted: runc bundles of killed steps left in the executor's
	// directory (no process, mount or container refers to them).
	bundles, _ := filepath.Glob(filepath.Join(state, "runc-*", "executor", "*", "config.json"))
	t.Logf("runc bundle directories left under the state dir: %d", len(bundles))
	t.Logf("chaos took %v", time.Since(began).Round(time.Second))
}
