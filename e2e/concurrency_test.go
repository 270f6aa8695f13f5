package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type procResult struct {
	stderr string
	code   int
}

// startBuild2 starts the plugin binary (standalone) with the isolated env.
func startBuild2(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(world.plugin, append([]string{"build"}, args...)...)
	cmd.Env = baseEnv()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.Stdout = stderr
	require.NoError(t, cmd.Start())
	return cmd, stderr
}

// syncBuffer is a bytes.Buffer a test can read while a process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // exec returns it unwrapped
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// counterStep appends to a cache mount each time it really runs; a later
// build reads the count.
const counterStep = `RUN --mount=type=cache,id=e2e-counter,target=/c echo shared-step-running && echo run >> /c/count && sleep 3`

// TestConcurrentBuilds: builds started while another process builds on the
// same state dir share its solver, the step they all have runs once, and
// the solver, the serving process done with its own build first, serves
// theirs to the end: the process stays until they are done with
// --solver-idle=0, and exits at once otherwise, its solver lingering.
//
// Which process ends last is not asserted from exit times: a client closes
// its connection just before it exits, and the holder may exit in between.
// The holder's notice that it waits for the others is what shows it stayed.
func TestConcurrentBuilds(t *testing.T) {
	requireE2E(t)
	for _, idle := range []string{"0", "1m"} {
		t.Run("idle-"+idle, func(t *testing.T) { concurrentBuilds(t, idle) })
	}
}

func concurrentBuilds(t *testing.T, idle string) {
	t.Helper()
	state := t.TempDir()
	stopLingering(t, state)
	dir := t.TempDir()

	// The holder's build is the shared step alone; the others add a step
	// of their own after it, so they need the solver after the holder's
	// build is over.
	holderCtx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\n" + counterStep + "\n")})
	holder, holderOut := startBuild2(t, "--root", state, "--solver-idle="+idle, "--progress=plain", "-o", filepath.Join(dir, "holder"), holderCtx)
	waitFor(t, holderOut, "shared-step-running")

	var wg sync.WaitGroup
	results := make([]procResult, 3)
	for i := range results {
		ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(fmt.Sprintf("FROM {{BASE}}\n%s\nRUN sleep 2 && echo own-%d > /own.txt\n", counterStep, i))})
		cmd, stderr := startBuild2(t, "--root", state, "--progress=plain", "-o", filepath.Join(dir, fmt.Sprint(i)), ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			results[i] = procResult{stderr: stderr.String(), code: exitCode(err)}
		}()
	}
	holderErr := holder.Wait()
	wg.Wait()

	require.Equal(t, 0, exitCode(holderErr), holderOut.String())
	assert.NotContains(t, holderOut.String(), "sharing the builder of another docker-build2 process")
	if idle == "0" {
		assert.Contains(t, holderOut.String(), "waiting for the builds of other docker-build2 processes sharing this builder to finish",
			"the holder stayed for the builds attached to it")
	} else {
		assert.NotContains(t, holderOut.String(), "waiting for the builds", "the holder's solver serves them after it exits")
	}
	for i, r := range results {
		require.Equal(t, 0, r.code, "build %d:\n%s", i, r.stderr)
		assert.Equal(t, fmt.Sprintf("own-%d", i), readFile(t, filepath.Join(dir, fmt.Sprint(i), "own.txt")))
		assert.Contains(t, r.stderr, "sharing the builder of another docker-build2 process", "build %d attached", i)
		assert.NotContains(t, r.stderr, "starting again", "build %d kept the solver it attached to", i)
	}

	// The shared step ran once: the cache mount counts its runs.
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN --mount=type=cache,id=e2e-counter,target=/c wc -l < /c/count > /n.txt\n")})
	out := t.TempDir()
	mustSucceed(t, build2(t, "--root", state, "-o", out, ctx))
	assert.Equal(t, "1", readFile(t, filepath.Join(out, "n.txt")))
}

// leftovers lists runc containers and mounts that still refer to state.
func leftovers(t *testing.T, state string) []string {
	t.Helper()
	var out []string
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, state) {
			out = append(out, "mount: "+l)
		}
	}
	list, _ := exec.Command("runc", "list", "-q").Output()
	for _, id := range strings.Fields(string(list)) {
		st, _ := exec.Command("runc", "state", id).Output()
		if bytes.Contains(st, []byte(state)) {
			out = append(out, "runc container: "+id)
		}
	}
	return out
}

