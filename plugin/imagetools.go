package plugin

import (
	"io"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/imagetools"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newImagetoolsCommand is "imagetools": registry commands that need no
// solver, as buildx's.
func newImagetoolsCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "imagetools",
		Short: "Commands to work on images in a registry",
	}
	cmd.AddCommand(
		newImagetoolsCreateCommand(dockerCLI),
		newImagetoolsInspectCommand(dockerCLI),
	)
	return cmd
}

// registryOptions are the state flags a registry command uses: daemon.json
// (insecure registries, mirrors) and certs.d, as builds use them.
type registryOptions struct {
	state stateOptions
}

func addRegistryFlags(flags *pflag.FlagSet, o *registryOptions) {
	all := pflag.NewFlagSet("state", pflag.ContinueOnError)
	addStateFlags(all, &o.state)
	flags.AddFlag(all.Lookup("daemon-config"))
	flags.AddFlag(all.Lookup("certs-dir"))
}

// resolver reaches registries as builds do, with the docker config's
// credentials.
func (o registryOptions) resolver(dockerCLI command.Cli) (*imagetools.Resolver, error) {
	cfg, err := o.state.loadDaemon()
	if err != nil {
		return nil, err
	}
	var logw io.Writer
	if debug.IsEnabled() {
		logw = dockerCLI.Err()
	}
	return imagetools.New(build.RegistryHosts(cfg, o.state.certsDir, registryCredentials(dockerCLI)), logw), nil
}
