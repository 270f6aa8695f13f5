package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// buildOptions holds the raw flag values of the build command.
type buildOptions struct {
	addHosts      []string
	allow         []string
	annotations   []string
	attests       []string
	buildArgs     []string
	buildContexts []string
	cacheFrom     []string
	cacheTo       []string
	cgroupParent  string
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
	policies      []string
	progress      string
	provenance    string
	pull          bool
	push          bool
	quiet         bool
	call          string
	check         bool
	resources     []string
	sbom          string
	secrets       []string
	shmSize       string
	ssh           []string
	tags          []string
	target        string
	ulimits       []string
	// legacyResources are docker build's resource flags (-m, --cpu-shares
	// …) given, by name.
	legacyResources map[string]string
	// sourceDateEpoch is $SOURCE_DATE_EPOCH, the build arg of that name
	// unless --build-arg sets it.
	sourceDateEpoch string
	state           stateOptions
	remote          remoteOptions
}

// remoteOptions address a BuildKit daemon or a named builder instead of
// the embedded solver.
type remoteOptions struct {
	builder       string
	tlsCACert     string
	tlsCert       string
	tlsKey        string
	tlsServerName string
}

func newBuildCommand(dockerCLI command.Cli) *cobra.Command {
	opts := &buildOptions{}
	cmd := &cobra.Command{
		Use:     "build [OPTIONS] PATH | URL | -",
		Aliases: []string{"b"},
		Short:   "Start a build",
		Args:    cli.ExactArgs(1),
	}
	cmd.RunE = withSignals(func(ctx context.Context, args []string) error {
		return runBuild(ctx, dockerCLI, cmd.Flags(), args[0], opts)
	})
	addBuildFlags(cmd, opts)
	return cmd
}

