package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/snapshots/native"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/cache/remotecache"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/cmd/buildkitd/config"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/util/appdefaults"
	"github.com/moby/buildkit/util/bklog"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/disk"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/network/cniprovider"
	"github.com/moby/buildkit/util/resolver"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	"github.com/moby/buildkit/worker/runc"
	"github.com/sirupsen/logrus"
	copy "github.com/tonistiigi/fsutil/copy"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/moby/buildkit/version"
)

// ErrRuncMissing is returned by New when the OCI runtime is not installed.
var ErrRuncMissing = errors.New("runc is not installed or not on PATH: the embedded builder runs RUN steps with runc; install it (Debian/Ubuntu: apt-get install runc)")

// Config is what the embedded solver needs to start.
type Config struct {
	// Root is the state directory. It is created with mode 0700 when missing.
	Root string
	// Notify, when not nil, receives one-line human messages about start-up
	// (such as waiting for the state-dir lock held by another process).
	Notify func(msg string)
	// Daemon is the daemon.json the builder applies (GC, entitlements,
	// registry mirrors and insecure registries); nil means defaults.
	Daemon *daemonconfig.Config
	// Log, when not nil, receives BuildKit's own log (for --debug).
	Log io.Writer
	// CertsDir holds per-registry TLS material in docker's layout
	// (<dir>/<host>/ca.crt, client.cert, client.key); empty means none.
	CertsDir string
}

// Engine is an embedded BuildKit controller served in-process and the
// client that talks to it. A process opens a given state dir at most once:
// BuildKit keeps process-wide checksum caches keyed by cache record IDs.
type Engine struct {
	root    string
	lock    *flock.Flock
	server  *grpc.Server
	lis     *bufconn.Listener
	ctrl    *control.Controller
	client  *client.Client
	closers []func() error
	// snapshotter is closed after the controller: BuildKit's worker does not
	// close it, and its bolt DB stays locked until it is.
	snapshotter snapshots.Snapshotter

	// shared serves the controller to other docker-build2 processes on a
	// unix socket in the state dir; nil when this process attached to
	// another one's controller instead (lock is nil then too).
	shared *sharedServer
	notify func(string)
	// userns is the process that runs the controller in a user namespace
	// for a user who is not root; this process is its client.
	userns *usernsChild
	// ctx is New's context: when it is done (Ctrl-C), Close stops at once
	// instead of waiting for attached builds.
	ctx context.Context

	closeOnce sync.Once
	closeErr  error
}

// New starts the embedded solver on cfg.Root. It waits for the state-dir lock
// (reporting that through cfg.Notify) until ctx is done.
func New(ctx context.Context, cfg Config) (*Engine, error) {
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
	var maps idMaps
	if Rootless() {
		// Checked before anything is written.
		if maps, err = checkRootless(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	if Rootless() {
		return newRootless(ctx, root, cfg, maps)
	}
	lock, attached, err := acquireOrAttach(ctx, root, cfg.Notify)
	if err != nil {
		return nil, err
	}
	if attached != nil {
		return &Engine{root: root, client: attached, notify: cfg.Notify}, nil
	}
	mode := workerMode{process: oci.ProcessSandbox}
	if inForeignUserNS() {
		if mode, err = rootlessMode(root, cfg.Notify); err != nil {
			_ = lock.Unlock()
			return nil, err
		}
	}
	return start(ctx, root, cfg, lock, mode)
}

// start runs the controller on root, whose lock is held, and serves it
// in-process and on the state dir's socket.
func start(ctx context.Context, root string, cfg Config, lock *flock.Flock, mode workerMode) (_ *Engine, retErr error) {
	e := &Engine{root: root, lock: lock, notify: cfg.Notify, ctx: ctx}
	// A holder that exits normally removes its socket; one still there means
	// the last holder died and may have left containers and mounts.
	if _, err := os.Lstat(socketPath(root)); err == nil {
		recoverStale(root)
	}
	defer func() {
		if retErr != nil {
			_ = e.Close()
		}
	}()

	// Exact file modes in layers need umask 0, as buildkitd sets it.
	syscall.Umask(0)
	copy.UmaskIsZero = true
	if cfg.Log != nil {
		bklog.L.Logger.SetOutput(cfg.Log)
		bklog.L.Logger.SetLevel(logrus.DebugLevel)
	} else {
		bklog.L.Logger.SetOutput(discard{})
	}

	ctrl, err := newController(ctx, root, cfg, e, mode)
	if err != nil {
		return nil, err
	}
	e.ctrl = ctrl
	// The controller owns the worker, cache store and history DB now.
	e.closers = nil

	e.lis = bufconn.Listen(1 << 20)
	shared := &sharedServer{}
	e.server = grpc.NewServer(
		grpc.ChainUnaryInterceptor(e.countUnary, grpcerrors.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(e.countStream, grpcerrors.StreamServerInterceptor),
		grpc.StatsHandler(shared),
		grpc.MaxRecvMsgSize(16<<20),
		grpc.MaxSendMsgSize(16<<20),
	)
	ctrl.Register(e.server)
	go func() { _ = e.server.Serve(e.lis) }()
	if err := shared.serve(e.server, socketPath(root)); err != nil {
		return nil, err
	}
	e.shared = shared

	c, err := client.New(ctx, "unix:///embedded.sock", client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return e.lis.DialContext(ctx)
	}))
	if err != nil {
		return nil, fmt.Errorf("connecting to the embedded solver: %w", err)
	}
	e.client = c
	return e, nil
}

// Client returns the BuildKit client connected to the embedded solver.
func (e *Engine) Client() *client.Client { return e.client }

// Root returns the absolute state directory.
func (e *Engine) Root() string { return e.root }

// Close stops the solver and releases the state-dir lock. It may be called
// more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Engine) close() error {
	if e.client != nil {
		_ = e.client.Close()
	}
	if e.userns != nil {
		return e.userns.stop(e.ctx)
	}
	if e.shared != nil {
		e.shared.drain(e.ctx, e.notify)
	}
	if e.server != nil {
		e.server.Stop()
	}
	if e.ctrl != nil {
		_ = e.ctrl.Close()
	}
	for i := len(e.closers) - 1; i >= 0; i-- {
		_ = e.closers[i]()
	}
	if e.snapshotter != nil {
		_ = e.snapshotter.Close()
	}
	if e.lock != nil {
		return e.lock.Unlock()
	}
	return nil
}

