package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/diff/apply"
	ctdmetadata "github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/containerd/v2/plugins/diff/walking"
	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/usernet"
	"github.com/moby/buildkit/cache/metadata"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/buildkit/executor/resources"
	"github.com/moby/buildkit/executor/runcexecutor"
	containerdsnapshot "github.com/moby/buildkit/snapshot/containerd"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/leaseutil"
	"github.com/moby/buildkit/util/network"
	"github.com/moby/buildkit/util/network/cniprovider"
	"github.com/moby/buildkit/util/winlayers"
	"github.com/moby/buildkit/worker/base"
	wlabel "github.com/moby/buildkit/worker/label"
	"github.com/moby/buildkit/worker/runc"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// newWorkerOpt assembles the OCI (runc) worker for the state dir root, with
// the directory layout BuildKit's own runc worker uses (<root>/runc-<sn>).
//
// It differs from worker/runc.NewWorkerOpt in one way: it creates no proxy
// network provider. That provider generates an RSA key for its CA when the
// worker starts, which costs more CPU than the rest of a cached build, and
// docker-build2 does not offer BuildKit's proxy network.
func newWorkerOpt(ctx context.Context, stateRoot string, sn runc.SnapshotterFactory, cni cniprovider.Opt, mode workerMode) (base.WorkerOpt, error) {
	var opt base.WorkerOpt
	root := filepath.Join(stateRoot, "runc-"+sn.Name)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return opt, err
	}
	if mode.rootless {
		// A CNI bridge needs root on the host.
		cni.ConfigPath = ""
	}
	np, netMode, err := networkProviders(cni)
	if err != nil {
		return opt, err
	}
	rm, err := resources.NewMonitor()
	if err != nil {
		return opt, err
	}
	exe, err := runcexecutor.New(runcexecutor.Opt{
		Root:            filepath.Join(root, "executor"),
		ProcessMode:     mode.process,
		Rootless:        mode.rootless,
		ResourceMonitor: rm,
	}, np)
	if err != nil {
		return opt, err
	}
	s, err := sn.New(filepath.Join(root, "snapshots"))
	if err != nil {
		return opt, err
	}
	content, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		return opt, err
	}
	db, err := boltutil.Open(filepath.Join(root, "containerdmeta.db"), 0o644, boltOptions())
	if err != nil {
		return opt, err
	}
	mdb := ctdmetadata.NewDB(db, content, map[string]snapshots.Snapshotter{sn.Name: s})
	if err := mdb.Init(ctx); err != nil {
		return opt, err
	}
	cs := containerdsnapshot.NewContentStore(newHistoryFilter(mdb.ContentStore()), "buildkit")
	id, err := base.ID(root)
	if err != nil {
		return opt, err
	}
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	md, err := metadata.NewStore(filepath.Join(root, "metadata_v2.db"))
	if err != nil {
		return opt, err
	}
	return base.WorkerOpt{
		ID:   id,
		Root: root,
		Labels: map[string]string{
			wlabel.Executor:       "oci",
			wlabel.Snapshotter:    sn.Name,
			wlabel.Hostname:       hostname,
			wlabel.Network:        netMode,
			wlabel.OCIProcessMode: mode.process.String(),
			wlabel.SELinuxEnabled: "false",
		},
		MetadataStore:    md,
		ContentMetadata:  db,
		NetworkProviders: np,
		Executor:         exe,
		Snapshotter:      containerdsnapshot.NewSnapshotter(sn.Name, mdb.Snapshotter(sn.Name), "buildkit", nil),
		ContentStore:     cs,
		ImageStore:       imageStore(mdb),
		Applier:          winlayers.NewFileSystemApplierWithWindows(cs, apply.NewFileSystemApplier(cs)),
		Differ:           winlayers.NewWalkingDiffWithWindows(cs, walking.NewWalkingDiff(cs)),
		Platforms:        []ocispecs.Platform{platforms.Normalize(platforms.DefaultSpec())},
		LeaseManager:     leaseutil.WithNamespace(ctdmetadata.NewLeaseManager(mdb), "buildkit"),
		GarbageCollect:   mdb.GarbageCollect,
		MountPoolRoot:    filepath.Join(root, "cachemounts"),
		ResourceMonitor:  rm,
	}, nil
}

// workerMode is how RUN steps are isolated.
type workerMode struct {
	// rootless: the solver runs as root of a user namespace, not of the
	// host (runc gets no cgroups and no /sys).
	rootless bool
	// process is oci.NoProcessSandbox where /proc cannot be mounted in a new
	// PID namespace (in a container that masks parts of /proc).
	process oci.ProcessMode
}

// networkProviders gives RUN steps their networks: by default a network
// namespace of their own that reaches the outside through a user-mode stack
// (usernet), isolated from the host's loopback and leaving no trace on the
// host, or the CNI network of an explicit CNI configuration, as buildkitd's
// "auto" mode; and always "none" and "host" for --network.
func networkProviders(cni cniprovider.Opt) (map[pb.NetMode]network.Provider, string, error) {
	var def network.Provider = usernet.New()
	mode := usernet.Name
	if _, err := os.Stat(cni.ConfigPath); cni.ConfigPath != "" && err == nil {
		p, err := cniprovider.New(cni)
		if err != nil {
			return nil, "", fmt.Errorf("CNI configuration %s: %w", cni.ConfigPath, err)
		}
		def, mode = p, "cni"
	}
	return map[pb.NetMode]network.Provider{
		pb.NetMode_UNSET: def,
		pb.NetMode_NONE:  network.NewNoneProvider(),
		pb.NetMode_HOST:  network.NewHostProvider(),
	}, mode, nil
}
