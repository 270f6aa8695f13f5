package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type historyExportOptions struct {
	state  stateOptions
	ref    string
	output string
}

func newHistoryExportCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyExportOptions
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] [REF]",
		Short: "Export a build record into a file",
		Long: `Export a build record (the last build's without REF) and its logs into
one tar file, which docker build2 history import reads back. Without
--output it goes to stdout, unless that is a terminal.`,
		Args: cli.RequiresMaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.ref = refArg(args)
			return runHistoryExport(dockerCLI, o)
		},
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output file path")
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runHistoryExport(dockerCLI command.Cli, o historyExportOptions) (err error) {
	if (o.output == "" || o.output == "-") && dockerCLI.Out().IsTerminal() {
		return usageErr(errors.New("refusing to write a build record to a terminal: use --output FILE or redirect stdout"))
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	if _, err := st.Get(o.ref); err != nil {
		return recordError(err)
	}
	if o.output == "" || o.output == "-" {
		return recordError(st.Export(o.ref, dockerCLI.Out()))
	}
	// Written beside the destination and renamed: a failed export leaves
	// no half file behind.
	f, err := os.CreateTemp(filepath.Dir(o.output), "."+filepath.Base(o.output)+".tmp-*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	err = st.Export(o.ref, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return recordError(err)
	}
	return os.Rename(f.Name(), o.output)
}
