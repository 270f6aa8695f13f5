package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/docker-build2/docker-build2/build/userns"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/version"
	"google.golang.org/grpc/codes"
)

// ErrRuncMissing is returned by Open when the OCI runtime is not installed.
var ErrRuncMissing = errors.New("runc is not installed or not on PATH: the embedded builder runs RUN steps with runc; install it (Debian/Ubuntu: apt-get install runc)")

// NoticeNoPID is what Open tells where the solver cannot be the init of a
// PID namespace of its own, which is what ends the RUN steps of a killed
// docker-build2.
const NoticeNoPID = "notice: RUN steps may outlive a killed docker-build2 here: its builder cannot have a PID namespace of its own (%v)"

// NoticeRestart is what Solve tells when the process it shared a solver
// with exited before the build started, and it starts again.
const NoticeRestart = "the docker-build2 process this build was sharing exited before the build started: starting again"

// Config is what the embedded solver needs to start. It crosses into the
// user namespace's process as JSON.
type Config struct {
	// Root is the state directory. It is created with mode 0700 when missing.
	Root string `json:"root"`
	// Daemon is the daemon.json the builder applies (GC, entitlements,
	// registry mirrors and insecure registries); nil means defaults.
	Daemon *daemonconfig.Config `json:"daemon,omitempty"`
	// CertsDir holds per-registry TLS material in docker's layout
	// (<dir>/<host>/ca.crt, client.cert, client.key); empty means none.
	CertsDir string `json:"certsDir,omitempty"`
	// Log, when not nil, receives BuildKit's own log (for --debug).
	Log io.Writer `json:"-"`
	// Debug turns BuildKit's log on in the user namespace's process, which
	// writes it to its stderr.
	Debug bool `json:"debug,omitempty"`
	// History turns BuildKit's build history on, for the provenance it
	// records (see RecordHistory), when this process starts the
	// controller; a process sharing another's gets what that one chose.
	History bool `json:"history,omitempty"`
	// Idle is how long the solver's own process keeps serving after the
	// process that started it closed it, for the next builds; 0 stops it
	// with that process. It does not linger after an interrupted build,
	// or with Log set (its log goes to the stderr of that process).
	Idle time.Duration `json:"-"`
	// Notify, when not nil, is told of what happens besides builds, as it
	// starts (and returns the function told when it ends): waiting for or
	// sharing another process's solver, starting again, waiting for the
	// builds attached to this one before stopping.
	Notify statedir.Notify `json:"-"`
}

func (c Config) notify(msg string) (done func()) {
	if c.Notify == nil {
		return func() {}
	}
	return c.Notify(msg)
}

// Solver is the embedded BuildKit solver and the client that talks to it.
// A process opens a given state dir at most once: BuildKit keeps
// process-wide checksum caches keyed by cache record IDs.
type Solver struct {
	cfg Config
	// ctx is Open's context: when it is done (Ctrl-C), Close stops at once
	// instead of waiting for attached builds.
	ctx context.Context

	// maps are the user namespace's ID maps; nil as root.
	maps *userns.IDMaps
	// noPID is set once a PID namespace was found not to be allowed here.
	noPID atomic.Bool
	// contextMode is a ContextMode.
	contextMode atomic.Int32

	mu     sync.Mutex
	client *client.Client
	mode   mode

	closeOnce sync.Once
	closeErr  error
}

// mode is how this process reaches the controller, and what Close undoes.
type mode interface {
	client(ctx context.Context, root string) (*client.Client, error)
	close(ctx context.Context, notify statedir.Notify) error
}

// attached builds on the controller of another process on the state dir.
// With no idle time of its own, it asks a lingering controller to stop
// once no build is attached.
type attached struct {
	root string
	idle time.Duration
}

func (attached) client(ctx context.Context, root string) (*client.Client, error) {
	return statedir.Attach(ctx, root)
}

func (a attached) close(context.Context, statedir.Notify) error {
	if a.idle == 0 {
		_ = os.Remove(statedir.IdlePath(a.root))
	}
	return nil
}

// childClient is the client of the controller this process started in a
// process of its own (in a user namespace for a user who is not root).
type childClient struct {
	child *userns.Child
	idle  time.Duration
}

func (c childClient) close(ctx context.Context, _ statedir.Notify) error {
	if c.idle > 0 && (ctx == nil || context.Cause(ctx) == nil) {
		return c.child.Linger(ctx, c.idle)
	}
	return c.child.Stop(ctx)
}

