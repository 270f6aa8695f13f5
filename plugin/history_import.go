package plugin

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type historyImportOptions struct {
	state stateOptions
	files []string
}

func newHistoryImportCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyImportOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] [-]",
		Short: "Import build records exported with history export",
		Long: `Import build records exported with docker build2 history export, from
the files given with --file, else from stdin; print the ref of each. A
record keeps its ref unless the store has it already.`,
		Args: cli.RequiresMaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				if args[0] != "-" {
					return usageErrf("import reads --file or stdin (-), not %q: use --file %s", args[0], args[0])
				}
				o.files = append(o.files, "-")
			}
			return runHistoryImport(dockerCLI, o)
		},
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringArrayVarP(&o.files, "file", "f", nil, "Import from a file path")
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runHistoryImport(dockerCLI command.Cli, o historyImportOptions) error {
	files := o.files
	if len(files) == 0 {
		files = []string{"-"}
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	for _, name := range files {
		var r io.Reader = dockerCLI.In()
		if name == "-" {
			if dockerCLI.In().IsTerminal() {
				return usageErr(errors.New("import reads an export on stdin, which is a terminal: use --file FILE or redirect stdin"))
			}
		} else {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("--file: %w", err)
			}
			defer func() { _ = f.Close() }()
			r = f
		}
		ref, err := st.Import(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintln(dockerCLI.Out(), ref)
	}
	return nil
}
