package embedded

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"

	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	"github.com/containerd/containerd/v2/core/images"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/snapshots/native"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/docker-build2/docker-build2/build/userns"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/cache/remotecache"
	azblobremotecache "github.com/moby/buildkit/cache/remotecache/azblob"
	gharemotecache "github.com/moby/buildkit/cache/remotecache/gha"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	s3remotecache "github.com/moby/buildkit/cache/remotecache/s3"
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
	"github.com/moby/buildkit/util/archutil"
	"github.com/moby/buildkit/util/bklog"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/disk"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/network/cniprovider"
	"github.com/moby/buildkit/version"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	"github.com/moby/buildkit/worker/runc"
	"github.com/sirupsen/logrus"
	copy "github.com/tonistiigi/fsutil/copy"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"
)

// owner holds the state-dir lock and runs the controller in this process,
// serving it in-process and on the state dir's socket.
type owner struct {
	lock    *flock.Flock
	server  *grpc.Server
	lis     *bufconn.Listener
	ctrl    *control.Controller
	shared  *statedir.Server
	closers []func() error
	// snapshotter is closed after the controller: BuildKit's worker does not
	// close it, and its bolt DB stays locked until it is.
	snapshotter snapshots.Snapshotter
	// images is the worker's image store.
	images images.Store
}

// startOwner runs the controller on cfg.Root, whose lock is held.
func startOwner(ctx context.Context, cfg Config, lock *flock.Flock, wm workerMode) (_ *owner, retErr error) {
	o := &owner{lock: lock}
	if statedir.Stale(cfg.Root) {
		statedir.Recover(cfg.Root)
	}
	// The mark of a lingering holder that died.
	_ = os.Remove(statedir.IdlePath(cfg.Root))
	defer func() {
		if retErr != nil {
			_ = o.close(ctx, nil)
		}
	}()
	setProcessWide(cfg.Log)
	// BuildKit probes the platforms this machine runs (a test binary per
	// emulator, ~60 ms here with QEMU registered) on the first RUN step of a
	// process and keeps the answer: probe while the controller opens and
	// the build loads its definition and context.
	go archutil.SupportedPlatforms(false)

	ctrl, err := o.newController(ctx, cfg, wm)
	if err != nil {
		return nil, err
	}
	o.ctrl = ctrl
	// The controller owns the worker, cache store and history DB now.
	o.closers = nil

	o.lis = bufconn.Listen(1 << 20)
	shared := &statedir.Server{}
	o.server = grpc.NewServer(
		grpc.ChainUnaryInterceptor(shared.UnaryInterceptor, grpcerrors.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(shared.StreamInterceptor, grpcerrors.StreamServerInterceptor),
		grpc.StatsHandler(shared),
		grpc.MaxRecvMsgSize(16<<20),
		grpc.MaxSendMsgSize(16<<20),
	)
	ctrl.Register(o.server)
	imagesapi.RegisterImagesServer(o.server, imagesServer{store: o.images})
	go func() { _ = o.server.Serve(o.lis) }()
	if err := shared.Serve(o.server, cfg.Root); err != nil {
		return nil, err
	}
	o.shared = shared
	return o, nil
}

// setProcessWide makes the settings buildkitd makes for its whole process:
// umask 0 (exact file modes in layers) and BuildKit's logger.
func setProcessWide(log interface{ Write([]byte) (int, error) }) {
	syscall.Umask(0)
	copy.UmaskIsZero = true
	if log != nil {
		bklog.L.Logger.SetOutput(log)
		bklog.L.Logger.SetLevel(logrus.DebugLevel)
	} else {
		bklog.L.Logger.SetOutput(discard{})
	}
}

func (o *owner) client(ctx context.Context, _ string) (*client.Client, error) {
	c, err := client.New(ctx, "unix:///embedded.sock", client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return o.lis.DialContext(ctx)
	}))
	if err != nil {
		return nil, fmt.Errorf("connecting to the embedded solver: %w", err)
	}
	return c, nil
}

func (o *owner) close(ctx context.Context, notify statedir.Notify) error {
	if o.shared != nil {
		if notify == nil {
			notify = func(string) func() { return func() {} }
		}
		o.shared.Drain(ctx, notify)
	}
	if o.server != nil {
		o.server.Stop()
	}
	if o.ctrl != nil {
		_ = o.ctrl.Close()
	}
	for i := len(o.closers) - 1; i >= 0; i-- {
		_ = o.closers[i]()
	}
	if o.snapshotter != nil {
		_ = o.snapshotter.Close()
	}
	return unlock(o.lock)
}

