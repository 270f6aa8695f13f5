package build

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/sys/user"
	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// A user who is not root gets the solver as root of a user namespace of its
// own, the way rootless BuildKit runs under RootlessKit: New re-executes this
// binary in a new user and mount namespace, maps the user's /etc/subuid and
// /etc/subgid ranges into it with newuidmap and newgidmap, and that process
// holds the state dir and serves the solver on its socket. This process
// attaches to it as a client, so the session (context, secrets, ssh) and
// every output file stay on the user's side with the user's own identity.
//
// The namespace's process goes through three stages, told apart by
// usernsStageEnv: "map" waits on fd 3 until its ID maps are written, then
// executes itself again as "serve", which gains the capabilities of the
// namespace's root; "serve" runs the solver until fd 3 reaches EOF (this
// process is done) and reports on fd 4. "proc" is a probe run by "serve".

const (
	usernsStageEnv  = "_DOCKER_BUILD2_USERNS"
	usernsConfigEnv = "_DOCKER_BUILD2_USERNS_CONFIG"
)

// Rootless reports whether New runs the solver in a user namespace, as it
// does for any user but root.
func Rootless() bool { return os.Geteuid() != 0 }

// inForeignUserNS reports whether this process is root of a user namespace
// it did not make (a rootless container): the host's root it is not, so
// RUN steps need rootless runc too.
func inForeignUserNS() bool { return os.Geteuid() == 0 && userns.RunningInUserNS() }

// UserNSChild reports whether this process is the solver New started in a
// user namespace. main must then return RunUserNSChild's code at once.
func UserNSChild() bool { return os.Getenv(usernsStageEnv) != "" }

// usernsConfig is what the namespace's process needs of Config.
type usernsConfig struct {
	Root     string               `json:"root"`
	CertsDir string               `json:"certsDir,omitempty"`
	Daemon   *daemonconfig.Config `json:"daemon,omitempty"`
	Debug    bool                 `json:"debug,omitempty"`
}

// usernsStatus is the one line the namespace's process reports.
type usernsStatus struct {
	Ready bool `json:"ready,omitempty"`
	// Busy: another process holds the state dir (it is starting or exiting).
	Busy  bool   `json:"busy,omitempty"`
	Error string `json:"error,omitempty"`
}

var errStateBusy = errors.New("state dir busy")

// idMaps are newuidmap's and newgidmap's arguments after the PID.
type idMaps struct{ uid, gid []string }

// checkRootless checks what running the solver without root needs:
// newuidmap and newgidmap, subordinate ID ranges for the user, and user
// namespaces enabled; it returns the ID maps.
func checkRootless() (idMaps, error) {
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return idMaps{}, fmt.Errorf("%s is not installed or not on PATH: without root, the builder runs in a user namespace whose IDs newuidmap and newgidmap map from /etc/subuid and /etc/subgid; install them (Debian/Ubuntu: apt-get install uidmap)", tool)
		}
	}
	uid, gid := os.Getuid(), os.Getgid()
	name := strconv.Itoa(uid)
	if u, err := user.LookupUid(uid); err == nil {
		name = u.Name
	}
	var maps idMaps
	var err error
	if maps.uid, err = idMapArgs("/etc/subuid", uid, name); err != nil {
		return idMaps{}, err
	}
	if maps.gid, err = idMapArgs("/etc/subgid", gid, name); err != nil {
		return idMaps{}, err
	}
	return maps, userNSEnabled()
}

// idMapArgs maps namespace ID 0 to id and the IDs from 1 on to the ranges
// path gives the user called name (or numbered id).
func idMapArgs(path string, id int, name string) ([]string, error) {
	ids := strconv.Itoa(id)
	ranges, err := user.ParseSubIDFileFilter(path, func(s user.SubID) bool {
		return s.Name == name || s.Name == ids
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("%s has no range for user %s: without root, the builder maps a range of subordinate IDs into its user namespace; add one that no other user has, as root, e.g.: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", path, name, name)
	}
	args := []string{"0", ids, "1"}
	next := int64(1)
	for _, r := range ranges {
		if r.SubID <= 0 || r.Count <= 0 { // also what a garbled line parses to
			return nil, fmt.Errorf("%s: invalid range %d:%d for user %s", path, r.SubID, r.Count, name)
		}
		args = append(args, strconv.FormatInt(next, 10), strconv.FormatInt(r.SubID, 10), strconv.FormatInt(r.Count, 10))
		next += r.Count
	}
	return args, nil
}

// userNSEnabled reads the sysctls that turn unprivileged user namespaces off.
func userNSEnabled() error {
	if v, ok := readSysctl("/proc/sys/user/max_user_namespaces"); ok && v == 0 {
		return errors.New("user namespaces are disabled (sysctl user.max_user_namespaces is 0): without root, the builder runs in a user namespace; enable them as root: sysctl -w user.max_user_namespaces=28633")
	}
	if v, ok := readSysctl("/proc/sys/kernel/unprivileged_userns_clone"); ok && v == 0 {
		return errors.New("unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone is 0): without root, the builder runs in a user namespace; enable them as root: sysctl -w kernel.unprivileged_userns_clone=1")
	}
	return nil
}

func readSysctl(path string) (int64, bool) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(dt)), 10, 64)
	return v, err == nil
}

