// Package usernet gives each RUN step a network of its own without changing
// the host. A step runs in a new network namespace whose only way out is
// slirp4netns, a user-mode TCP/IP stack that turns the step's packets into
// sockets of the solver's process. The host's loopback is out of reach
// (--disable-host-loopback), nothing is added to the host (no interface,
// route, iptables rule or sysctl), and root and rootless solvers work the
// same way.
//
// A namespace is held by a locked OS thread of the solver, not by a bind
// mount, so a crash leaves nothing behind: the kernel frees the namespace
// with the thread, and slirp4netns exits when the pipe of its --exit-fd
// closes.
package usernet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	resourcestypes "github.com/moby/buildkit/executor/resources/types"
	"github.com/moby/buildkit/util/network"
	"github.com/moby/buildkit/util/network/netpool"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Name is the user-mode network stack RUN steps go out through.
const Name = "slirp4netns"

// The addresses slirp4netns gives a namespace: the step is 10.0.2.100/24,
// the gateway (and the outside) 10.0.2.2, its DNS forwarder 10.0.2.3.
const (
	// MTU is the tap device's: slirp4netns is fastest with the largest.
	MTU = 65520
	// poolSize namespaces are kept ready between steps once made: making
	// one costs a thread and a slirp4netns start.
	poolSize = 2
	// readyTimeout bounds how long slirp4netns may take to configure the
	// namespace.
	readyTimeout = 10 * time.Second
	stopTimeout  = 2 * time.Second
)

// Provider is BuildKit's network.Provider for the default network of RUN
// steps.
type Provider struct {
	pool *netpool.Pool[*namespace]
}

// New returns a Provider. Nothing starts until a step needs a network, so a
// machine without slirp4netns still runs steps with --network=host or none;
// the first step that needs it says how to install it.
func New() *Provider {
	p := &Provider{}
	p.pool = netpool.New(netpool.Opt[*namespace]{
		Name:       Name + " network namespace",
		TargetSize: poolSize,
		New:        newNamespace,
		Release:    (*namespace).release,
	})
	return p
}

// New gives a step a namespace: one a previous step returned, or a new one.
func (p *Provider) New(ctx context.Context, _ string, _ network.NamespaceOptions) (network.Namespace, error) {
	ns, err := p.pool.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &step{namespace: ns, pool: p.pool}, nil
}

// Close releases every namespace kept ready.
func (p *Provider) Close() error { return p.pool.Close() }

// step is a namespace lent to one RUN step.
type step struct {
	*namespace
	pool *netpool.Pool[*namespace]
	once sync.Once
}

// Close gives the namespace back for the next step, unless its slirp4netns
// has gone (then it is of no use to anyone).
func (s *step) Close() error {
	var err error
	s.once.Do(func() {
		if s.alive() {
			s.pool.Put(s.namespace)
			return
		}
		err = s.pool.Discard(s.namespace)
	})
	return err
}

// Set makes the step join the namespace.
func (s *step) Set(spec *specs.Spec) error {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	ns := specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.path}
	for i, n := range spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i] = ns
			return nil
		}
	}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, ns)
	return nil
}

// Sample reports no network statistics: slirp4netns keeps none per step.
func (s *step) Sample() (*resourcestypes.NetworkSample, error) { return nil, nil }

// namespace is a network namespace with slirp4netns attached.
type namespace struct {
	// path names the namespace for runc: /proc/PID/task/TID/ns/net of the
	// thread that holds it.
	path string
	// free ends the thread, and with it the namespace.
	free chan struct{}
	// exit is the write end of slirp4netns's --exit-fd: closing it stops
	// slirp4netns.
	exit *os.File
	// exited is closed when slirp4netns has exited.
	exited chan struct{}
	cmd    *exec.Cmd
}

func newNamespace(ctx context.Context) (*namespace, error) {
	bin, err := exec.LookPath(Name)
	if err != nil {
		return nil, errors.New("RUN steps get an isolated network from slirp4netns, which is not installed: install it (Debian and Ubuntu: apt-get install slirp4netns) or build with --network=host")
	}
	ns, err := holdNamespace()
	if err != nil {
		return nil, err
	}
	if err := ns.attach(ctx, bin); err != nil {
		close(ns.free)
		return nil, err
	}
	return ns, nil
}

