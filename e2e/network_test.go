package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// netDockerfile writes what a RUN step sees of the network: its interfaces
// to /ifaces, and to /reach what the host's 127.0.0.1:PORT answered, or
// "unreachable".
func netDockerfile(port string) string {
	return dockerfile("FROM {{BASE}} AS n\n" +
		"RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' ' > /ifaces\n" +
		"RUN if wget -qO /got http://127.0.0.1:" + port + "/; then cat /got > /reach; else echo unreachable > /reach; fi\n" +
		"FROM scratch\nCOPY --from=n /ifaces /reach /\n")
}

// netView is what a build's RUN steps saw of the network.
type netView struct{ ifaces, reach string }

func readNetView(t *testing.T, out string) netView {
	t.Helper()
	return netView{
		ifaces: strings.TrimSpace(readFile(t, filepath.Join(out, "ifaces"))),
		reach:  strings.TrimSpace(readFile(t, filepath.Join(out, "reach"))),
	}
}

// loopbackServer serves on the host's 127.0.0.1 only and counts requests.
func loopbackServer(t *testing.T) (port string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("host-loopback-service"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), hits
}

// TestNetworkModes: by default a RUN step has a network of its own
// (loopback and slirp4netns's tap0) from which a service the host binds on
// 127.0.0.1 is out of reach; --network none has only loopback; --network
// host is the host's network, service included. Through docker build2 and
// the docker build alias's spelling (build2 build).
func TestNetworkModes(t *testing.T) {
	requireE2E(t)
	port, hits := loopbackServer(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": netDockerfile(port)})
	view := func(args ...string) netView {
		t.Helper()
		out := t.TempDir()
		r := mustSucceed(t, docker(t, append(append(args, "--no-cache", "-o", out), ctx)))
		noCrash(t, r)
		return readNetView(t, out)
	}
	isolated := netView{ifaces: "lo tap0", reach: "unreachable"}
	assert.Equal(t, isolated, view("build2"))
	assert.Equal(t, isolated, view("build2", "build", "--network", "default"))
	assert.Equal(t, netView{ifaces: "lo", reach: "unreachable"}, view("build2", "--network", "none"))
	assert.Equal(t, int64(0), hits.Load(), "no request reached the host's loopback")

	host := view("build2", "build", "--network=host")
	assert.Equal(t, "host-loopback-service", host.reach)
	hostIfaces, err := net.Interfaces()
	require.NoError(t, err)
	var want []string
	for _, i := range hostIfaces {
		want = append(want, i.Name)
	}
	assert.ElementsMatch(t, want, strings.Fields(host.ifaces), "--network host is the host's network")
	assert.Equal(t, int64(1), hits.Load())

	// RUN --network=host asks for the entitlement, as with buildx.
	runHost := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN --network=host wget -qO /got http://127.0.0.1:" + port + "/\nFROM scratch\nCOPY --from=0 /got /\n")})
	r := docker(t, []string{"build2", "--no-cache", "-o", t.TempDir(), runHost})
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "network.host is not allowed")
	noCrash(t, r)
	out := t.TempDir()
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "--no-cache", "--allow", "network.host", "-o", out, runHost})))
	assert.Equal(t, "host-loopback-service", readFile(t, filepath.Join(out, "got")))
}

// TestNetworkModesRootless: the same isolation for a rootless user's
// builds.
func TestNetworkModesRootless(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	port, hits := loopbackServer(t)
	ctx := u.files(t, map[string]string{"Dockerfile": netDockerfile(port)})
	view := func(args ...string) netView {
		t.Helper()
		out := filepath.Join(u.home, "out-"+strings.Join(args, ""))
		r := mustSucceed(t, docker(t, append(append([]string{"build2", "--no-cache", "-o", out}, args...), ctx), u.as()))
		noCrash(t, r)
		return readNetView(t, out)
	}
	assert.Equal(t, netView{ifaces: "lo tap0", reach: "unreachable"}, view())
	assert.Equal(t, int64(0), hits.Load(), "no request reached the host's loopback")
	assert.Equal(t, "host-loopback-service", view("--network", "host").reach)
	assert.Equal(t, int64(1), hits.Load())
}

