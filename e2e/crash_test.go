package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded solver runs in a process of its own that is the init of a
// PID namespace and dies with the docker-build2 process that started it:
// these tests SIGKILL docker-build2 processes in the middle of RUN steps
// and check that no process of those steps outlives them, and that the
// state dir works again afterwards.

// sleepSeq hands out sleep durations no other process on the machine has:
// a RUN step's processes are found by their cmdline ("sleep N").
var sleepSeq atomic.Int64

func init() { sleepSeq.Store(int64(100000 + rand.Intn(800000))) }

func uniqueSleep() int { return int(sleepSeq.Add(1)) }

// uniqueMarker is a word only this test's output and Dockerfiles contain.
func uniqueMarker() string { return fmt.Sprintf("m%d", uniqueSleep()) }

// buildProc is a `docker build2` (or plugin) process started in a process
// group of its own, its stdout and stderr in out.
type buildProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startDocker starts `docker ARGS` as the leader of a new process group
// (so that killing the group kills the CLI, the plugin and the solver's
// process, as a terminal's ^\ or a CI runner's kill would). The test's
// cleanup kills the group if it is still there.
func startDocker(t *testing.T, args []string, opts ...runOpt) *buildProc {
	t.Helper()
	cmd := exec.Command(world.docker, args...)
	cmd.Env = baseEnv()
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	for _, o := range opts {
		o(cmd)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	require.NoError(t, cmd.Start())
	p := &buildProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code
// (128+signal when killed); ok is false if it is still running.
func (p *buildProc) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return exitCode(p.err), true
	case <-time.After(d):
		return 0, false
	}
}

