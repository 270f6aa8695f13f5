package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/containerd/console"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
)

// buildOptions holds the raw flag values of the build command.
type buildOptions struct {
	addHosts      []string
	allow         []string
	buildArgs     []string
	cacheFrom     []string
	cacheTo       []string
	dockerfile    string
	iidFile       string
	labels        []string
	load          bool
	metadataFile  string
	network       string
	noCache       bool
	noCacheFilter []string
	outputs       []string
	platforms     []string
	progress      string
	pull          bool
	push          bool
	quiet         bool
	secrets       []string
	ssh           []string
	tags          []string
	target        string
	root          string
	daemonConfig  string
	remote        remoteOptions
}

// remoteOptions address a BuildKit daemon instead of the embedded solver.
type remoteOptions struct {
	builder       string
	tlsCACert     string
	tlsCert       string
	tlsKey        string
	tlsServerName string
}

func newBuildOptions() *buildOptions { return &buildOptions{} }

func newBuildCommand(dockerCLI *command.DockerCli) *cobra.Command {
	opts := newBuildOptions()
	cmd := &cobra.Command{
		Use:     "build [OPTIONS] PATH | URL | -",
		Aliases: []string{"b"},
		Short:   "Start a build",
		Args:    cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, dockerCLI, args[0], opts)
		},
	}
	addBuildFlags(cmd, opts)
	return cmd
}