// Open starts the embedded solver on cfg.Root, or attaches to the process
// that serves it. It waits for the state-dir lock (telling cfg.Notify)
// until ctx is done.
func Open(ctx context.Context, cfg Config) (*Solver, error) {
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, ErrRuncMissing
	}
	if cfg.Root == "" {
		return nil, errors.New("no state directory given")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("state directory %q: %w", cfg.Root, err)
	}
	cfg.Root = root
	if cfg.CertsDir != "" {
		// The solver's process may outlive this one's working directory.
		if cfg.CertsDir, err = filepath.Abs(cfg.CertsDir); err != nil {
			return nil, fmt.Errorf("certificates directory %q: %w", cfg.CertsDir, err)
		}
	}
	s := &Solver{cfg: cfg, ctx: ctx}
	if userns.Rootless() {
		// Checked before anything is written.
		maps, err := userns.Check()
		if err != nil {
			return nil, err
		}
		s.maps = &maps
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	if err := s.open(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// open attaches to the process serving the state dir, or becomes it.
func (s *Solver) open(ctx context.Context) error {
	want, err := identities(s.cfg)
	if err != nil {
		return err
	}
	m, c, err := statedir.Acquire(ctx, s.cfg.Root, want, s.own, s.cfg.notify)
	if err != nil {
		return err
	}
	if c != nil {
		m = attached{root: s.cfg.Root, idle: s.cfg.Idle}
	} else if c, err = m.client(ctx, s.cfg.Root); err != nil {
		_ = m.close(ctx, nil)
		return err
	}
	s.mu.Lock()
	s.client, s.mode = c, m
	s.mu.Unlock()
	return nil
}

// ownRoot takes the state-dir lock as root of the host (or of a user
// namespace made by someone else) and runs the controller in this process:
// where its own process cannot have a PID namespace.
func ownRoot(ctx context.Context, cfg Config) (mode, error) {
	lock, err := statedir.TryLock(cfg.Root)
	if err != nil {
		return nil, err
	}
	wm := workerMode{process: oci.ProcessSandbox}
	if userns.InForeignUserNS() {
		if wm, err = rootlessMode(cfg); err != nil {
			_ = lock.Unlock()
			return nil, err
		}
	}
	return startOwner(ctx, cfg, lock, wm)
}

// startChild starts the controller in a process of its own, in the
// namespaces ns; it returns statedir.ErrBusy while another process holds
// the state dir.
func startChild(ctx context.Context, cfg Config, ns userns.Namespaces) (mode, error) {
	conf, err := childConf(cfg)
	if err != nil {
		return nil, err
	}
	child, err := userns.Start(ctx, conf, ns)
	if errors.Is(err, userns.ErrBusy) {
		return nil, statedir.ErrBusy
	}
	if err != nil {
		return nil, err
	}
	idle := cfg.Idle
	if cfg.Log != nil {
		idle = 0
	}
	return childClient{child: child, idle: idle}, nil
}

// identities are those of the lingering solvers cfg may share: the one it
// would start, and, when it needs no build history, the same with the
// history on (builds that do not ask stay out of it).
func identities(cfg Config) ([]string, error) {
	var ids []string
	stamp := installed(cfg.CertsDir)
	for _, history := range []bool{cfg.History, true} {
		c := cfg
		c.History = history
		conf, err := childConf(c)
		if err != nil {
			return nil, err
		}
		ids = append(ids, identity(conf, stamp))
	}
	return slices.Compact(ids), nil
}

// childConf is what the solver's own process gets as its configuration.
func childConf(cfg Config) ([]byte, error) {
	cfg.Debug = cfg.Log != nil
	return json.Marshal(cfg)
}

func (childClient) client(ctx context.Context, root string) (*client.Client, error) {
	c, err := statedir.Attach(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("connecting to the builder's process: %w", err)
	}
	return c, nil
}

// Client returns the BuildKit client connected to the solver.
func (s *Solver) Client() *client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// Root returns the absolute state directory.
func (s *Solver) Root() string { return s.cfg.Root }

// Solve runs so as client.Solve does, closing ch. When this process was
// attached to another one's controller and that process exits before the
// build started (it serves others only while they have requests in
// flight), nothing was built yet: Solve serves or attaches anew and starts
// again, up to three times.
//
// Local mounts that are InPlaceMounts are offered to the solver to read in
// place; when one was, Solve fails if a file of it changed during the build.
//
// A build stays out of BuildKit's build history (Internal) unless ctx
// comes from RecordHistory.
func (s *Solver) Solve(ctx context.Context, so client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	defer close(ch)
	if ctx.Value(recordHistoryKey{}) == nil {
		so.Internal = true
	}
	if mode := ContextMode(s.contextMode.Load()); mode != ContextTransfer {
		if p := newInPlaceProvider(so, mode == ContextInPlace); p != nil {
			so.Session = append(slices.Clip(so.Session), p)
			resp, err := s.solve(ctx, so, ch)
			if err == nil {
				err = p.check()
			}
			return resp, err
		}
	}
	return s.solve(ctx, so, ch)
}

// ContextMode is how the embedded solver gets a local context.
type ContextMode int32

const (
	// ContextAuto reads a context in place unless it is small (a few
	// megabytes, a few hundred files), which the session transfer sends
	// into a snapshot it keeps for the next build, at less cost.
	ContextAuto ContextMode = iota
	// ContextInPlace reads every local context in place.
	ContextInPlace
	// ContextTransfer receives local contexts through the session, as a
	// remote builder does.
	ContextTransfer
)

// SetContextMode sets how the solver gets local contexts (ContextAuto
// unless set).
func (s *Solver) SetContextMode(m ContextMode) { s.contextMode.Store(int32(m)) }

func (s *Solver) solve(ctx context.Context, so client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	for attempt := 0; ; attempt++ {
		var started atomic.Bool
		in := make(chan *client.SolveStatus)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for st := range in {
				started.Store(true)
				ch <- st
			}
		}()
		resp, err := s.Client().Solve(ctx, nil, so, in)
		<-done
		s.mu.Lock()
		_, isAttached := s.mode.(attached)
		s.mu.Unlock()
		if err != nil && started.Load() && grpcerrors.Code(err) == codes.Unavailable {
			if isAttached {
				return nil, fmt.Errorf("the docker-build2 process whose builder this build was sharing stopped during the build (killed?): run the build again: %w", err)
			}
			return nil, fmt.Errorf("the builder's process stopped during the build (killed?): run the build again: %w", err)
		}
		if err == nil || started.Load() || !isAttached || grpcerrors.Code(err) != codes.Unavailable || attempt == 3 {
			return resp, err
		}
		s.cfg.notify(NoticeRestart)()
		_ = s.Client().Close()
		if err := s.open(ctx); err != nil {
			return nil, err
		}
	}
}

type recordHistoryKey struct{}

// RecordHistory is ctx for a Solve that goes into BuildKit's build
// history, for the provenance BuildKit records there; the caller deletes
// the record once read (the history keeps no step output, see
// historyFilter, but a record is no use after).
func RecordHistory(ctx context.Context) context.Context {
	return context.WithValue(ctx, recordHistoryKey{}, true)
}

// own makes this process the one serving the state dir. The controller
// runs in a process of its own that dies with this one and is the init of
// a PID namespace, so that whatever kills this process, SIGKILL included,
// the kernel ends every process of its RUN steps too: it holds whether
// the system has cgroup v1 or v2, and needs no daemon. A user who is not
// root gets a user namespace too. Where a PID namespace is not allowed
// (a container that masks /proc), the controller runs as it can, and a
// notice says that RUN steps may outlive a killed build.
func (s *Solver) own(ctx context.Context) (mode, error) {
	// While another process starts up its solver, Acquire tries again
	// every few milliseconds: starting a process only to find the lock
	// taken would cost the starting one its CPU.
	if statedir.Busy(s.cfg.Root) {
		return nil, statedir.ErrBusy
	}
	if !s.noPID.Load() {
		m, err := startChild(ctx, s.cfg, userns.Namespaces{Maps: s.maps, PID: true})
		if !errors.Is(err, userns.ErrNoPIDNamespace) {
			return m, err
		}
		s.noPID.Store(true)
		s.cfg.notify(fmt.Sprintf(NoticeNoPID, err))()
	}
	if s.maps != nil {
		return startChild(ctx, s.cfg, userns.Namespaces{Maps: s.maps})
	}
	return ownRoot(ctx, s.cfg)
}

// Close stops the solver (after the builds of other processes attached to
// it end, unless Open's context is done) and releases the state dir. It may
// be called more than once.
func (s *Solver) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		c, m := s.client, s.mode
		s.mu.Unlock()
		if c != nil {
			_ = c.Close()
		}
		if m != nil {
			s.closeErr = m.close(s.ctx, s.cfg.notify)
		}
	})
	return s.closeErr
}

// unlock releases a state-dir lock; nil is none.
func unlock(l *flock.Flock) error {
	if l == nil {
		return nil
	}
	return l.Unlock()
}

// NoStepCgroups reports whether RUN steps get no cgroups of their own here:
// rootless runc (a user who is not root, or root of a user namespace made
// by someone else) applies no cgroup limits.
func NoStepCgroups() bool { return userns.Rootless() || userns.InForeignUserNS() }

// BuildKitVersion returns the version of the BuildKit module linked in.
func BuildKitVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/moby/buildkit" {
				return d.Version
			}
		}
	}
	return version.Version
}