func (p *buildProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitForOutput waits until the process printed a line matching re; it
// fails the test if the process exits first or after 60 s.
func waitForOutput(t *testing.T, p *buildProc, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for !rx.MatchString(p.out.String()) {
		if p.exited() && !rx.MatchString(p.out.String()) {
			t.Fatalf("the build exited (%v) before printing %q:\n%s", p.err, re, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared:\n%s", re, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stepOutput is the regexp of a line a RUN step printed (not of the line
// that names the step, which has the same words).
func stepOutput(s string) string { return `(?m)^#\d+ \d+\.\d+ ` + regexp.QuoteMeta(s) + `$` }

// proc is a process on the machine.
type proc struct {
	pid  int
	args []string
}

func (p proc) String() string { return fmt.Sprintf("%d %q", p.pid, p.args) }

func cmdlineOf(pid int) []string {
	dt, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(dt) == 0 {
		return nil // gone, or a zombie
	}
	return strings.Split(strings.TrimSuffix(string(dt), "\x00"), "\x00")
}

// processes lists the live (not zombie) processes of the machine whose
// cmdline match says yes to.
func processes(match func(args []string) bool) []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if args := cmdlineOf(pid); args != nil && match(args) {
			out = append(out, proc{pid: pid, args: args})
		}
	}
	return out
}

// sleepers matches the processes of RUN steps that run `sleep N` for one
// of durations: the sleeps and the shells that started them.
func sleepers(durations ...int) func(args []string) bool {
	return func(args []string) bool {
		line := " " + strings.Join(args, " ") + " "
		for _, d := range durations {
			if strings.Contains(line, fmt.Sprintf(" sleep %d ", d)) || strings.Contains(line, fmt.Sprintf("'sleep %d ", d)) {
				return true
			}
		}
		return false
	}
}

// killLeftSleepers ends what a failed test left running, so a product bug
// does not leave day-long sleeps on the machine.
func killLeftSleepers(t *testing.T, durations ...int) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range processes(sleepers(durations...)) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
}

// waitProcesses waits until some process matches (want true) or none
// does (want false), for up to d; it returns what matches at the end.
func waitProcesses(match func([]string) bool, want bool, d time.Duration) []proc {
	deadline := time.Now().Add(d)
	for {
		ps := processes(match)
		if (len(ps) > 0) == want || time.Now().After(deadline) {
			return ps
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists the children of pid (of all its threads).
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		dt, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(dt)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Ints(out)
	return out
}

// isPlugin reports whether args are those of a docker-build2 process on
// the state dir state (not the solver's process, which has no arguments).
func isPlugin(state string) func(args []string) bool {
	return func(args []string) bool {
		if len(args) == 0 || filepath.Base(args[0]) != "docker-build2" {
			return false
		}
		for i, a := range args {
			if a == "--root="+state || (a == "--root" && i+1 < len(args) && args[i+1] == state) {
				return true
			}
		}
		return false
	}
}

// pluginOf finds the docker-build2 plugin process the docker CLI p runs,
// as its child; the scan of the whole machine for a docker-build2 on the
// state dir must find the same one when p is the only build on it
// (alone).
func pluginOf(t *testing.T, p *buildProc, state string, alone bool) int {
	t.Helper()
	c := findPlugin(p, state, 10*time.Second)
	if c == 0 {
		t.Fatalf("no docker-build2 child of the docker CLI (pid %d) on %s; children %v:\n%s",
			p.cmd.Process.Pid, state, childrenOf(p.cmd.Process.Pid), p.out.String())
	}
	if alone {
		scan := processes(isPlugin(state))
		require.Len(t, scan, 1, "one docker-build2 process on %s: %v", state, scan)
		require.Equal(t, c, scan[0].pid, "the docker CLI's child is the docker-build2 process on the state dir")
	}
	return c
}

// findPlugin waits up to d for the docker CLI p to run its docker-build2
// child on state; 0 if p exits first or none appears.
func findPlugin(p *buildProc, state string, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		for _, c := range childrenOf(p.cmd.Process.Pid) {
			if isPlugin(state)(cmdlineOf(c)) {
				return c
			}
		}
		if time.Now().After(deadline) || p.exited() {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// solverOf is the solver's process the plugin process started (its child
// with the plugin's binary and no arguments), or 0.
func solverOf(plugin int) int {
	for _, c := range childrenOf(plugin) {
		args := cmdlineOf(c)
		if len(args) == 1 && filepath.Base(args[0]) == "docker-build2" {
			return c
		}
	}
	return 0
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	dt, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(dt)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// mountsUnder lists the mount points of this (the host's) mount namespace
// that are state or under it.
func mountsUnder(t *testing.T, state string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == state || strings.HasPrefix(fields[4], state+"/")) {
			out = append(out, fields[4])
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// runcContainer is a runc container of a state dir: its runc root ("" for
// the default, /run/runc) and ID.
type runcContainer struct{ root, id, note string }

func (c runcContainer) String() string {
	root := c.root
	if root == "" {
		root = "/run/runc"
	}
	return root + ": " + c.id + c.note
}

// runcContainers lists the runc containers of the state dir: in the
// runc roots under it, and in the default root with a bundle under it.
func runcContainers(t *testing.T, state string) []runcContainer {
	t.Helper()
	var out []runcContainer
	roots, _ := filepath.Glob(filepath.Join(state, "runc-*", "executor"))
	for _, r := range roots {
		list, _ := exec.Command("runc", "--root", r, "list", "-q").Output()
		for _, id := range strings.Fields(string(list)) {
			out = append(out, runcContainer{root: r, id: id})
		}
	}
	list, _ := exec.Command("runc", "list", "-q").Output()
	seen := map[string]bool{}
	for _, id := range strings.Fields(string(list)) {
		st, _ := exec.Command("runc", "state", id).Output()
		if bytes.Contains(st, []byte(state+"/")) {
			out = append(out, runcContainer{id: id})
			seen[id] = true
		}
	}
	// A runc killed while it created a container leaves its directory in
	// the default root without a state.json: `runc list` cannot load it
	// (and says so on stderr). It is the state dir's when the executor
	// has a bundle of that name.
	ents, _ := os.ReadDir("/run/runc")
	for _, e := range ents {
		if seen[e.Name()] {
			continue
		}
		if bundles, _ := filepath.Glob(filepath.Join(state, "runc-*", "executor", e.Name())); len(bundles) > 0 {
			files, _ := os.ReadDir(filepath.Join("/run/runc", e.Name()))
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			out = append(out, runcContainer{id: e.Name(), note: fmt.Sprintf(" (runc cannot load it; its directory holds %v)", names)})
		}
	}
	return out
}

// deleteRuncContainers removes what runcContainers finds, so that a test
// that found some does not leave them on the machine. `runc delete
// --force` also removes the directory of a container it cannot load.
func deleteRuncContainers(t *testing.T, state string) {
	t.Helper()
	for _, c := range runcContainers(t, state) {
		args := []string{"delete", "--force", c.id}
		if c.root != "" {
			args = append([]string{"--root", c.root}, args...)
		}
		_ = exec.Command("runc", args...).Run()
	}
}

// killMode is what a test SIGKILLs of a running `docker build2`.
type killMode string

const (
	killPlugin killMode = "plugin" // the docker-build2 process alone
	killGroup  killMode = "group"  // the docker CLI's whole process group
)

func (k killMode) kill(t *testing.T, p *buildProc, plugin int) {
	t.Helper()
	switch k {
	case killPlugin:
		require.NoError(t, syscall.Kill(plugin, syscall.SIGKILL))
	case killGroup:
		require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	}
}

// TestKillMidRunEndsSteps SIGKILLs `docker build2` while a RUN step runs
// a tree of processes: within 2 s none of them is left, and the next build
// on the state dir succeeds with the finished step cached and leaves no
// mount on the host.
func TestKillMidRunEndsSteps(t *testing.T) {
	requireE2E(t)
	for _, who := range []string{"root", "rootless"} {
		t.Run(who, func(t *testing.T) {
			for _, mode := range []killMode{killPlugin, killGroup} {
				t.Run(string(mode), func(t *testing.T) {
					var (
						state string
						ctxOf func(map[string]string) string
						opts  []runOpt
					)
					if who == "root" {
						state = t.TempDir()
						t.Cleanup(func() { deleteRuncContainers(t, state) })
						ctxOf = func(f map[string]string) string { return writeFiles(t, f) }
					} else {
						u := newUnprivileged(t, true)
						state = filepath.Join(u.home, "state")
						ctxOf = func(f map[string]string) string { return u.files(t, f) }
						opts = append(opts, u.as())
					}
					killMidRun(t, state, mode, ctxOf, opts...)
				})
			}
		})
	}
}

func killMidRun(t *testing.T, state string, mode killMode, ctxOf func(map[string]string) string, opts ...runOpt) {
	t.Helper()
	marker := uniqueMarker()
	s1, s2 := uniqueSleep(), uniqueSleep()
	killLeftSleepers(t, s1, s2)
	steps := sleepers(s1, s2)
	df := dockerfile(fmt.Sprintf("FROM {{BASE}}\nRUN echo step-one-%s > /one.txt\nRUN echo started-%s && sh -c 'sleep %d & sleep %d & wait'\n", marker, marker, s1, s2))
	ctx := ctxOf(map[string]string{"Dockerfile": df})

	p := startDocker(t, []string{"build2", "--root", state, "--progress=plain", ctx}, opts...)
	waitForOutput(t, p, stepOutput("started-"+marker))
	plugin := pluginOf(t, p, state, true)
	solver := solverOf(plugin)
	assert.NotZero(t, solver, "the plugin process %d has a solver process of its own; children %v", plugin, childrenOf(plugin))
	// Both sleeps (and the shells above them) run before the kill.
	ps := waitProcesses(func(a []string) bool { return sleepers(s1)(a) && a[0] == "sleep" }, true, 10*time.Second)
	require.NotEmpty(t, ps, "sleep %d runs", s1)
	ps = waitProcesses(func(a []string) bool { return sleepers(s2)(a) && a[0] == "sleep" }, true, 10*time.Second)
	require.NotEmpty(t, ps, "sleep %d runs", s2)
	before := processes(steps)
	t.Logf("plugin %d, solver %d, step processes %v", plugin, solver, before)

	start := time.Now()
	mode.kill(t, p, plugin)
	left := waitProcesses(steps, false, 2*time.Second)
	elapsed := time.Since(start)
	assert.Empty(t, left, "processes of the RUN step left %v after the SIGKILL", elapsed)
	t.Logf("the step's %d processes were gone %v after the SIGKILL", len(before), elapsed.Round(time.Millisecond))
	for _, pid := range []int{plugin, solver} {
		if pid == 0 {
			continue
		}
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		assert.False(t, alive(pid), "process %d (%q) is gone", pid, cmdlineOf(pid))
	}
	code, ok := p.wait(10 * time.Second)
	require.True(t, ok, "the docker CLI exits once its plugin is killed:\n%s", p.out.String())
	t.Logf("the docker CLI exited %d", code)
	assert.NotEqual(t, 0, code)

	// The next build on the state dir succeeds, with the finished step
	// cached, and leaves nothing mounted on the host.
	ctx2 := ctxOf(map[string]string{"Dockerfile": dockerfile(fmt.Sprintf("FROM {{BASE}}\nRUN echo step-one-%s > /one.txt\nRUN echo after-kill-%s > /two.txt\n", marker, marker))})
	out := filepath.Join(filepath.Dir(ctx2), filepath.Base(ctx2)+"-out")
	r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-o", out, ctx2}, opts...))
	noCrash(t, r)
	assert.Regexp(t, regexp.QuoteMeta("RUN echo step-one-"+marker+" > /one.txt")+`\n#\d+ CACHED`, r.stderr, "the step finished before the kill is cached")
	assert.Equal(t, "after-kill-"+marker, readFile(t, filepath.Join(out, "two.txt")))
	assert.Equal(t, "step-one-"+marker, readFile(t, filepath.Join(out, "one.txt")))
	assert.Empty(t, mountsUnder(t, state), "mounts under the state dir on the host")
	assert.Empty(t, runcContainers(t, state), "runc containers of the state dir")
	assert.Empty(t, processes(steps), "processes of the killed step")
}

// TestKillServingProcess SIGKILLs the docker-build2 process that serves a
// state dir while its build and three builds attached to it run RUN
// steps: every step's processes are gone within 2 s, and each attached
// build ends soon with a clear error (or succeeds), not a crash.
func TestKillServingProcess(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	t.Cleanup(func() { deleteRuncContainers(t, state) })
	const attachedBuilds = 3
	type build struct {
		p      *buildProc
		marker string
		sleep  int
	}
	var builds []build
	var durations []int
	start := func(i int) build {
		b := build{marker: uniqueMarker(), sleep: uniqueSleep()}
		durations = append(durations, b.sleep)
		killLeftSleepers(t, b.sleep)
		ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(fmt.Sprintf("FROM {{BASE}}\nRUN echo build-%d-%s > /n.txt\nRUN echo started-%s && sleep %d\n", i, b.marker, b.marker, b.sleep))})
		b.p = startDocker(t, []string{"build2", "--root", state, "--progress=plain", ctx})
		return b
	}
	serving := start(0)
	waitForOutput(t, serving.p, stepOutput("started-"+serving.marker))
	servingPlugin := pluginOf(t, serving.p, state, true)
	require.NotContains(t, serving.p.out.String(), "sharing the builder of another docker-build2 process")
	builds = append(builds, serving)
	for i := 1; i <= attachedBuilds; i++ {
		b := start(i)
		waitForOutput(t, b.p, regexp.QuoteMeta("sharing the builder of another docker-build2 process"))
		waitForOutput(t, b.p, stepOutput("started-"+b.marker))
		builds = append(builds, b)
	}
	for _, b := range builds {
		ps := waitProcesses(func(a []string) bool { return sleepers(b.sleep)(a) && a[0] == "sleep" }, true, 10*time.Second)
		require.NotEmpty(t, ps, "sleep %d runs", b.sleep)
	}
	t.Logf("serving plugin process %d (solver %d); step processes %v", servingPlugin, solverOf(servingPlugin), processes(sleepers(durations...)))

	killed := time.Now()
	require.NoError(t, syscall.Kill(servingPlugin, syscall.SIGKILL))
	left := waitProcesses(sleepers(durations...), false, 2*time.Second)
	assert.Empty(t, left, "processes of the four RUN steps left %v after the SIGKILL", time.Since(killed))
	t.Logf("the four steps' processes were gone %v after the SIGKILL", time.Since(killed).Round(time.Millisecond))

	code, ok := serving.p.wait(10 * time.Second)
	require.True(t, ok, "the serving build's docker CLI exits:\n%s", serving.p.out.String())
	t.Logf("serving build: exit %d", code)
	errLine := regexp.MustCompile(`(?m)^ERROR: .*$`)
	for i, b := range builds[1:] {
		deadline := killed.Add(60 * time.Second)
		code, ok := b.p.wait(time.Until(deadline))
		out := b.p.out.String()
		if !assert.True(t, ok, "attached build %d ends within 60 s of the kill:\n%s", i+1, out) {
			continue
		}
		t.Logf("attached build %d: exit %d after %v; %s", i+1, code, time.Since(killed).Round(time.Millisecond), errLine.FindString(out))
		for _, s := range []string{"panic:", "goroutine "} {
			assert.NotContains(t, out, s, "attached build %d's output looks like a crash:\n%s", i+1, out)
		}
		if code != 0 {
			msg := errLine.FindString(out)
			if assert.NotEmpty(t, msg, "attached build %d failed (exit %d) without an ERROR: line:\n%s", i+1, code, out) {
				assert.Contains(t, msg, "stopped during the build", "attached build %d's error says what happened: %s", i+1, msg)
				assert.Contains(t, msg, "run the build again", "attached build %d's error says what to do: %s", i+1, msg)
				assert.Equal(t, 1, strings.Count(out, "ERROR:"), "attached build %d renders its error once:\n%s", i+1, out)
			}
		}
	}

	// The state dir serves the next build, and nothing of the killed
	// builder is left.
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(fmt.Sprintf("FROM {{BASE}}\nRUN echo build-0-%s > /n.txt\nRUN echo after > /after.txt\n", serving.marker))})
	r := mustSucceed(t, build2(t, "--root", state, "--progress=plain", "-o", t.TempDir(), ctx))
	noCrash(t, r)
	assert.Regexp(t, regexp.QuoteMeta("RUN echo build-0-"+serving.marker+" > /n.txt")+`\n#\d+ CACHED`, r.stderr)
	assert.Empty(t, mountsUnder(t, state), "mounts under the state dir on the host")
	assert.Empty(t, runcContainers(t, state), "runc containers of the state dir")
	assert.Empty(t, processes(sleepers(durations...)), "processes of the killed steps")
}