func addBuildFlags(cmd *cobra.Command, opts *buildOptions) {
	flags := cmd.Flags()
	flags.StringSliceVar(&opts.addHosts, "add-host", nil, `Add a custom host-to-IP mapping (format: "host:ip")`)
	flags.StringArrayVar(&opts.allow, "allow", nil, `Allow extra privileged entitlement (e.g., "network.host", "security.insecure")`)
	flags.StringArrayVar(&opts.buildArgs, "build-arg", nil, "Set build-time variables")
	flags.StringArrayVar(&opts.cacheFrom, "cache-from", nil, `External cache sources (e.g., "user/app:cache", "type=local,src=path/to/dir")`)
	flags.StringArrayVar(&opts.cacheTo, "cache-to", nil, `Cache export destinations (e.g., "user/app:cache", "type=local,dest=path/to/dir")`)
	flags.StringVarP(&opts.dockerfile, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	flags.StringVar(&opts.iidFile, "iidfile", "", "Write the image ID to a file")
	flags.StringArrayVar(&opts.labels, "label", nil, "Set metadata for an image")
	flags.BoolVar(&opts.load, "load", false, `Shorthand for "--output=type=docker"`)
	flags.StringVar(&opts.metadataFile, "metadata-file", "", "Write build result metadata to a file")
	flags.StringVar(&opts.network, "network", "default", `Set the networking mode for the "RUN" instructions during build ("default", "none", "host")`)
	flags.BoolVar(&opts.noCache, "no-cache", false, "Do not use cache when building the image")
	flags.StringArrayVar(&opts.noCacheFilter, "no-cache-filter", nil, "Do not cache specified stages")
	flags.StringArrayVarP(&opts.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	flags.StringArrayVar(&opts.platforms, "platform", defaultPlatforms(), `Set target platform for build; $DOCKER_DEFAULT_PLATFORM sets the default`)
	flags.StringVar(&opts.progress, "progress", defaultProgress(), `Set type of progress output ("auto", "plain", "tty", "rawjson", "quiet"); $BUILDKIT_PROGRESS sets the default`)
	flags.BoolVar(&opts.pull, "pull", false, "Always attempt to pull all referenced images")
	flags.BoolVar(&opts.push, "push", false, `Shorthand for "--output=type=registry"`)
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.StringArrayVar(&opts.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	flags.StringArrayVar(&opts.ssh, "ssh", nil, `SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")`)
	flags.StringArrayVarP(&opts.tags, "tag", "t", nil, `Image identifier (format: "[registry/]repository[:tag]")`)
	flags.StringVar(&opts.target, "target", "", "Set the target build stage to build")
	flags.StringVar(&opts.root, "root", defaultRoot(), "State directory of the embedded builder; $DOCKER_BUILD2_ROOT sets the default")
	flags.StringVar(&opts.daemonConfig, "daemon-config", defaultDaemonConfig(), "daemon.json the embedded builder applies (builder.gc, builder.entitlements, registry-mirrors, insecure-registries); $DOCKER_BUILD2_DAEMON_CONFIG sets the default")
	flags.StringVar(&opts.remote.builder, "builder", os.Getenv("BUILDKIT_HOST"), "Build on a named builder (see builder ls) or on the BuildKit daemon at this address (unix://, tcp://, ssh://, docker-container://, kube-pod://) instead of the embedded one; $BUILDKIT_HOST sets the default")
	flags.StringVar(&opts.remote.tlsCACert, "tlscacert", "", "CA certificate of a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsCert, "tlscert", "", "Client certificate for a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsKey, "tlskey", "", "Client key for a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsServerName, "tlsservername", "", "Server name in the --builder's certificate (default: its host)")
	addLegacyFlags(flags)
	registerCompletions(cmd)
}

// solver is the embedded Engine or a remote daemon.
type solver interface {
	build.Solver
	Close() error
}

func openSolver(ctx context.Context, dockerCLI command.Cli, opts *buildOptions, daemonCfg *daemonconfig.Config) (solver, error) {
	remote, err := resolveBuilder(ctx, opts.remote, splitPlatforms(opts.platforms))
	if err != nil {
		return nil, err
	}
	if remote == nil {
		return startEngine(ctx, dockerCLI, opts.root, daemonCfg)
	}
	return build.Connect(ctx, *remote)
}

func splitPlatforms(specs []string) []string {
	var out []string
	for _, s := range specs {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// addLegacyFlags accepts the classic `docker build` flags that BuildKit
// ignores, and warns as buildx does when they are used.
func addLegacyFlags(flags *pflag.FlagSet) {
	var (
		ignoreBool   bool
		ignoreString string
		ignoreSlice  []string
	)
	hidden := func(name, warn string) {
		_ = flags.MarkHidden(name)
		if warn != "" {
			_ = flags.SetAnnotation(name, "flag-warn", []string{warn})
		}
	}
	flags.BoolVar(&ignoreBool, "compress", false, "Compress the build context using gzip")
	hidden("compress", "")
	flags.StringVar(&ignoreString, "isolation", "", "Container isolation technology")
	hidden("isolation", "isolation flag is deprecated with BuildKit.")
	flags.StringSliceVar(&ignoreSlice, "security-opt", nil, "Security options")
	hidden("security-opt", `security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.`)
	flags.BoolVar(&ignoreBool, "squash", false, "Squash newly built layers into a single new layer")
	hidden("squash", "experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.")
	flags.BoolVar(&ignoreBool, "rm", true, "Remove intermediate containers after a successful build")
	hidden("rm", "")
	flags.BoolVar(&ignoreBool, "force-rm", false, "Always remove intermediate containers")
	hidden("force-rm", "")
	flags.StringVar(&ignoreString, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	hidden("cgroup-parent", "cgroup-parent is not supported by the embedded builder: ignored")
	flags.StringVar(&ignoreString, "shm-size", "", "Shared memory size for build containers")
	hidden("shm-size", "shm-size is not supported by the embedded builder: ignored")
	flags.StringSliceVar(&ignoreSlice, "ulimit", nil, "Ulimit options")
	hidden("ulimit", "ulimit is not supported by the embedded builder: ignored")
	for _, f := range []struct{ name, short, usage string }{
		{"memory", "m", "Memory limit"},
		{"memory-swap", "", "Swap limit equal to memory plus swap"},
		{"cpu-shares", "c", "CPU shares (relative weight)"},
		{"cpu-period", "", "Limit the CPU CFS (Completely Fair Scheduler) period"},
		{"cpu-quota", "", "Limit the CPU CFS (Completely Fair Scheduler) quota"},
		{"cpuset-cpus", "", `CPUs in which to allow execution ("0-3", "0,1")`},
		{"cpuset-mems", "", `MEMs in which to allow execution ("0-3", "0,1")`},
	} {
		flags.StringP(f.name, f.short, "", f.usage)
		hidden(f.name, f.name+" is not supported with BuildKit: resource limits of RUN steps are ignored")
	}
}

func warnLegacyFlags(w io.Writer, flags *pflag.FlagSet) {
	flags.Visit(func(f *pflag.Flag) {
		if m, ok := f.Annotations["flag-warn"]; ok && len(m) > 0 {
			fmt.Fprintf(w, "WARNING: %s\n", m[0])
		}
	})
}

func runBuild(cmd *cobra.Command, dockerCLI *command.DockerCli, contextArg string, opts *buildOptions) error {
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	return withSignalExit(ctx, doBuild(ctx, cmd, dockerCLI, contextArg, opts))
}

func doBuild(ctx context.Context, cmd *cobra.Command, dockerCLI *command.DockerCli, contextArg string, opts *buildOptions) error {
	daemonCfg, err := daemonconfig.LoadFile(opts.daemonConfig)
	if err != nil {
		return err
	}
	env, envSet := os.LookupEnv("DOCKER_BUILDKIT")
	engine := newEngineProbe(dockerCLI)
	choice, err := chooseBuilder(ctx, env, envSet, opts.daemonConfig, daemonCfg, engine.builderVersion)
	if err != nil {
		return err
	}
	if !choice.buildKit {
		return runLegacyBuild(ctx, dockerCLI, engine, cmd.Flags(), contextArg, choice)
	}

	warnLegacyFlags(dockerCLI.Err(), cmd.Flags())
	req, err := newRequest(ctx, dockerCLI, engine, contextArg, opts)
	if err != nil {
		return err
	}
	defer req.cleanup()

	// A multi-platform build on a builder of several nodes is split across
	// them and merged into one image index.
	if mb, err := multiNodeBuilder(opts.remote, req.opts.Platforms); err != nil {
		return err
	} else if mb != nil {
		req.opts.Session = append(req.opts.Session, authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(dockerCLI.ConfigFile()),
		}))
		req.opts.NoHistory = len(opts.secrets) > 0
		res, err := runMultiNode(ctx, dockerCLI, req, mb)
		if err != nil {
			return err
		}
		return req.finish(dockerCLI, res)
	}

	eng, err := openSolver(ctx, dockerCLI, opts, daemonCfg)
	if err != nil {
		return err
	}
	defer func() { _ = eng.Close() }()

	if err := build.CheckPlatforms(ctx, eng, req.opts.Platforms); err != nil {
		return err
	}
	req.opts.Session = append(req.opts.Session, authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(dockerCLI.ConfigFile()),
	}))
	checkFrontend(ctx, dockerCLI, eng, req)
	// A remote daemon's build history would keep what steps print.
	req.opts.NoHistory = len(opts.secrets) > 0
	res, started, err := solve(ctx, dockerCLI, eng, req)
	// The process whose solver this one attached to can exit between the
	// attach and the solve (it serves others only while they have requests
	// in flight): then nothing was built yet, and the next attempt serves
	// or attaches anew.
	for attempt := 0; err != nil && !started && build.Unavailable(err) && attachedEngine(eng) && attempt < 3; attempt++ {
		_ = eng.Close()
		fmt.Fprintln(dockerCLI.Err(), "the docker-build2 process this build was sharing exited before the build started: starting again")
		if eng, err = openSolver(ctx, dockerCLI, opts, daemonCfg); err != nil {
			return err
		}
		res, started, err = solve(ctx, dockerCLI, eng, req)
	}
	if err != nil {
		return err
	}
	return req.finish(dockerCLI, res)
}

func attachedEngine(s solver) bool {
	e, ok := s.(*build.Engine)
	return ok && e.Attached()
}

// solve runs the build with its progress display; started reports whether
// the solver sent any status at all.
func solve(ctx context.Context, dockerCLI *command.DockerCli, s build.Solver, req *request) (_ *build.Result, started bool, _ error) {
	var term console.File
	if f, ok := dockerCLI.Err().File(); ok && dockerCLI.Err().IsTerminal() {
		term = f
	}
	in := make(chan *client.SolveStatus)
	ch := make(chan *client.SolveStatus)
	var gotStatus atomic.Bool
	go func() {
		defer close(ch)
		for st := range in {
			gotStatus.Store(true)
			ch <- st
		}
	}()
	var (
		res      *build.Result
		warnings []client.VertexWarning
	)
	// The display outlives the build's context so the final state is drawn.
	displayCtx := context.WithoutCancel(ctx)
	eg, _ := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		res, err = build.Build(ctx, s, req.opts, in)
		return err
	})
	var displayErr error
	eg.Go(func() error {
		warnings, displayErr = progress.Display(displayCtx, dockerCLI.Err(), term, req.progress, ch)
		return nil
	})
	if err := eg.Wait(); err != nil {
		return nil, gotStatus.Load(), err
	}
	if displayErr != nil {
		return nil, true, displayErr
	}
	progress.PrintWarnings(dockerCLI.Err(), warnings, req.progress)
	return res, true, nil
}

// checkFrontend falls back to the built-in Dockerfile frontend, with a
// notice, when the Dockerfile's "# syntax=" names a stable
// docker/dockerfile image that cannot be resolved (no network, air-gapped).
func checkFrontend(ctx context.Context, dockerCLI command.Cli, s build.Solver, req *request) {
	ref := req.opts.BuildArgs["BUILDKIT_SYNTAX"]
	if ref == "" && req.opts.DockerfileDir != "" {
		dt, err := os.ReadFile(filepath.Join(req.opts.DockerfileDir, req.opts.DockerfileName))
		if err != nil {
			return
		}
		ref = build.Syntax(dt)
	}
	ref, _, _ = strings.Cut(strings.TrimSpace(ref), " ")
	if ref == "" || !build.BuiltinCovers(ref) {
		return
	}
	if err := build.ResolveImage(ctx, s, ref, req.opts.Session); err != nil {
		fmt.Fprintf(dockerCLI.Err(), "WARNING: cannot resolve the Dockerfile frontend %s: building with the built-in Dockerfile frontend of BuildKit %s instead (%v)\n", ref, build.BuildKitVersion(), err)
		req.opts.BuiltinFrontend = true
		delete(req.opts.BuildArgs, "BUILDKIT_SYNTAX")
	}
}

// finish writes --iidfile, --metadata-file and the -q output, and moves
// file outputs into place.
func (r *request) finish(dockerCLI command.Cli, res *build.Result) error {
	if err := r.commitOutputs(); err != nil {
		return err
	}
	resp := res.ExporterResponse
	id := resp[exptypes.ExporterImageDigestKey]
	if v, ok := resp[exptypes.ExporterImageConfigDigestKey]; ok {
		id = v
	}
	if r.raw.iidFile != "" && id != "" {
		if err := writeFileAtomic(r.raw.iidFile, []byte(id), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if r.raw.metadataFile != "" {
		dt, err := json.MarshalIndent(decodeExporterResponse(resp), "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(r.raw.metadataFile, dt, 0o644); err != nil {
			return fmt.Errorf("--metadata-file: %w", err)
		}
	}
	if r.raw.quiet && id != "" {
		fmt.Fprintln(dockerCLI.Out(), id)
	}
	if r.cacheOnly && !r.raw.quiet {
		fmt.Fprintln(dockerCLI.Err(), "WARNING: No output specified and no Docker engine reachable to load the image into. Build result will only remain in the build cache. To push result image into registry use --push, to write it to disk use -o/--output")
	}
	if r.loaded != nil {
		if err := r.loaded.wait(); err != nil {
			return err
		}
	}
	return nil
}

// decodeExporterResponse shows base64-encoded JSON objects and arrays of
// the exporter response (such as containerimage.descriptor) as JSON, and
// every other value as it is, as buildx does.
func decodeExporterResponse(resp map[string]string) map[string]any {
	out := make(map[string]any, len(resp))
	for k, v := range resp {
		dt, err := base64.StdEncoding.DecodeString(v)
		if trimmed := bytes.TrimSpace(dt); err == nil && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed) {
			out[k] = json.RawMessage(trimmed)
			continue
		}
		out[k] = v
	}
	return out
}

// isDeviceOrPipe reports whether name is a device, FIFO or socket
// (/dev/null, /dev/stdout …): outputs are written to those, never replaced
// by renaming a file over them, which would destroy them.
func isDeviceOrPipe(name string) bool {
	st, err := os.Stat(name)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// writeFileAtomic writes dt next to name and renames it into place, so no
// half-written file is ever left behind. The mode is explicit because the
// embedded solver runs with umask 0.
func writeFileAtomic(name string, dt []byte, mode os.FileMode) error {
	if isDeviceOrPipe(name) {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(dt)
		if err1 := f.Close(); err == nil {
			err = err1
		}
		return err
	}
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(dt)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

var errNoEngine = errors.New("no Docker engine reachable")
