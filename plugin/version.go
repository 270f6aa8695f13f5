package plugin

import (
	"fmt"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

func newVersionCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show docker-build2 and BuildKit versions",
		Args:  cli.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(dockerCLI.Out(), "docker-build2 %s (BuildKit %s)\n", Version, build.BuildKitVersion())
			return err
		},
	}
}
