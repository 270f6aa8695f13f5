package plugin

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/image"
	"github.com/spf13/pflag"
)

// builderChoice says whether a build runs on BuildKit and why.
type builderChoice struct {
	buildKit bool
	// reason names what decided, for error messages.
	reason string
}

// chooseBuilder applies the classic docker CLI's precedence: the
// DOCKER_BUILDKIT environment variable, then features.buildkit in
// daemon.json, then the engine's preferred builder when an engine answers,
// then BuildKit.
func chooseBuilder(ctx context.Context, env string, envSet bool, daemonPath string, daemonCfg *daemonconfig.Config, ping func(context.Context) (string, error)) (builderChoice, error) {
	if envSet && env != "" {
		on, err := strconv.ParseBool(env)
		if err != nil {
			return builderChoice{}, usageErrf("DOCKER_BUILDKIT environment variable expects boolean value: %q is not one of 1, 0, true, false", env)
		}
		return builderChoice{buildKit: on, reason: "DOCKER_BUILDKIT=" + env}, nil
	}
	if on, set := daemonCfg.BuildKit(); set {
		return builderChoice{buildKit: on, reason: fmt.Sprintf("features.buildkit=%v in %s", on, daemonPath)}, nil
	}
	if ping != nil {
		if v, err := ping(ctx); err == nil && v == "1" {
			return builderChoice{buildKit: false, reason: "the Docker engine's default builder (legacy)"}, nil
		}
	}
	return builderChoice{buildKit: true, reason: "default"}, nil
}

// buildKitOnlyFlags are build flags the engine's legacy builder has no
// equivalent for.
var buildKitOnlyFlags = []string{"allow", "call", "check", "annotation", "builder", "cache-to", "load", "metadata-file", "no-cache-filter", "output", "push", "resource", "secret", "ssh", "tlscacert", "tlscert", "tlskey", "tlsservername"}

// ownFlags are docker-build2's own flags, meaningless to the engine.
var ownFlags = map[string]bool{"root": true, "daemon-config": true, "progress": true}

// runLegacyBuild hands the build to the Docker engine's legacy builder
// through the docker CLI's own `docker build` implementation, so context
// upload, .dockerignore and output are exactly docker's.
func runLegacyBuild(ctx context.Context, dockerCLI command.Cli, engine *engineProbe, flags *pflag.FlagSet, contextArg string, choice builderChoice) error {
	for _, name := range buildKitOnlyFlags {
		if flags.Changed(name) {
			return usageErrf("--%s needs BuildKit, which is off (%s): unset DOCKER_BUILDKIT or set DOCKER_BUILDKIT=1", name, choice.reason)
		}
	}
	if p, _ := flags.GetStringArray("platform"); len(p) > 1 || (len(p) == 1 && strings.Contains(p[0], ",")) {
		return usageErrf("--platform with several platforms needs BuildKit, which is off (%s): unset DOCKER_BUILDKIT or set DOCKER_BUILDKIT=1", choice.reason)
	}
	if _, err := engine.ping(ctx); err != nil {
		return fmt.Errorf("BuildKit is off (%s) and no Docker engine answers at %s for the legacy builder: start the engine, or turn BuildKit on (unset DOCKER_BUILDKIT or set DOCKER_BUILDKIT=1)", choice.reason, dockerCLI.DockerEndpoint().Host)
	}
	args, err := legacyArgs(flags)
	if err != nil {
		return err
	}
	//nolint:staticcheck // SA1019: reuse docker's own legacy build (pinned docker/cli still has it) so output and context handling match docker build exactly
	cmd := image.NewBuildCommand(dockerCLI)
	cmd.SetArgs(append(args, contextArg))
	cmd.SetOut(dockerCLI.Out())
	cmd.SetErr(dockerCLI.Err())
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	_, err = cmd.ExecuteContextC(ctx)
	return err
}

// legacyArgs turns the flags the user set back into arguments for
// `docker build`.
func legacyArgs(flags *pflag.FlagSet) ([]string, error) {
	var args []string
	var err error
	flags.Visit(func(f *pflag.Flag) {
		if ownFlags[f.Name] || err != nil {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args, err
}