// hostNetworkState is what a build must leave as it found it on the host:
// interfaces, addresses, routes, firewall rules, forwarding sysctls.
func hostNetworkState(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range [][]string{
		{"ip", "-o", "link", "show"},
		{"ip", "-o", "addr", "show"},
		{"ip", "route", "show", "table", "all"},
		{"iptables-save"},
		{"ip6tables-save"},
		{"nft", "list", "ruleset"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			continue
		}
		out, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		// Counters change with traffic; the rules themselves must not.
		fmt.Fprintf(&b, "$ %s\n%s\n", strings.Join(c, " "), stripCounters(string(out)))
	}
	for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		dt, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "%s=%s", f, dt)
	}
	return b.String()
}

func stripCounters(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue // iptables-save's timestamps
		}
		if i := strings.Index(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// orphanSlirps lists slirp4netns processes whose parent is gone (adopted
// by PID 1): a build must not leave one behind, even when killed.
func orphanSlirps(t *testing.T) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != "slirp4netns" {
			continue
		}
		if ppid(pid) == 1 {
			out = append(out, fmt.Sprintf("%d %s", pid, cmdlineOf(pid)))
		}
	}
	return out
}

func ppid(pid int) int {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// TestNetworkLeavesHostUnchanged: builds with the isolated network, in
// parallel and one killed mid-step, leave the host's interfaces, routes,
// firewall and sysctls as they were, and no slirp4netns running.
func TestNetworkLeavesHostUnchanged(t *testing.T) {
	requireE2E(t)
	before := hostNetworkState(t)
	// Traffic through slirp4netns: a service on all the host's addresses.
	l, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nARG N\nRUN wget -qO /got http://the-host:" + port + "/ && test \"$(cat /got)\" = ok\nRUN echo $N > /n\n")})
	state := t.TempDir()
	errs := make(chan result, 3)
	for i := range 3 {
		go func() {
			errs <- build2(t, "--root", state, "--no-cache", "--add-host", "the-host:host-gateway", "--build-arg", "N="+strconv.Itoa(i), "-o", t.TempDir(), ctx)
		}()
	}
	for range 3 {
		noCrash(t, mustSucceed(t, <-errs))
	}

	// A build killed while its RUN step sleeps in the isolated network.
	slow := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo started; sleep 60\n")})
	cmd := exec.Command(world.plugin, "build", "--root", state, "--no-cache", "--progress=plain", slow)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+world.configDir)
	var out bytes.Buffer
	cmd.Stderr = &out
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "started") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, out.String(), "started", "the step runs")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	deadline = time.Now().Add(5 * time.Second)
	for len(orphanSlirps(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assert.Empty(t, orphanSlirps(t), "slirp4netns processes left without their build")
	assert.Equal(t, before, hostNetworkState(t), "the host's network state after the builds")
}

// TestNetworkDebianApt: a real-world build with the isolated network: a
// Debian base made with debootstrap whose RUN step installs a package from
// Debian's mirror with apt-get.
func TestNetworkDebianApt(t *testing.T) {
	requireE2E(t)
	debian := os.Getenv("DOCKER_BUILD2_TEST_DEBIAN")
	if debian == "" {
		t.Fatal("DOCKER_BUILD2_TEST_DEBIAN is not set: run the tests through make test (hack/test-debian makes a Debian base with debootstrap)")
	}
	require.NoError(t, pushRootfs(world.reg, "library/debian", "bookworm-slim", debian))
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM " + world.reg.host + "/library/debian:bookworm-slim\n" +
		"RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*\n" +
		"RUN hello > /hello.txt\n" +
		"FROM scratch\nCOPY --from=0 /hello.txt /\n"})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--progress=plain", "-o", out, ctx))
	noCrash(t, r)
	assert.Equal(t, "Hello, world!", strings.TrimSpace(readFile(t, filepath.Join(out, "hello.txt"))))
}
