package plugin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/containerd/console"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	"github.com/moby/buildkit/client"
	"github.com/spf13/pflag"
)

// stateOptions locate the embedded builder's state and configuration.
type stateOptions struct {
	root         string
	daemonConfig string
	certsDir     string
	solverIdle   time.Duration
	// solverIdleEnv is $DOCKER_BUILD2_SOLVER_IDLE's error, told when the
	// state is used.
	solverIdleEnv error
}

func addStateFlags(flags *pflag.FlagSet, o *stateOptions) {
	var idle time.Duration
	idle, o.solverIdleEnv = defaultSolverIdle()
	o.solverIdle = idle
	flags.Var((*idleValue)(&o.solverIdle), "solver-idle", "How long the embedded builder's solver keeps serving after a build, for the next ones (0: it stops with each build); $DOCKER_BUILD2_SOLVER_IDLE sets the default")
	flags.StringVar(&o.root, "root", defaultRoot(), "State directory of the embedded builder; $DOCKER_BUILD2_ROOT sets the default")
	flags.StringVar(&o.daemonConfig, "daemon-config", defaultDaemonConfig(), "daemon.json the embedded builder applies (builder.gc, builder.entitlements, registry-mirrors, insecure-registries); $DOCKER_BUILD2_DAEMON_CONFIG sets the default")
	flags.StringVar(&o.certsDir, "certs-dir", defaultCertsDir(), "Registry certificates in docker's certs.d layout; $DOCKER_BUILD2_CERTS_DIR sets the default")
	_ = flags.MarkHidden("certs-dir")
}

// idleValue is --solver-idle: a duration of 0 or more.
type idleValue time.Duration

func (v *idleValue) String() string { return time.Duration(*v).String() }

func (v *idleValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%s is negative: give 0 (the solver stops with each build) or a duration such as 10s", s)
	}
	*v = idleValue(d)
	return nil
}

func (v *idleValue) Type() string { return "duration" }

// loadDaemon reads the daemon.json the embedded builder applies, once the
// state options are known to be valid.
func (o stateOptions) loadDaemon() (*daemonconfig.Config, error) {
	if o.solverIdleEnv != nil {
		return nil, o.solverIdleEnv
	}
	return daemonconfig.LoadFile(o.daemonConfig)
}

// target is the builder a command opens: the one named, with the embedded
// builder's state, daemon.json and certificates, and the docker config's
// named builders and registry credentials.
func (o stateOptions) target(dockerCLI command.Cli, daemonCfg *daemonconfig.Config, status chan<- *client.SolveStatus) build.Target {
	var log io.Writer
	if debug.IsEnabled() {
		log = dockerCLI.Err()
	}
	return build.Target{
		Store:       builderStore(dockerCLI),
		Root:        o.root,
		Daemon:      daemonCfg,
		CertsDir:    o.certsDir,
		Log:         log,
		Credentials: registryCredentials(dockerCLI),
		Status:      status,
		Boot:        bootNodes(dockerCLI),
		SolverIdle:  o.solverIdle,
	}
}

// bootNodes starts the docker-container nodes of a builder that are not
// running, on their Docker engine, as buildx boots a builder when a build
// needs it. A node that cannot be started is left to the builder's probe,
// which passes it over or names it in its error.
func bootNodes(dockerCLI command.Cli) func(ctx context.Context, b *nodes.Builder, begin func(string) func(error)) error {
	return func(ctx context.Context, b *nodes.Builder, begin func(string) func(error)) error {
		for _, n := range b.Nodes {
			if n.Driver != nodes.DriverDockerContainer {
				continue
			}
			e, err := engine(dockerCLI, n)
			if err != nil {
				continue
			}
			if st, err := nodes.ContainerState(ctx, e, n); err != nil || st == "running" {
				continue
			}
			done := begin("[internal] booting buildkit on node " + n.Name)
			done(nodes.Bootstrap(ctx, e, n, func(string) {}))
		}
		return nil
	}
}

// builderStore keeps named builders beside the docker config file.
func builderStore(dockerCLI command.Cli) nodes.Store {
	return nodes.Store{Dir: filepath.Join(filepath.Dir(dockerCLI.ConfigFile().Filename), "build2")}
}

// registryCredentials reads a registry's credentials from the docker
// config (credential helpers included).
func registryCredentials(dockerCLI command.Cli) func(host string) (string, string, error) {
	return func(host string) (string, string, error) {
		if host == "registry-1.docker.io" {
			host = "https://index.docker.io/v1/"
		}
		ac, err := dockerCLI.ConfigFile().GetAuthConfig(host)
		if err != nil {
			return "", "", err
		}
		if ac.IdentityToken != "" {
			return "", ac.IdentityToken, nil
		}
		return ac.Username, ac.Password, nil
	}
}

// terminal is stderr when it is a terminal, for the live progress view.
func terminal(dockerCLI command.Cli) console.File {
	if f, ok := dockerCLI.Err().File(); ok && dockerCLI.Err().IsTerminal() {
		return f
	}
	return nil
}