// holdNamespace creates a network namespace on a thread of its own, which
// then waits, holding it, until free is closed.
func holdNamespace() (*namespace, error) {
	ns := &namespace{free: make(chan struct{}), exited: make(chan struct{})}
	made := make(chan error, 1)
	go ns.lockAndHold(made)
	if err := <-made; err != nil {
		return nil, err
	}
	return ns, nil
}

// lockAndHold holds the namespace on the calling goroutine's thread, or on
// another one if that is the main thread: the Go runtime never ends the
// main thread, so it must not enter the namespace. Kept busy here, it
// cannot run the goroutine that does, which gets a thread of its own.
func (ns *namespace) lockAndHold(made chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() != os.Getpid() {
		ns.hold(made)
		return
	}
	defer runtime.UnlockOSThread()
	inner := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns.hold(inner)
	}()
	made <- <-inner
}

// hold moves the calling goroutine's thread, locked to it and not the main
// thread, into a new network namespace, reports on made, and waits for
// free. The thread is never unlocked: it ends with the goroutine, and the
// namespace with the thread, rather than going back to the Go scheduler
// inside it.
func (ns *namespace) hold(made chan<- error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		made <- fmt.Errorf("creating a network namespace for a RUN step: %w", err)
		return
	}
	ns.path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	made <- nil
	<-ns.free
}

// attach starts slirp4netns on the namespace and waits until it has
// configured it: tap0 up with 10.0.2.100, the default route, loopback up.
func (ns *namespace) attach(ctx context.Context, bin string) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer func() { _ = readyR.Close() }()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		_ = readyW.Close()
		return err
	}
	stderr := &tailBuffer{max: 4 << 10}
	cmd := exec.Command(bin, "--configure", fmt.Sprintf("--mtu=%d", MTU), "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd=3", "--exit-fd=4",
		"--netns-type=path", ns.path, "tap0")
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	cmd.Stderr = stderr
	// Its own process group: a ^C meant for the build reaches slirp4netns
	// only through the build, which stops it after the step.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = readyW.Close()
	_ = exitR.Close()
	if err != nil {
		_ = exitW.Close()
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	ns.exit, ns.cmd = exitW, cmd
	waited := make(chan error, 1)
	go func() {
		waited <- cmd.Wait()
		close(ns.exited)
	}()
	ready := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := io.ReadFull(readyR, b)
		ready <- err
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
		if err == nil {
			return nil
		}
		// The pipe closed without a byte: slirp4netns failed; its exit
		// status and message say why.
		err = <-waited
	case err = <-waited:
	case <-timer.C:
		err = fmt.Errorf("not ready after %s", readyTimeout)
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	ns.stop()
	return attachError(err, stderr.String())
}

// attachError turns slirp4netns's failure into what the user can do about
// it.
func attachError(err error, stderr string) error {
	msg := lastLine(stderr)
	if strings.Contains(stderr, "/dev/net/tun") {
		return fmt.Errorf("RUN steps get an isolated network from slirp4netns, which cannot open /dev/net/tun (%s): make it readable and writable for this user (chmod 0666 /dev/net/tun, the default on most systems) or build with --network=host", msg)
	}
	if msg != "" {
		return fmt.Errorf("slirp4netns could not attach to a RUN step's network namespace: %s", msg)
	}
	return fmt.Errorf("slirp4netns could not attach to a RUN step's network namespace: %w", err)
}

// alive reports whether slirp4netns still serves the namespace.
func (ns *namespace) alive() bool {
	select {
	case <-ns.exited:
		return false
	default:
		return true
	}
}

// stop makes slirp4netns exit and waits for it; one that does not exit
// within stopTimeout is killed.
func (ns *namespace) stop() {
	if ns.exit == nil {
		return
	}
	_ = ns.exit.Close()
	ns.exit = nil
	select {
	case <-ns.exited:
	case <-time.After(stopTimeout):
		_ = ns.cmd.Process.Kill()
		<-ns.exited
	}
}

func (ns *namespace) release() error {
	ns.stop()
	close(ns.free)
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