func addBuildFlags(cmd *cobra.Command, opts *buildOptions) {
	flags := cmd.Flags()
	flags.StringSliceVar(&opts.addHosts, "add-host", nil, `Add a custom host-to-IP mapping (format: "host:ip")`)
	flags.StringArrayVar(&opts.allow, "allow", nil, `Allow extra privileged entitlement (e.g., "network.host", "security.insecure")`)
	flags.StringArrayVar(&opts.annotations, "annotation", nil, "Add annotation to the image")
	flags.StringArrayVar(&opts.attests, "attest", nil, `Attestation parameters (format: "type=sbom,generator=image")`)
	flags.StringArrayVar(&opts.buildArgs, "build-arg", nil, "Set build-time variables; $SOURCE_DATE_EPOCH sets SOURCE_DATE_EPOCH unless given")
	flags.StringArrayVar(&opts.buildContexts, "build-context", nil, `Additional build contexts (e.g., name=path, name=docker-image://ref, name=oci-layout://path[:tag|@digest], name=URL)`)
	opts.sourceDateEpoch = defaultSourceDateEpoch()
	flags.StringArrayVar(&opts.cacheFrom, "cache-from", nil, `External cache sources (e.g., "user/app:cache", "type=local,src=path/to/dir")`)
	flags.StringArrayVar(&opts.cacheTo, "cache-to", nil, `Cache export destinations (e.g., "user/app:cache", "type=local,dest=path/to/dir")`)
	flags.StringVar(&opts.cgroupParent, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
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
	flags.StringArrayVar(&opts.policies, "policy", nil, `Policy configuration (format: "filename=path[,filename=path][,reset=true|false][,disabled=true|false][,strict=true|false][,log-level=level]")`)
	flags.StringVar(&opts.progress, "progress", defaultProgress(), `Set type of progress output ("auto", "plain", "tty", "rawjson", "quiet"); $BUILDKIT_PROGRESS sets the default`)
	flags.StringVar(&opts.provenance, "provenance", "", `Shorthand for "--attest=type=provenance" (default "mode=min" on images unless $BUILDX_NO_DEFAULT_ATTESTATIONS is true)`)
	flags.BoolVar(&opts.pull, "pull", false, "Always attempt to pull all referenced images")
	flags.BoolVar(&opts.push, "push", false, `Shorthand for "--output=type=registry"`)
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.StringVar(&opts.call, "call", "build", `Set method for evaluating build ("check", "outline", "targets")`)
	flags.BoolVar(&opts.check, "check", false, `Shorthand for "--call=check"`)
	flags.StringArrayVar(&opts.resources, "resource", nil, `Resource limits for build containers (format: "memory=2g", "cpu-quota=50000")`)
	flags.StringVar(&opts.sbom, "sbom", "", `Shorthand for "--attest=type=sbom"`)
	flags.StringArrayVar(&opts.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")`)
	flags.Var(&kindValue{p: &opts.shmSize, kind: "bytes"}, "shm-size", "Shared memory size for build containers")
	flags.StringArrayVar(&opts.ssh, "ssh", nil, `SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")`)
	flags.StringArrayVarP(&opts.tags, "tag", "t", nil, `Image identifier (format: "[registry/]repository[:tag]")`)
	flags.StringVar(&opts.target, "target", "", "Set the target build stage to build")
	flags.Var(&kindArray{p: &opts.ulimits, kind: "ulimit"}, "ulimit", "Ulimit options")
	addStateFlags(flags, &opts.state)
	flags.StringVar(&opts.remote.builder, "builder", defaultBuilder(), "Build on a named builder (see builder ls) or on the BuildKit daemon at this address (unix://, tcp://, ssh://, docker-container://, kube-pod://) instead of the embedded one; $BUILDX_BUILDER, else $BUILDKIT_HOST, sets the default")
	flags.StringVar(&opts.remote.tlsCACert, "tlscacert", "", "CA certificate of a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsCert, "tlscert", "", "Client certificate for a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsKey, "tlskey", "", "Client key for a tcp:// --builder")
	flags.StringVar(&opts.remote.tlsServerName, "tlsservername", "", "Server name in the --builder's certificate (default: its host)")
	addLegacyFlags(flags, opts)
	registerCompletions(cmd)
}

// runBuild builds on BuildKit, or hands the build to the Docker engine's
// legacy builder when BuildKit is off.
func runBuild(ctx context.Context, dockerCLI command.Cli, flags *pflag.FlagSet, contextArg string, o *buildOptions) error {
	daemonCfg, err := o.state.loadDaemon()
	if err != nil {
		return err
	}
	env, envSet := buildKitEnv()
	engine := newEngineProbe(dockerCLI)
	choice, err := chooseBuilder(ctx, env, envSet, o.state.daemonConfig, daemonCfg, engine.builderVersion)
	if err != nil {
		return err
	}
	if !choice.buildKit {
		return runLegacyBuild(ctx, dockerCLI, engine, flags, contextArg, choice)
	}
	warnLegacyFlags(dockerCLI.Err(), flags)

	req, err := newRequest(dockerCLI, engine, contextArg, o)
	if err != nil {
		return err
	}
	defer req.cleanup()
	values, err := secretValues(o.secrets, os.LookupEnv)
	if err != nil {
		return usageErr(err)
	}
	printer, err := progress.NewPrinter(context.WithoutCancel(ctx), dockerCLI.Err(), terminal(dockerCLI), req.progress)
	if err != nil {
		return usageErr(err)
	}
	// The record starts once the builder is open: a build that cannot
	// start leaves nothing in the state dir.
	var (
		rec     *buildRecord
		current atomic.Pointer[buildRecord]
	)
	pipe := newStatusPipe(printer.Status(), liveMasker(values), func(st *client.SolveStatus) { current.Load().observe(st) })
	res, err := buildOn(ctx, o.builderTarget(dockerCLI, daemonCfg, req.opts.Platforms, pipe.Status()), req, pipe.Status(), func() {
		if req.call.Name == "build" {
			rec = startRecord(openRecordsOrWarn(dockerCLI, o.state), filepath.Base(contextArg), req.opts, o.secrets, o.ssh, values, warnRecord(dockerCLI))
			current.Store(rec)
			req.opts.RecordRef = rec.ref()
		}
	})
	pipe.Close()
	if rerr := rec.finish(err, req.opts, res, pipe.summary.ContextBytes()); rerr != nil {
		warnRecord(dockerCLI)(rerr)
	}
	warnings, displayErr := printer.Wait()
	if req.call.Name == "build" {
		// As buildx, also when the build failed: the warnings may say why.
		progress.PrintWarnings(dockerCLI.Err(), warnings, req.progress)
		pipe.finish(dockerCLI.Err(), req.progress, rec.ref())
	}
	if err != nil {
		return err
	}
	if displayErr != nil {
		return displayErr
	}
	if req.call.Name != "build" {
		return printCall(dockerCLI.Out(), req.call, res.Call)
	}
	if err := addMetadataWarnings(req.opts.MetadataFile, warnings); err != nil {
		return err
	}
	if id := res.ImageID(); o.quiet && id != "" {
		fmt.Fprintln(dockerCLI.Out(), id)
	}
	return nil
}

// buildOn opens the builder, calls opened, builds req (first downloading
// its -f URL through the builder) and closes the builder.
func buildOn(ctx context.Context, t build.Target, req *request, status chan<- *build.SolveStatus, opened func()) (*build.Result, error) {
	b, err := build.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	opened()
	res, err := runOn(ctx, b, req, status)
	var sig signalError
	if err != nil && !errors.As(context.Cause(ctx), &sig) && !errors.As(err, &sig) {
		// As buildx words a build that failed once its builder was open.
		err = fmt.Errorf("failed to build: %w", err)
	}
	if cerr := b.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return res, err
}

func runOn(ctx context.Context, b build.Builder, req *request, status chan<- *build.SolveStatus) (*build.Result, error) {
	if req.dockerfileURL != "" {
		dt, err := build.FetchDockerfile(ctx, b, req.dockerfileURL, status)
		if err != nil {
			return nil, err
		}
		dir, err := req.writeTempDockerfile(dt)
		if err != nil {
			return nil, err
		}
		req.opts.DockerfileDir, req.opts.DockerfileName = dir, "Dockerfile"
	}
	return build.Run(ctx, b, req.opts, status)
}

// target is the builder --builder names, the embedded one by default.
func (o *buildOptions) builderTarget(dockerCLI command.Cli, daemonCfg *daemonconfig.Config, platforms []string, status chan<- *build.SolveStatus) build.Target {
	t := o.state.target(dockerCLI, daemonCfg, status)
	t.Builder = o.remote.builder
	t.TLSCACert, t.TLSCert, t.TLSKey, t.TLSServerName = o.remote.tlsCACert, o.remote.tlsCert, o.remote.tlsKey, o.remote.tlsServerName
	t.Platforms = platforms
	t.History = o.metadataFile != "" && metadataProvenance().Enabled()
	return t
}

// buildKitEnv is DOCKER_BUILDKIT, which docker itself reads too.
func buildKitEnv() (string, bool) { return os.LookupEnv("DOCKER_BUILDKIT") }
