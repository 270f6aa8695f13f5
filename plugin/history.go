package plugin

import (
	"errors"
	"fmt"

	"github.com/docker-build2/docker-build2/build/records"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// lastRecord is the ref the history commands take when none is given.
const lastRecord = "^1"

func newHistoryCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Commands to work on build records",
		Long: `Commands to work on build records, as "docker buildx history" has them.

The embedded builder keeps its records in the state dir (--root), not in
BuildKit: one per build, with the build's progress as the build printed
it (secrets masked). daemon.json's builder.history bounds them as it
bounds BuildKit's history ({"maxAge": "48h", "maxEntries": 50}, the
defaults; maxEntries 0 turns recording off).`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newHistoryLsCommand(dockerCLI),
		newHistoryInspectCommand(dockerCLI),
		newHistoryLogsCommand(dockerCLI),
		newHistoryRmCommand(dockerCLI),
		newHistoryExportCommand(dockerCLI),
		newHistoryImportCommand(dockerCLI),
	)
	return cmd
}

// openRecords opens the build records of the state dir of o, with the
// limits of builder.history in its daemon.json. A record file that does
// not parse is skipped with a warning on stderr.
func openRecords(dockerCLI command.Cli, o stateOptions) (*records.Store, error) {
	cfg, err := o.loadDaemon()
	if err != nil {
		return nil, err
	}
	limits, err := recordLimits(cfg)
	if err != nil {
		return nil, err
	}
	st, err := records.Open(o.root, limits)
	if err != nil {
		return nil, err
	}
	st.Warn = func(err error) { fmt.Fprintf(dockerCLI.Err(), "WARNING: %v\n", err) }
	return st, nil
}

// recordLimits maps builder.history to the store's limits: unset keys are
// BuildKit's defaults, maxEntries 0 turns recording off.
func recordLimits(cfg *daemonconfig.Config) (records.Limits, error) {
	h, err := cfg.BuildHistory()
	if err != nil {
		return records.Limits{}, err
	}
	l := records.Limits{MaxAge: h.MaxAge}
	if h.MaxEntries != nil {
		l.MaxEntries = int(*h.MaxEntries)
		if l.MaxEntries == 0 {
			l.MaxEntries = -1
		}
	}
	return l, nil
}

// recordError adds the way out to the store's errors about a ref.
func recordError(err error) error {
	switch {
	case errors.Is(err, records.ErrNotFound):
		return fmt.Errorf("%w: see docker build2 history ls", err)
	case errors.Is(err, records.ErrAmbiguous):
		return fmt.Errorf("%w: give more of the ref (docker build2 history ls)", err)
	}
	return err
}

// refArg is the REF argument, or the last record.
func refArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return lastRecord
}