func TestInterrupt(t *testing.T) {
	requireE2E(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			state := t.TempDir()
			ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo first-step-done > /first.txt\nRUN echo started-long-step && sleep 60\n")})
			cmd, stderr := startBuild2(t, "--root", state, "--progress=plain", ctx)
			waitFor(t, stderr, "started-long-step")
			start := time.Now()
			require.NoError(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			elapsed := time.Since(start)
			want := 130
			if sig == syscall.SIGTERM {
				want = 143
			}
			assert.Equal(t, want, exitCode(err), stderr.String())
			assert.Less(t, elapsed, 2*time.Second, "exit within 2 s of the signal")
			// The step the signal stopped is shown cancelled, and the error
			// is rendered once. BuildKit attaches no Dockerfile source to a
			// cancelled step (the client stops waiting for the solve), so
			// there is no "Dockerfile:3" excerpt to show.
			assert.Regexp(t, `#(\d+) \[3/3\] RUN echo started-long-step && sleep 60\n(#\d+ .*\n)*#\d+ CANCELED`, stderr.String())
			assert.Regexp(t, `(?m)^ERROR: .*context canceled$`, stderr.String())
			assert.Equal(t, 1, strings.Count(stderr.String(), "ERROR:"), stderr.String())
			assert.Empty(t, leftovers(t, state))

			// The lock is free and the finished step is reused.
			r := mustSucceed(t, build2(t, "--root", state, "--progress=plain", "--target", "", "-o", t.TempDir(),
				writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo first-step-done > /first.txt\n")})))
			assert.Regexp(t, `RUN echo first-step-done > /first.txt\n#\d+ CACHED`, r.stderr)
		})
	}
}

func TestKilledBuildRecovers(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	df := dockerfile("FROM {{BASE}}\nRUN echo step-one > /one.txt\nRUN echo started-long-step && sleep 60\n")
	ctx := writeFiles(t, map[string]string{"Dockerfile": df})
	cmd, stderr := startBuild2(t, "--root", state, "--progress=plain", ctx)
	waitFor(t, stderr, "started-long-step")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	// The next build takes the stale lock and socket over and succeeds.
	ctx2 := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo step-one > /one.txt\nRUN echo after-kill > /two.txt\n")})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--root", state, "--progress=plain", "-o", out, ctx2))
	assert.Equal(t, "after-kill", readFile(t, filepath.Join(out, "two.txt")))
	assert.Regexp(t, `RUN echo step-one > /one.txt\n#\d+ CACHED`, r.stderr, "the cache survived")
	// The killed build's container and mounts are gone once the next
	// process ran.
	assert.Empty(t, leftovers(t, state))
}

func waitFor(t *testing.T, buf fmt.Stringer, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(t.Context(), 60*time.Second, fmt.Errorf("%q never appeared", s))
	defer cancel()
	for !strings.Contains(buf.String(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("%v:\n%s", context.Cause(ctx), buf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestRegistryDown: a push to a registry that does not answer fails with an
// error naming it, and leaves no partial file at the other output's dest.
func TestRegistryDown(t *testing.T) {
	requireE2E(t)
	port, err := freePort()
	require.NoError(t, err)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo x > /x\n")})
	dest := filepath.Join(t.TempDir(), "img.tar")
	r := build2(t, "--progress=plain", "-t", host+"/e2e/down:1", "--push", "-o", "type=oci,dest="+dest, ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, host)
	assert.Contains(t, r.stderr, "connection refused")
	assert.NoFileExists(t, dest)
	left, err := filepath.Glob(filepath.Join(filepath.Dir(dest), ".img.tar.tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left)
	noCrash(t, r)
}

// TestDiskFull: a state dir on a full file system gives the step's clear
// error, and the builder works again after a prune.
func TestDiskFull(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", state).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		_ = exec.Command("sh", "-c", "grep -o ' "+state+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").Run()
	})
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN dd if=/dev/zero of=/big bs=1M count=64\n")})
	r := build2(t, "--root", state, "--progress=plain", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "No space left on device")
	noCrash(t, r)
	assert.Empty(t, leftovers(t, state+"/"), "no container left")

	// Pruning the cache makes room again.
	mustSucceed(t, build2(t, "prune", "-af", "--root", state))
	small := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo fits > /f.txt\n")})
	o := t.TempDir()
	mustSucceed(t, build2(t, "--root", state, "-o", o, small))
	assert.Equal(t, "fits", readFile(t, filepath.Join(o, "f.txt")))
}

// dyingProxy forwards to target until limit bytes went upstream, then cuts
// every connection and stops listening: a registry that goes down
// mid-push.
type dyingProxy struct {
	lis    net.Listener
	target string
	limit  int64
	sent   atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
	dead   atomic.Bool
}

func startDyingProxy(t *testing.T, target string, limit int64) *dyingProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &dyingProxy{lis: lis, target: target, limit: limit}
	t.Cleanup(p.kill)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *dyingProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if p.sent.Add(int64(n)) > p.limit {
				p.kill()
				return
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = up.Close()
			return
		}
	}
}

func (p *dyingProxy) kill() {
	if p.dead.Swap(true) {
		return
	}
	_ = p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func TestRegistryDiesMidPush(t *testing.T) {
	requireE2E(t)
	proxy := startDyingProxy(t, world.reg.host, 1<<20)
	host := proxy.lis.Addr().String()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN head -c 4194304 /dev/urandom > /random.bin\n")})
	dest := filepath.Join(t.TempDir(), "img.tar")
	r := build2(t, "--progress=plain", "-t", host+"/e2e/midpush:1", "--push", "-o", "type=oci,dest="+dest, ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.True(t, proxy.dead.Load(), "the registry went down during the push")
	assert.Contains(t, r.stderr, host)
	assert.NoFileExists(t, dest, "no output is written by a failed build")
	left, err := filepath.Glob(filepath.Join(filepath.Dir(dest), ".img.tar.tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left)
	noCrash(t, r)
}
