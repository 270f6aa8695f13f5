package userns

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBusy is what a serve function returns when another process holds the
// state dir; Start returns it too.
var ErrBusy = errors.New("state dir busy")

// ErrNoPIDNamespace is what Start returns when the process could not be
// the init of a new PID namespace here (creating one, or mounting its
// /proc, is not allowed: a container that masks parts of /proc).
var ErrNoPIDNamespace = errors.New("a new PID namespace (and its /proc) is not allowed here")

// childStatus is the one line the namespace's process reports.
type childStatus struct {
	Ready bool `json:"ready,omitempty"`
	// Busy: another process holds the state dir (it is starting or exiting).
	Busy bool `json:"busy,omitempty"`
	// NoPID: /proc could not be mounted in the new PID namespace.
	NoPID bool `json:"noPID,omitempty"`
	// Lingering acknowledges Child.Linger: the process no longer dies
	// with its parent.
	Lingering bool   `json:"lingering,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Namespaces are the namespaces Start puts the process in, besides a mount
// namespace of its own (where the solver's mounts stay).
type Namespaces struct {
	// Maps, when not nil, makes a new user namespace with these ID maps,
	// for a user who is not root.
	Maps *IDMaps
	// PID makes the process the init of a new PID namespace: when it dies,
	// the kernel kills every process of the namespace, the RUN steps'
	// included, whatever killed it.
	PID bool
}

// command is this binary executed again in the namespaces, with the
// control pipe's reading end as fd 3 and the status pipe's writing end as
// fd 4.
func (ns Namespaces) command(conf []byte, ctl, status *os.File) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	// A process in a new user namespace gains the namespace's root
	// capabilities only when it executes itself again, once its ID maps
	// are written ("map"); as root it serves at once.
	stage := "serve"
	if ns.Maps != nil {
		stage = "map"
	}
	cmd.Env = append(os.Environ(), stageEnv+"="+stage, configEnv+"="+string(conf))
	cmd.ExtraFiles = []*os.File{ctl, status}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: ns.cloneFlags(), Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (ns Namespaces) cloneFlags() uintptr {
	flags := uintptr(syscall.CLONE_NEWNS)
	if ns.Maps != nil {
		flags |= syscall.CLONE_NEWUSER
	}
	if ns.PID {
		flags |= syscall.CLONE_NEWPID
	}
	return flags
}

// Child is the parent's handle on the namespace's process.
type Child struct {
	cmd    *exec.Cmd
	ctl    *os.File // closing it tells the process this one is done
	status *os.File // the process's status lines after the first
	done   chan error
}

// Start starts this binary in the namespaces ns with conf, which Run hands
// to its serve function there, and waits until that reports ready. The
// process dies with this one (its parent-death signal is SIGKILL). It
// returns ErrBusy when serve did, and ErrNoPIDNamespace when ns.PID cannot
// be had here.
func Start(ctx context.Context, conf []byte, ns Namespaces) (*Child, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		_ = ctlR.Close()
		_ = ctlW.Close()
		return nil, err
	}
	cmd := ns.command(conf, ctlR, statW)
	child := &Child{cmd: cmd, ctl: ctlW, status: statR, done: make(chan error, 1)}
	defer func() {
		if child.status == nil {
			_ = statR.Close()
		}
	}()
	err = startLocked(cmd, child.done)
	_ = ctlR.Close()
	_ = statW.Close()
	if err != nil {
		_ = ctlW.Close()
		if ns.PID && ns.Maps == nil && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
			return nil, ErrNoPIDNamespace
		}
		return nil, cloneError(err)
	}
	fail := func(err error) (*Child, error) {
		child.status = nil
		_ = cmd.Process.Kill()
		_ = ctlW.Close()
		_ = child.wait()
		return nil, err
	}
	if ns.Maps != nil {
		if err := mapIDs(cmd.Process.Pid, *ns.Maps); err != nil {
			return fail(err)
		}
		if _, err := ctlW.Write([]byte{1}); err != nil {
			return fail(fmt.Errorf("starting the builder in its user namespace: %w", err))
		}
	}

	st, err := readStatus(ctx, statR)
	if err != nil {
		child.status = nil
		return fail(err)
	}
	if st.Ready {
		return child, nil
	}
	child.status = nil
	_ = ctlW.Close()
	_ = child.wait()
	switch {
	case st.Busy:
		return nil, ErrBusy
	case st.NoPID:
		return nil, fmt.Errorf("%w (%s)", ErrNoPIDNamespace, st.Error)
	}
	return nil, errors.New(st.Error)
}

// readStatus reads the line the process reports, until ctx is done.
func readStatus(ctx context.Context, r io.Reader) (childStatus, error) {
	status := make(chan childStatus, 1)
	go func() {
		var st childStatus
		line, err := bufio.NewReader(r).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &st) != nil {
			st = childStatus{Error: "the builder's process exited before it started"}
		}
		status <- st
	}()
	select {
	case <-ctx.Done():
		return childStatus{}, context.Cause(ctx)
	case st := <-status:
		return st, nil
	}
}

// mapIDs writes the namespace's ID maps through the setuid helpers.
func mapIDs(pid int, maps IDMaps) error {
	for _, m := range []struct {
		tool, file string
		args       []string
	}{{"newuidmap", "/etc/subuid", maps.uid}, {"newgidmap", "/etc/subgid", maps.gid}} {
		out, err := exec.Command(m.tool, append([]string{strconv.Itoa(pid)}, m.args...)...).CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if msg == "" {
				msg = err.Error()
			}
			return fmt.Errorf("mapping the ranges of %s into the builder's user namespace: %s %s: %s (is %s setuid root? reinstall the uidmap package)", m.file, m.tool, strings.Join(m.args, " "), msg, m.tool)
		}
	}
	return nil
}

// startLocked starts cmd from an OS thread kept until cmd exits, and sends
// cmd.Wait's result on done: the parent-death signal fires when the thread
// that forked the child ends, and Go ends threads of its own accord.
func startLocked(cmd *exec.Cmd, done chan<- error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	return <-started
}

func (c *Child) wait() error { return <-c.done }

// lingerFormat is the message Linger writes on the control pipe.
const lingerFormat = "linger %d\n"

// Linger tells the namespace's process to keep serving, when it can
// (its solver is a Lingerer), until idle passes with no build attached;
// it returns once the process no longer dies with this one. When the
// process cannot linger, Linger waits for it to exit, as Stop does.
func (c *Child) Linger(ctx context.Context, idle time.Duration) error {
	defer func() { _ = c.status.Close() }()
	_, err := fmt.Fprintf(c.ctl, lingerFormat, int64(idle))
	_ = c.ctl.Close()
	if err == nil {
		ackCtx, cancel := context.WithTimeoutCause(ctx, 2*time.Second, errors.New("the builder's process did not acknowledge"))
		st, err := readStatus(ackCtx, c.status)
		cancel()
		if err == nil && st.Lingering {
			return nil
		}
	}
	return c.Stop(ctx)
}

// Stop tells the namespace's process this one is done and waits for it to
// exit, which it does once the builds of other processes attached to it
// end; when ctx is done (Ctrl-C), it stops at once.
func (c *Child) Stop(ctx context.Context) error {
	_ = c.ctl.Close()
	if ctx != nil && context.Cause(ctx) != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	var stopping <-chan struct{}
	if ctx != nil {
		stopping = ctx.Done()
	}
	select {
	case err := <-c.done:
		return waitError(err)
	case <-stopping:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		return waitError(c.wait())
	}
}

func waitError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && !exit.Exited() {
		// Stopped by the signal stop sent.
		return nil
	}
	if err != nil {
		return fmt.Errorf("the builder's process: %w", err)
	}
	return nil
}