func newController(ctx context.Context, root string, cfg Config, e *Engine, mode workerMode) (*control.Controller, error) {
	closers := &e.closers
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	hosts := resolver.NewRegistryConfig(registryConfig(cfg.Daemon, cfg.CertsDir))
	gcCfg, err := gcConfig(cfg.Daemon)
	if err != nil {
		return nil, err
	}
	entitlements := []string{"network.host"}
	if cfg.Daemon != nil {
		entitlements = cfg.Daemon.AllowedEntitlements()
	}

	sn := snapshotterFactory(root)
	newSnapshotter := sn.New
	sn.New = func(root string) (snapshots.Snapshotter, error) {
		s, err := newSnapshotter(root)
		e.snapshotter = s
		return s, err
	}
	opt, err := newWorkerOpt(ctx, root, sn, cniprovider.Opt{
		Root:       root,
		ConfigPath: appdefaults.DefaultCNIConfigPath,
		BinaryDir:  appdefaults.DefaultCNIBinDir,
	}, mode)
	if err != nil {
		return nil, err
	}
	dstat, _ := disk.GetDiskStat(root)
	opt.GCPolicy = gcPolicy(gcCfg, dstat)
	opt.BuildkitVersion = client.BuildkitVersion{Package: version.Package, Version: BuildKitVersion(), Revision: version.Revision}
	opt.RegistryHosts = hosts

	w, err := base.NewWorker(ctx, opt)
	if err != nil {
		return nil, err
	}
	wc := &worker.Controller{}
	if err := wc.Add(w); err != nil {
		return nil, err
	}
	*closers = append(*closers, w.Close)

	frontends := map[string]frontend.Frontend{
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
	}
	gwfe, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, err
	}
	frontends["gateway.v0"] = gwfe

	cacheStorage, err := bboltcachestorage.NewStore(filepath.Join(root, "cache.db"))
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, cacheStorage.Close)

	historyDB, err := boltutil.SafeOpen(filepath.Join(root, "history.db"), 0o600, &bolt.Options{
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, historyDB.Close)

	return control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
		},
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, w.ContentStore(), hosts),
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
		},
		CacheManager:   solver.NewCacheManager(ctx, "local", cacheStorage, worker.NewCacheResultStorage(wc)),
		Entitlements:   entitlements,
		HistoryDB:      historyDB,
		CacheStore:     cacheStorage,
		LeaseManager:   w.LeaseManager(),
		ContentStore:   w.ContentStore(),
		GarbageCollect: w.GarbageCollect,
		// No build history: it would store every step's output (a secret a
		// RUN step prints included) in the state dir, and nothing here
		// reads it back.
		HistoryConfig: &config.HistoryConfig{MaxEntries: &noHistory},
		GracefulStop:  ctx.Done(),
	})
}

// noHistory turns BuildKit's build history off (MaxEntries 0).
var noHistory int64

func snapshotterFactory(root string) runc.SnapshotterFactory {
	if err := overlayutils.Supported(root); err == nil {
		return runc.SnapshotterFactory{Name: "overlayfs", New: func(root string) (snapshots.Snapshotter, error) {
			return overlay.NewSnapshotter(root, overlay.AsynchronousRemove)
		}}
	}
	return runc.SnapshotterFactory{Name: "native", New: native.NewSnapshotter}
}

func gcPolicy(cfg config.GCConfig, dstat disk.DiskStat) []client.PruneInfo {
	if cfg.GC != nil && !*cfg.GC {
		return nil
	}
	rules := cfg.GCPolicy
	if len(rules) == 0 {
		rules = config.DefaultGCPolicy(cfg, dstat)
	}
	out := make([]client.PruneInfo, 0, len(rules))
	for _, rule := range rules {
		out = append(out, client.PruneInfo{
			Filter:        rule.Filters,
			All:           rule.All,
			KeepDuration:  rule.KeepDuration.Duration,
			ReservedSpace: rule.ReservedSpace.AsBytes(dstat),
			MaxUsedSpace:  rule.MaxUsedSpace.AsBytes(dstat),
			MinFreeSpace:  rule.MinFreeSpace.AsBytes(dstat),
		})
	}
	return out
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

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