// cloneError explains why a user namespace could not be created.
func cloneError(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("cannot create a user namespace for the builder (%w): user.max_user_namespaces is 0 or used up here; raise it as root: sysctl -w user.max_user_namespaces=28633", err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot create a user namespace for the builder (%w): something forbids unprivileged user namespaces here: in a container, a seccomp or AppArmor profile (run it with --security-opt seccomp=unconfined --security-opt apparmor=unconfined); on Ubuntu, sysctl kernel.apparmor_restrict_unprivileged_userns=1", err)
	}
	return fmt.Errorf("cannot create a user namespace for the builder: %w", err)
}

// usernsChild is the parent's handle on the namespace's process.
type usernsChild struct {
	cmd  *exec.Cmd
	ctl  *os.File // closing it tells the process this one is done
	done chan error
}

// newRootless attaches to the solver serving root, or starts one in a user
// namespace and attaches to it.
func newRootless(ctx context.Context, root string, cfg Config, maps idMaps) (*Engine, error) {
	told := false
	start := time.Now()
	for {
		if c, err := attach(ctx, socketPath(root)); err == nil {
			if cfg.Notify != nil {
				cfg.Notify(fmt.Sprintf("sharing the builder of another docker-build2 process on %s", root))
			}
			return &Engine{root: root, client: c, notify: cfg.Notify}, nil
		}
		child, err := startUserNS(ctx, root, cfg, maps)
		if err == nil {
			c, err := attach(ctx, socketPath(root))
			if err != nil {
				_ = child.stop(ctx)
				return nil, fmt.Errorf("connecting to the builder in its user namespace: %w", err)
			}
			return &Engine{root: root, client: c, userns: child, notify: cfg.Notify, ctx: ctx}, nil
		}
		if !errors.Is(err, errStateBusy) {
			return nil, err
		}
		if !told && cfg.Notify != nil && time.Since(start) > 500*time.Millisecond {
			cfg.Notify(fmt.Sprintf("waiting for another docker-build2 process to release %s (Ctrl-C to stop)", filepath.Join(root, "buildkitd.lock")))
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startUserNS starts the solver in a new user namespace and waits until it
// serves root's socket.
func startUserNS(ctx context.Context, root string, cfg Config, maps idMaps) (*usernsChild, error) {
	conf, err := json.Marshal(usernsConfig{Root: root, CertsDir: cfg.CertsDir, Daemon: cfg.Daemon, Debug: cfg.Log != nil})
	if err != nil {
		return nil, err
	}
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
	cmd.Env = append(os.Environ(), usernsStageEnv+"=map", usernsConfigEnv+"="+string(conf))
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
	child := &usernsChild{cmd: cmd, ctl: ctlW, done: make(chan error, 1)}
	go func() { child.done <- cmd.Wait() }()
	fail := func(err error) (*usernsChild, error) {
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

	status := make(chan usernsStatus, 1)
	go func() {
		var st usernsStatus
		line, err := bufio.NewReader(statR).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &st) != nil {
			st = usernsStatus{Error: "the builder in its user namespace exited before it started"}
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
			return nil, errStateBusy
		default:
			_ = ctlW.Close()
			_ = child.wait()
			return nil, errors.New(st.Error)
		}
	}
}

// mapIDs writes the namespace's ID maps through the setuid helpers.
func mapIDs(pid int, maps idMaps) error {
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

func (c *usernsChild) wait() error { return <-c.done }

// stop tells the namespace's process this one is done and waits for it to
// exit, which it does once the builds of other processes attached to it
// end; when ctx is done (Ctrl-C), it stops at once.
func (c *usernsChild) stop(ctx context.Context) error {
	_ = c.ctl.Close()
	if ctx != nil && ctx.Err() != nil {
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

// RunUserNSChild runs the stage of the namespace's process that
// usernsStageEnv names and returns the exit code.
func RunUserNSChild() int {
	switch os.Getenv(usernsStageEnv) {
	case "map":
		return awaitMaps()
	case "serve":
		return serveUserNS()
	case "proc":
		return probeProc()
	}
	fmt.Fprintf(os.Stderr, "unknown %s stage %q\n", usernsStageEnv, os.Getenv(usernsStageEnv))
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
	_ = os.Setenv(usernsStageEnv, "serve")
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	reporter(os.NewFile(4, "status"))(usernsStatus{Error: fmt.Sprintf("starting the builder in its user namespace: %v", err)})
	return 1
}

// reporter writes the status line; the parent reads only the first.
func reporter(status *os.File) func(usernsStatus) {
	return func(st usernsStatus) {
		dt, _ := json.Marshal(st)
		_, _ = status.Write(append(dt, '\n'))
		_ = status.Close()
	}
}

func serveUserNS() int {
	// Nothing this process starts (runc, RUN steps) gets the pipes.
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	ctl := os.NewFile(3, "control")
	report := reporter(os.NewFile(4, "status"))
	var conf usernsConfig
	if err := json.Unmarshal([]byte(os.Getenv(usernsConfigEnv)), &conf); err != nil {
		report(usernsStatus{Error: fmt.Sprintf("builder configuration: %v", err)})
		return 1
	}
	_ = os.Unsetenv(usernsStageEnv)
	_ = os.Unsetenv(usernsConfigEnv)
	notify := func(msg string) { fmt.Fprintln(os.Stderr, msg) }

	// Mounts made from here on stay in this namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		report(usernsStatus{Error: fmt.Sprintf("making / a slave mount in the builder's namespace: %v", err)})
		return 1
	}
	mode, err := rootlessMode(conf.Root, notify)
	if err != nil {
		report(usernsStatus{Error: err.Error()})
		return 1
	}

	lock := flock.New(filepath.Join(conf.Root, "buildkitd.lock"))
	if ok, err := lock.TryLock(); err != nil {
		report(usernsStatus{Error: fmt.Sprintf("locking %s: %v", lock.Path(), err)})
		return 1
	} else if !ok {
		report(usernsStatus{Busy: true})
		return 0
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(fmt.Errorf("stopped by %v", s))
	}()

	cfg := Config{Root: conf.Root, CertsDir: conf.CertsDir, Daemon: conf.Daemon, Notify: notify}
	if conf.Debug {
		cfg.Log = os.Stderr
	}
	e, err := start(ctx, conf.Root, cfg, lock, mode)
	if err != nil {
		report(usernsStatus{Error: err.Error()})
		return 1
	}
	report(usernsStatus{Ready: true})

	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, ctl)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	if err := e.Close(); err != nil {
		notify(fmt.Sprintf("stopping the builder: %v", err))
		return 1
	}
	return 0
}

// rootlessMode prepares this process, root of a user namespace, to run RUN
// steps with rootless runc on the state dir root.
func rootlessMode(root string, notify func(string)) (workerMode, error) {
	// runc keeps its state under $XDG_RUNTIME_DIR when not root of the host;
	// one under the state dir is always writable.
	runtimeDir := filepath.Join(root, "runtime")
	if err := os.MkdirAll(runtimeDir, 0o700); err != nil {
		return workerMode{}, fmt.Errorf("creating %s: %w", runtimeDir, err)
	}
	_ = os.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	if os.Getenv("USER") == "root" {
		_ = os.Unsetenv("USER") // runc ignores XDG_RUNTIME_DIR for USER=root
	}
	mode := workerMode{rootless: true, process: oci.ProcessSandbox}
	if err := procMountable(); err != nil {
		mode.process = oci.NoProcessSandbox
		if notify != nil {
			notify(fmt.Sprintf("notice: /proc cannot be mounted in a new PID namespace here (%v): RUN steps share the builder's PID namespace, as with buildkitd --oci-worker-no-process-sandbox", err))
		}
	}
	return mode, nil
}

// procMountable checks that a new PID namespace can mount its /proc, which
// the process sandbox needs; a container that masks parts of /proc (as
// Docker's default profile does) forbids it in a user namespace.
func procMountable() error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = append(os.Environ(), usernsStageEnv+"=proc")
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
