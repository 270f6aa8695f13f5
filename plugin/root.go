package plugin

import (
	"context"

	"github.com/docker-build2/docker-build2/plugin/internal/fastmeta"
	"github.com/docker/cli/cli/debug"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli-plugins/metadata"
	"github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"
)

// Name is the plugin's name: the CLI runs it as `docker build2`.
const Name = "build2"

// Version is the plugin's version: fastmeta's, which is set at link time
// (hack/build), so that the metadata it answers and the commands agree.
var Version = fastmeta.Version

// Metadata is what the docker CLI reads through docker-cli-plugin-metadata.
func Metadata() metadata.Metadata {
	return metadata.Metadata{
		SchemaVersion:    fastmeta.SchemaVersion,
		Vendor:           fastmeta.Vendor,
		Version:          Version,
		ShortDescription: fastmeta.ShortDescription,
		URL:              fastmeta.URL,
	}
}

// NewRootCmd returns the command tree. name is the command's name:
// Name when run as a plugin, the executable's base name standalone.
func NewRootCmd(name string, isPlugin bool, dockerCLI command.Cli) *cobra.Command {
	opts := &buildOptions{}
	shown := name
	if isPlugin {
		shown = "docker " + name
	}
	cmd := &cobra.Command{
		Use:   name + " [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile with an embedded BuildKit",
		Long: `Build an image from a Dockerfile with an embedded BuildKit solver.

"` + shown + ` PATH" and "` + shown + ` build PATH" are the same command.`,
		Args:                  cli.ExactArgs(1),
		SilenceUsage:          true,
		SilenceErrors:         true,
		DisableFlagsInUseLine: true,
		TraverseChildren:      true,
		CompletionOptions:     cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	cmd.RunE = withSignals(func(ctx context.Context, args []string) error {
		return runBuild(ctx, dockerCLI, cmd.Flags(), args[0], opts)
	})
	addBuildFlags(cmd, opts)
	// -D/--debug, as buildx has it: docker's debug mode (BuildKit's log,
	// the stack of an error).
	var debugOn bool
	enableDebug := func() {
		if debugOn {
			debug.Enable()
		}
	}
	if isPlugin {
		cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
			enableDebug()
			return plugin.PersistentPreRunE(cmd, args)
		}
	} else {
		cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
			enableDebug()
			if c, ok := dockerCLI.(initializer); ok {
				return c.Initialize(cliflags.NewClientOptions())
			}
			return nil
		}
		cmd.SetFlagErrorFunc(cli.FlagErrorFunc)
	}
	cmd.PersistentFlags().BoolVarP(&debugOn, "debug", "D", false, `Enable debug logging (as "docker -D"): BuildKit's log, and the stack of an error`)
	cmd.AddCommand(
		newBuildCommand(dockerCLI),
		newVersionCommand(dockerCLI),
		newInstallCommand(dockerCLI),
		newPruneCommand(dockerCLI),
		newHistoryCommand(dockerCLI),
		newBuilderCommand(dockerCLI),
		// "docker builder ls|inspect|create|rm|use" reach these through
		// the builder alias, which drops the word "builder".
		hideCommand(newBuilderLsCommand(dockerCLI)),
		hideCommand(newBuilderInspectCommand(dockerCLI)),
		hideCommand(newBuilderCreateCommand(dockerCLI)),
		hideCommand(newBuilderRmCommand(dockerCLI)),
		hideCommand(newBuilderUseCommand(dockerCLI)),
		newDiskUsageCommand(dockerCLI),
		newImagesCommand(dockerCLI),
		newRmiCommand(dockerCLI),
		newUninstallCommand(dockerCLI),
		newBakeCommand(dockerCLI),
		newImagetoolsCommand(dockerCLI),
		newPolicyCommand(dockerCLI),
		newCompletionCommand(dockerCLI, isPlugin),
	)
	return cmd
}

// initializer is the docker CLI before its options are read; a standalone
// run reads the defaults.
type initializer interface {
	Initialize(opts *cliflags.ClientOptions, ops ...command.CLIOption) error
}

func hideCommand(c *cobra.Command) *cobra.Command {
	c.Hidden = true
	return c
}
