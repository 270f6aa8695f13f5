package userns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ServeFunc runs the solver in the namespace's process with the conf given
// to Start; stderr is the process's own, for notices and logs. It returns
// ErrBusy when another process holds the state dir. Closing what it returns
// stops the solver.
type ServeFunc func(ctx context.Context, conf []byte, stderr io.Writer) (io.Closer, error)

// Lingerer is what a ServeFunc's solver implements to keep serving after
// the process that started it exited (Child.Linger): Linger calls ready
// once others can find it lingering (Child.Linger returns then), and
// returns when the solver should stop.
type Lingerer interface {
	Linger(ctx context.Context, idle time.Duration, ready func())
}

// Run runs the stage of the namespace's process that stageEnv names and
// returns the exit code.
func Run(serve ServeFunc) int {
	switch os.Getenv(stageEnv) {
	case "map":
		return awaitMaps()
	case "serve":
		return serveStage(serve)
	case "proc":
		return probeProc()
	}
	fmt.Fprintf(os.Stderr, "unknown %s stage %q\n", stageEnv, os.Getenv(stageEnv))
	return 1
}

// awaitMaps waits for the parent to write the ID maps, then executes this
// binary again: only a process executed after the maps exist holds the
// capabilities of the namespace's root.
func awaitMaps() int {
	ctl := os.NewFile(3, "control")
	var b [1]byte
	if _, err := io.ReadFull(ctl, b[:]); err != nil {
		return 1
	}
	_ = os.Setenv(stageEnv, "serve")
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	reporter(os.NewFile(4, "status"))(childStatus{Error: fmt.Sprintf("starting the builder in its user namespace: %v", err)})
	return 1
}

// reporter writes a status line: the parent reads the first as Start
// returns, and the one that acknowledges Linger.
func reporter(status *os.File) func(childStatus) {
	return func(st childStatus) {
		dt, _ := json.Marshal(st)
		_, _ = status.Write(append(dt, '\n'))
	}
}

func serveStage(serve ServeFunc) int {
	// Nothing this process starts (runc, RUN steps) gets the pipes.
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	ctl := os.NewFile(3, "control")
	report := reporter(os.NewFile(4, "status"))
	conf := []byte(os.Getenv(configEnv))
	_ = os.Unsetenv(stageEnv)
	_ = os.Unsetenv(configEnv)
	notify := func(msg string) { fmt.Fprintln(os.Stderr, msg) }

	// Die with the parent even if executing again for the user namespace
	// cleared the parent-death signal; a parent already gone has closed the
	// control pipe.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil || parentGone(ctl) {
		return 1
	}
	// Mounts made from here on stay in this namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		report(childStatus{Error: fmt.Sprintf("making / a slave mount in the builder's namespace: %v", err)})
		return 1
	}
	// The init of a new PID namespace mounts its own /proc, which runc
	// reads its containers' processes from.
	if unix.Getpid() == 1 {
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			report(childStatus{NoPID: true, Error: fmt.Sprintf("mount proc: %v", err)})
			return 1
		}
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(fmt.Errorf("stopped by %v", s))
	}()

	solver, err := serve(ctx, conf, os.Stderr)
	switch {
	case errors.Is(err, ErrBusy):
		report(childStatus{Busy: true})
		return 0
	case err != nil:
		report(childStatus{Error: err.Error()})
		return 1
	}
	report(childStatus{Ready: true})

	eof := make(chan struct{})
	var msg []byte
	go func() {
		msg, _ = io.ReadAll(ctl)
		close(eof)
	}()
	select {
	case <-eof:
		if idle, ok := lingerMessage(msg); ok {
			linger(ctx, solver, idle, report)
		}
	case <-ctx.Done():
	}
	if err := solver.Close(); err != nil {
		notify(fmt.Sprintf("stopping the builder: %v", err))
		return 1
	}
	return 0
}

// linger keeps solver serving for idle after the parent exited: this
// process stops dying with it, and lets go of its stderr, which is the
// parent's (a terminal, or a pipe whose reader waits for every writer).
func linger(ctx context.Context, solver io.Closer, idle time.Duration, report func(childStatus)) {
	l, ok := solver.(Lingerer)
	if !ok {
		return
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	err = unix.Dup3(int(null.Fd()), 2, 0)
	_ = null.Close()
	if err != nil {
		return
	}
	// Nor does it keep the parent's working directory busy (a mount
	// being unmounted, a directory being removed).
	_ = os.Chdir("/")
	l.Linger(ctx, idle, func() { report(childStatus{Lingering: true}) })
}

// lingerMessage parses what Child.Linger writes on the control pipe.
func lingerMessage(msg []byte) (time.Duration, bool) {
	var ns int64
	if _, err := fmt.Sscanf(string(msg), lingerFormat, &ns); err != nil || ns <= 0 {
		return 0, false
	}
	return time.Duration(ns), true
}

// parentGone reports whether the control pipe's writer, the parent, is gone.
func parentGone(ctl *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(ctl.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0
}

// RuncMode says how RUN steps are isolated when the solver is root of a
// user namespace rather than of the host.
type RuncMode struct {
	// ProcessSandbox is false where /proc cannot be mounted in a new PID
	// namespace (in a container that masks parts of /proc): RUN steps then
	// share the solver's PID namespace.
	ProcessSandbox bool
	// Notice, when not empty, explains a missing process sandbox.
	Notice string
}

// PrepareRunc readies this process, root of a user namespace, to run RUN
// steps with rootless runc on the state dir root.
func PrepareRunc(root string) (RuncMode, error) {
	// runc keeps its state under $XDG_RUNTIME_DIR when not root of the host;
	// one under the state dir is always writable.
	runtimeDir := filepath.Join(root, "runtime")
	if err := os.MkdirAll(runtimeDir, 0o700); err != nil {
		return RuncMode{}, fmt.Errorf("creating %s: %w", runtimeDir, err)
	}
	_ = os.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	if os.Getenv("USER") == "root" {
		_ = os.Unsetenv("USER") // runc ignores XDG_RUNTIME_DIR for USER=root
	}
	if err := procMountable(); err != nil {
		return RuncMode{Notice: fmt.Sprintf("notice: /proc cannot be mounted in a new PID namespace here (%v): RUN steps share the builder's PID namespace, as with buildkitd --oci-worker-no-process-sandbox", err)}, nil
	}
	return RuncMode{ProcessSandbox: true}, nil
}

// procMountable checks that a new PID namespace can mount its /proc, which
// the process sandbox needs; a container that masks parts of /proc (as
// Docker's default profile does) forbids it in a user namespace.
func procMountable() error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), stageEnv+"=proc")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return errors.New(msg)
		}
		return err
	}
	return nil
}

func probeProc() int {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fmt.Fprintf(os.Stderr, "mount proc: %v\n", err)
		return 1
	}
	return 0
}
