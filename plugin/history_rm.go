package plugin

import (
	"errors"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type historyRmOptions struct {
	state stateOptions
	all   bool
	refs  []string
}

func newHistoryRmCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyRmOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [REF...]",
		Short: "Remove build records",
		Long: `Remove build records. REF is a ref, a unique prefix of one, or ^N (the
Nth last build). --all keeps the records of builds still running.`,
		RunE: func(_ *cobra.Command, args []string) error {
			o.refs = args
			return runHistoryRm(dockerCLI, o)
		},
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Remove all build records")
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runHistoryRm(dockerCLI command.Cli, o historyRmOptions) error {
	if len(o.refs) == 0 && !o.all {
		return usageErr(errors.New("rm requires at least one argument: a ref (docker build2 history ls), or --all"))
	}
	if len(o.refs) > 0 && o.all {
		return usageErr(errors.New("rm requires either --all or at least one argument"))
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	if o.all {
		_, err = st.RemoveAll()
		return err
	}
	return recordError(st.Remove(o.refs...))
}
