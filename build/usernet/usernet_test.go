package usernet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/moby/buildkit/util/network"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary's main goroutine stays on the main thread, for
// TestHoldOnMainThread.
func init() { runtime.LockOSThread() }

// onMainThread is what holding a namespace from the main thread did: the
// namespace's path, the main thread's namespace before and after.
var onMainThread struct {
	path, before, after string
	err                 error
}

func TestMain(m *testing.M) {
	if os.Getenv("DOCKER_BUILD2_INTEGRATION") != "" && os.Geteuid() == 0 {
		onMainThread.before, _ = os.Readlink("/proc/self/ns/net")
		ns := &namespace{free: make(chan struct{}), exited: make(chan struct{})}
		made := make(chan error, 1)
		ns.lockAndHold(made) // on the main goroutine, so the main thread
		onMainThread.err = <-made
		onMainThread.path = ns.path
		onMainThread.after, _ = os.Readlink("/proc/self/ns/net")
		close(ns.free)
	}
	os.Exit(m.Run())
}

// TestHoldOnMainThread: asked on the main thread, which never ends, the
// namespace is held by another thread, and the main thread stays in the
// host's namespace.
func TestHoldOnMainThread(t *testing.T) {
	if os.Getenv("DOCKER_BUILD2_INTEGRATION") == "" || os.Geteuid() != 0 {
		t.Skip("integration test, root only: set DOCKER_BUILD2_INTEGRATION=1 (make test does)")
	}
	require.NoError(t, onMainThread.err)
	assert.NotContains(t, onMainThread.path, fmt.Sprintf("/task/%d/", os.Getpid()), "not the main thread")
	assert.Equal(t, onMainThread.before, onMainThread.after, "the main thread's namespace")
}

func TestDefaultRouteInterface(t *testing.T) {
	table := filepath.Join(t.TempDir(), "route")
	require.NoError(t, os.WriteFile(table, []byte(`Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
eth1	00000000	010000C0	0003	0	0	0	00000000	0	0	0
eth0	00000000	010200C0	0003	0	0	100	00000000	0	0	0
`), 0o600))
	assert.Equal(t, "eth1", defaultRouteInterface(table), "the first default route")

	require.NoError(t, os.WriteFile(table, []byte("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nlo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\n"), 0o600))
	assert.Empty(t, defaultRouteInterface(table), "no default route")
	assert.Empty(t, defaultRouteInterface(filepath.Join(t.TempDir(), "missing")))
}

func TestHostAddr(t *testing.T) {
	addr := HostAddr()
	if iface := defaultRouteInterface("/proc/net/route"); iface == "" {
		assert.Equal(t, "127.0.0.1", addr, "no default route: loopback")
		return
	}
	assert.NotEqual(t, "127.0.0.1", addr, "the address of the default route's interface")
	assert.NotContains(t, addr, ":", "an IPv4 address")
}

func TestAttachError(t *testing.T) {
	err := attachError(os.ErrPermission, "slirp4netns: starting\nopen(\"/dev/net/tun\"): Permission denied\n")
	require.EqualError(t, err, `RUN steps get an isolated network from slirp4netns, which cannot open /dev/net/tun (open("/dev/net/tun"): Permission denied): make it readable and writable for this user (chmod 0666 /dev/net/tun, the default on most systems) or build with --network=host`)
	require.EqualError(t, attachError(os.ErrClosed, "WARNING: x\nsetns failed\n"), "slirp4netns could not attach to a RUN step's network namespace: setns failed")
	assert.ErrorIs(t, attachError(os.ErrClosed, ""), os.ErrClosed)
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	_, _ = b.Write([]byte("0123456789"))
	_, _ = b.Write([]byte("ab"))
	assert.Equal(t, "456789ab", b.String())
}

func TestMissingSlirp(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := New()
	t.Cleanup(func() { _ = p.Close() })
	_, err := p.New(t.Context(), "h", network.NamespaceOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "slirp4netns, which is not installed")
	assert.Contains(t, err.Error(), "apt-get install slirp4netns")
	assert.Contains(t, err.Error(), "--network=host")
}

// TestNamespace attaches a real slirp4netns to a new namespace (root
// only): the namespace has lo and tap0, a step's spec joins it, the next
// step reuses it, and Close frees the namespace and stops slirp4netns.
func TestNamespace(t *testing.T) {
	if os.Getenv("DOCKER_BUILD2_INTEGRATION") == "" {
		t.Skip("integration test: set DOCKER_BUILD2_INTEGRATION=1 (make test does)")
	}
	if os.Geteuid() != 0 {
		t.Skip("creates network namespaces: root only")
	}
	p := New()
	ns, err := p.New(t.Context(), "h", network.NamespaceOptions{})
	require.NoError(t, err)
	path := ns.(*step).path
	dev, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(path)), "net", "dev"))
	require.NoError(t, err)
	assert.Contains(t, string(dev), "tap0:")
	assert.Contains(t, string(dev), "lo:")
	self, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	other, err := os.Readlink(path)
	require.NoError(t, err)
	assert.NotEqual(t, self, other, "a namespace of its own")

	spec := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}}}}
	require.NoError(t, ns.Set(spec))
	assert.Equal(t, []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: path}}, spec.Linux.Namespaces)

	require.NoError(t, ns.Close())
	require.NoError(t, ns.Close(), "closing twice gives it back once")
	again, err := p.New(t.Context(), "h", network.NamespaceOptions{})
	require.NoError(t, err)
	assert.Equal(t, path, again.(*step).path, "the next step reuses the namespace")
	exited := again.(*step).exited
	require.NoError(t, again.Close())

	require.NoError(t, p.Close())
	<-exited
	// The thread exits as its goroutine returns, shortly after.
	deadline := time.Now().Add(2 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		_, err = os.Stat(path)
	}
	require.ErrorIs(t, err, os.ErrNotExist, "the namespace's thread is gone")
	now, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	assert.Equal(t, self, now, "the process stays in its namespace")
}
