package nodes

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// DefaultImage is the BuildKit image a docker-container node runs unless
// --driver-opt image= names another, as buildx.
const DefaultImage = "moby/buildkit:buildx-stable-1"

// containerPrefix and stateSuffix name a docker-container node's
// container and state volume as buildx does, so that either tool finds
// the other's.
const (
	containerPrefix = "buildx_buildkit_"
	stateSuffix     = "_state"
	stateDir        = "/var/lib/buildkit"
	configPath      = "/etc/buildkit/buildkitd.toml"
)

// ContainerName is the container a docker-container node runs BuildKit in.
func (n Node) ContainerName() string { return containerPrefix + n.Name }

// VolumeName is the volume that keeps a docker-container node's state.
func (n Node) VolumeName() string { return n.ContainerName() + stateSuffix }

// Engine is the part of the Docker engine API that docker-container nodes
// use; docker's client.APIClient is one.
type Engine interface {
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerStart(ctx context.Context, id string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerStop(ctx context.Context, id string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRemove(ctx context.Context, id string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	CopyToContainer(ctx context.Context, id string, options client.CopyToContainerOptions) (client.CopyToContainerResult, error)
	VolumeRemove(ctx context.Context, id string, options client.VolumeRemoveOptions) (client.VolumeRemoveResult, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
}

// ContainerConfig is how a docker-container node's container is created,
// from its --driver-opt, --buildkitd-flags and --buildkitd-config.
func ContainerConfig(n Node) (*container.Config, *container.HostConfig, error) {
	cfg := &container.Config{Image: DefaultImage, Cmd: n.BuildkitdFlags}
	useInit := true // BuildKit's container API leaves processes for init to reap
	hc := &container.HostConfig{
		Privileged:    true,
		Init:          &useInit,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: n.VolumeName(), Target: stateDir}},
	}
	if len(n.BuildkitdConfig) > 0 {
		cfg.Cmd = append([]string{"--config", configPath}, n.BuildkitdFlags...)
	}
	for k, v := range n.DriverOpts {
		if err := containerOpt(cfg, hc, k, v); err != nil {
			return nil, nil, err
		}
	}
	return cfg, hc, nil
}

// containerOpt applies one --driver-opt of the docker-container driver,
// as buildx's driver/docker-container/factory.go reads it.
func containerOpt(cfg *container.Config, hc *container.HostConfig, k, v string) error {
	var err error
	switch {
	case k == "image":
		cfg.Image = v
	case k == "network":
		hc.NetworkMode = container.NetworkMode(v)
	case strings.HasPrefix(k, "env."):
		name := strings.TrimPrefix(k, "env.")
		if name == "" {
			return fmt.Errorf("invalid env option %q, expecting env.FOO=bar", k)
		}
		cfg.Env = append(cfg.Env, name+"="+v)
	case k == "restart-policy":
		var p container.RestartPolicy
		name, count, ok := strings.Cut(v, ":")
		p.Name = container.RestartPolicyMode(name)
		if ok {
			p.MaximumRetryCount, err = strconv.Atoi(count)
		}
		hc.RestartPolicy = p
	case k == "privileged":
		// docker-build2's own: for engines that cannot run privileged
		// containers (one nested in a container that lacks capabilities).
		var on bool
		if on, err = strconv.ParseBool(v); err == nil && !on {
			hc.Privileged = false
			hc.CapAdd = []string{"SYS_ADMIN", "NET_ADMIN"}
			hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
			hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{} // as --security-opt systempaths=unconfined
			// BuildKit's runc makes a cgroup for each step.
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
		}
	case k == "default-load", k == "provenance-add-gha", k == "allow-untrusted-image":
		_, err = strconv.ParseBool(v)
	default:
		var known bool
		known, err = resourceOpt(hc, k, v)
		if !known {
			return fmt.Errorf("invalid driver option %s for %s driver", k, DriverDockerContainer)
		}
	}
	if err != nil {
		return fmt.Errorf("driver option %s=%s: %w", k, v, err)
	}
	return nil
}

// resourceOpt applies a --driver-opt that limits the container's
// resources; known is false for a key that is none of those.
func resourceOpt(hc *container.HostConfig, k, v string) (known bool, err error) {
	switch k {
	case "memory":
		hc.Memory, err = units.RAMInBytes(v)
	case "memory-swap":
		hc.MemorySwap, err = units.RAMInBytes(v)
	case "cpu-period":
		hc.CPUPeriod, err = strconv.ParseInt(v, 10, 64)
	case "cpu-quota":
		hc.CPUQuota, err = strconv.ParseInt(v, 10, 64)
	case "cpu-shares":
		hc.CPUShares, err = strconv.ParseInt(v, 10, 64)
	case "cpuset-cpus":
		hc.CpusetCpus = v
	case "cpuset-mems":
		hc.CpusetMems = v
	case "cgroup-parent":
		hc.CgroupParent = v
	default:
		return false, nil
	}
	return true, err
}

// remoteOpts are the --driver-opt keys of the remote driver.
var remoteOpts = map[string]bool{"cacert": true, "cert": true, "key": true, "servername": true, "default-load": true}

// checkDriverOpts rejects the options a node's driver does not know.
func checkDriverOpts(n Node) error {
	if n.Driver == DriverDockerContainer {
		_, _, err := ContainerConfig(n)
		return err
	}
	for k := range n.DriverOpts {
		if !remoteOpts[k] {
			return fmt.Errorf("invalid driver option %s for %s driver", k, DriverRemote)
		}
	}
	if len(n.BuildkitdFlags) > 0 || len(n.BuildkitdConfig) > 0 {
		return errors.New("--buildkitd-flags and --buildkitd-config configure a daemon docker-build2 starts: use them with --driver docker-container")
	}
	return nil
}

// ContainerState is "running", "stopped" (the container exists but does
// not run) or "inactive" (there is no container yet), as buildx reports a
// docker-container node.
func ContainerState(ctx context.Context, e Engine, n Node) (string, error) {
	res, err := e.ContainerInspect(ctx, n.ContainerName(), client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return "inactive", nil
	}
	if err != nil {
		return "", err
	}
	if res.Container.State != nil && res.Container.State.Running {
		return "running", nil
	}
	return "stopped", nil
}

// Bootstrap creates a docker-container node's container and state volume
// when there are none, starts it, and waits until BuildKit answers in it;
// each step is reported to step.
func Bootstrap(ctx context.Context, e Engine, n Node, step func(string)) error {
	state, err := ContainerState(ctx, e, n)
	if err != nil {
		return err
	}
	if state == "inactive" {
		if err := createContainer(ctx, e, n, step); err != nil {
			return err
		}
	}
	if state != "running" {
		step("starting container " + n.ContainerName())
		if _, err := e.ContainerStart(ctx, n.ContainerName(), client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("starting %s: %w", n.ContainerName(), err)
		}
	}
	return waitReady(ctx, e, n)
}

func createContainer(ctx context.Context, e Engine, n Node, step func(string)) error {
	cfg, hc, err := ContainerConfig(n)
	if err != nil {
		return err
	}
	if _, err := e.ImageInspect(ctx, cfg.Image); err != nil {
		if !cerrdefs.IsNotFound(err) {
			return err
		}
		step("pulling image " + cfg.Image)
		resp, err := e.ImagePull(ctx, cfg.Image, client.ImagePullOptions{})
		if err == nil {
			err = resp.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("pulling %s (give a local image with --driver-opt image=): %w", cfg.Image, err)
		}
	}
	step("creating container " + n.ContainerName())
	if _, err := e.ContainerCreate(ctx, client.ContainerCreateOptions{Name: n.ContainerName(), Config: cfg, HostConfig: hc}); err != nil {
		return fmt.Errorf("creating %s: %w", n.ContainerName(), err)
	}
	if len(n.BuildkitdConfig) == 0 {
		return nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "etc/buildkit/", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(configPath, "/"), Mode: 0o644, Size: int64(len(n.BuildkitdConfig))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write(n.BuildkitdConfig); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err = e.CopyToContainer(ctx, n.ContainerName(), client.CopyToContainerOptions{DestinationPath: "/", Content: &buf})
	return err
}

// waitReady waits up to a minute for BuildKit to answer in the container;
// a container that exits fails at once.
func waitReady(ctx context.Context, e Engine, n Node) error {
	deadline := time.Now().Add(time.Minute)
	for {
		st := Probe(ctx, n)
		if st.Err == nil {
			return nil
		}
		state, err := ContainerState(ctx, e, n)
		if err != nil {
			return err
		}
		if state != "running" {
			return fmt.Errorf("container %s exited (see docker logs %s): %w", n.ContainerName(), n.ContainerName(), st.Err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("BuildKit in %s did not answer within a minute: %w", n.ContainerName(), st.Err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// StopContainer stops a docker-container node's container, if it runs.
func StopContainer(ctx context.Context, e Engine, n Node) error {
	_, err := e.ContainerStop(ctx, n.ContainerName(), client.ContainerStopOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// RemoveContainer removes a docker-container node's container and, unless
// keepState, its state volume; what is not there is not an error.
func RemoveContainer(ctx context.Context, e Engine, n Node, keepState bool) error {
	if _, err := e.ContainerRemove(ctx, n.ContainerName(), client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing %s: %w", n.ContainerName(), err)
	}
	if keepState {
		return nil
	}
	if _, err := e.VolumeRemove(ctx, n.VolumeName(), client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing %s: %w", n.VolumeName(), err)
	}
	return nil
}
