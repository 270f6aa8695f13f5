package userns

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// ErrBusy is what a serve function returns when another process holds the
// state dir; Start returns it too.
var ErrBusy = errors.New("state dir busy")

// childStatus is the one line the namespace's process reports.
type childStatus struct {
	Ready bool `json:"ready,omitempty"`
	// Busy: another process holds the state dir (it is starting or exiting).
	Busy  bool   `json:"busy,omitempty"`
	Error string `json:"error,omitempty"`
}

// Child is the parent's handle on the namespace's process.
type Child struct {
	cmd  *exec.Cmd
	ctl  *os.File // closing it tells the process this one is done
	done chan error
}

// Start starts this binary in a new user namespace with conf, which Run
// hands to its serve function there, and waits until that reports ready.
// It returns ErrBusy when serve did.
func Start(ctx context.Context, conf []byte, maps IDMaps) (*Child, error) {
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
	defer func() { _ = statR.Close() }()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), stageEnv+"=map", configEnv+"="+string(conf))
	cmd.ExtraFiles = []*os.File{ctlR, statW}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS}
	err = cmd.Start()
	_ = ctlR.Close()
	_ = statW.Close()
	if err != nil {
		_ = ctlW.Close()
		return nil, cloneError(err)
	}
	child := &Child{cmd: cmd, ctl: ctlW, done: make(chan error, 1)}
	go func() { child.done <- cmd.Wait() }()
	fail := func(err error) (*Child, error) {
		_ = cmd.Process.Kill()
		_ = ctlW.Close()
		_ = child.wait()
		return nil, err
	}
	if err := mapIDs(cmd.Process.Pid, maps); err != nil {
		return fail(err)
	}
	if _, err := ctlW.Write([]byte{1}); err != nil {
		return fail(fmt.Errorf("starting the builder in its user namespace: %w", err))
	}

	status := make(chan childStatus, 1)
	go func() {
		var st childStatus
		line, err := bufio.NewReader(statR).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &st) != nil {
			st = childStatus{Error: "the builder in its user namespace exited before it started"}
		}
		status <- st
	}()
	select {
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	case st := <-status:
		switch {
		case st.Ready:
			return child, nil
		case st.Busy:
			_ = ctlW.Close()
			_ = child.wait()
			return nil, ErrBusy
		default:
			_ = ctlW.Close()
			_ = child.wait()
			return nil, errors.New(st.Error)
		}
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

func (c *Child) wait() error { return <-c.done }

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
		return fmt.Errorf("the builder in its user namespace: %w", err)
	}
	return nil
}