// rootlessMode readies this process, root of a user namespace, for rootless
// runc.
func rootlessMode(cfg Config) (workerMode, error) {
	m, err := userns.PrepareRunc(cfg.Root)
	if err != nil {
		return workerMode{}, err
	}
	if m.Notice != "" {
		cfg.notify(m.Notice)()
	}
	wm := workerMode{rootless: true, process: oci.ProcessSandbox}
	if !m.ProcessSandbox {
		wm.process = oci.NoProcessSandbox
	}
	return wm, nil
}

func (o *owner) newController(ctx context.Context, cfg Config, wm workerMode) (*control.Controller, error) {
	root := cfg.Root
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	hosts := RegistryHosts(cfg.Daemon, cfg.CertsDir)
	entitlements := []string{"network.host"}
	if cfg.Daemon != nil {
		entitlements = cfg.Daemon.AllowedEntitlements()
	}

	sn := snapshotterFactory(root)
	newSnapshotter := sn.New
	sn.New = func(root string) (snapshots.Snapshotter, error) {
		s, err := newSnapshotter(root)
		o.snapshotter = s
		return s, err
	}
	opt, err := newWorkerOpt(ctx, root, sn, cniprovider.Opt{
		Root:       root,
		ConfigPath: appdefaults.DefaultCNIConfigPath,
		BinaryDir:  appdefaults.DefaultCNIBinDir,
	}, wm)
	if err != nil {
		return nil, err
	}
	o.images = opt.ImageStore
	dstat, _ := disk.GetDiskStat(root)
	opt.GCPolicy = gcPolicy(gcConfig(cfg.Daemon), dstat)
	opt.BuildkitVersion = client.BuildkitVersion{Package: version.Package, Version: BuildKitVersion(), Revision: version.Revision}
	opt.RegistryHosts = hosts

	w, err := base.NewWorker(ctx, opt)
	if err != nil {
		return nil, err
	}
	if sn.Name == "overlayfs" {
		src, err := newInPlaceSource(w.CacheMgr, opt.Snapshotter, root)
		if err != nil {
			return nil, err
		}
		w.SourceManager.Register(src)
	}
	wc := &worker.Controller{}
	if err := wc.Add(gzipWorker{w}); err != nil {
		return nil, err
	}
	o.closers = append(o.closers, w.Close)

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
	o.closers = append(o.closers, cacheStorage.Close)

	historyDB, err := boltutil.SafeOpen(filepath.Join(root, "history.db"), 0o600, boltOptions())
	if err != nil {
		return nil, err
	}
	o.closers = append(o.closers, historyDB.Close)

	return control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
			// gha as buildkitd has it with no [cache.gha] config: no
			// signing, no verification.
			"gha":    gharemotecache.ResolveCacheExporterFunc(nil, nil),
			"s3":     s3remotecache.ResolveCacheExporterFunc(),
			"azblob": azblobremotecache.ResolveCacheExporterFunc(),
		},
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, w.ContentStore(), hosts),
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
			"gha":      gharemotecache.ResolveCacheImporterFunc(nil, nil),
			"s3":       s3remotecache.ResolveCacheImporterFunc(),
			"azblob":   azblobremotecache.ResolveCacheImporterFunc(),
		},
		CacheManager:   solver.NewCacheManager(ctx, "local", cacheStorage, worker.NewCacheResultStorage(wc)),
		Entitlements:   entitlements,
		HistoryDB:      historyDB,
		CacheStore:     cacheStorage,
		LeaseManager:   w.LeaseManager(),
		ContentStore:   w.ContentStore(),
		GarbageCollect: w.GarbageCollect,
		// BuildKit's build history stores every step's output (a secret a
		// RUN step prints included): builds stay out of it (Internal)
		// except those whose metadata file needs the provenance it records,
		// which delete their record once read (historyFilter keeps the
		// output out). It is on only when the build that starts the
		// controller needs it: on, it costs every build a few ms.
		HistoryConfig: &config.HistoryConfig{MaxEntries: historyLimit(cfg.History)},
		GracefulStop:  ctx.Done(),
	})
}

// historyLimit is how many records BuildKit's build history keeps: 0,
// none, unless on. The limit bounds what clients that died before
// deleting their record leave.
func historyLimit(on bool) *int64 {
	n := int64(0)
	if on {
		n = 32
	}
	return &n
}

// boltOptions are the bolt options buildkitd opens its databases with.
func boltOptions() *bolt.Options {
	return &bolt.Options{FreelistType: bolt.FreelistMapType, NoFreelistSync: true}
}

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
