package plugin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/console"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
)

type historyLogsOptions struct {
	state    stateOptions
	ref      string
	progress string
}

func newHistoryLogsCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyLogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [REF]",
		Short: "Print the logs of a build record",
		Long: `Print the logs of a build record (the last build's without REF): its
progress replayed as --progress=plain shows it, or, with rawjson, the
statuses stored, one JSON document a line.`,
		Args: cli.RequiresMaxArgs(1),
		RunE: withSignals(func(ctx context.Context, args []string) error {
			o.ref = refArg(args)
			return runHistoryLogs(ctx, dockerCLI, o)
		}),
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringVar(&o.progress, "progress", "plain", `Set type of progress output ("plain", "rawjson", "tty")`)
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runHistoryLogs(ctx context.Context, dockerCLI command.Cli, o historyLogsOptions) error {
	mode, err := progress.ParseMode(o.progress)
	if err == nil && (mode == progress.Quiet || mode == progress.Auto) {
		err = fmt.Errorf("invalid progress mode %q: use plain, rawjson or tty", o.progress)
	}
	if err != nil {
		return usageErrf("--progress: %w", err)
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	rc, err := st.Logs(o.ref)
	if err != nil {
		return recordError(err)
	}
	defer func() { _ = rc.Close() }()
	if mode == progress.RawJSON {
		_, err := io.Copy(dockerCLI.Out(), rc)
		return err
	}
	var term console.File
	if f, ok := dockerCLI.Out().File(); ok && mode == progress.TTY && dockerCLI.Out().IsTerminal() {
		term = f
	}
	printer, err := progress.NewPrinter(context.WithoutCancel(ctx), dockerCLI.Out(), term, mode)
	if err != nil {
		return err
	}
	err = replay(ctx, rc, printer.Status())
	if _, perr := printer.Wait(); err == nil {
		err = perr
	}
	return err
}

// replay sends the statuses of a log to ch. A last line cut short (the
// log of a build still running) ends the replay, not in an error.
func replay(ctx context.Context, r io.Reader, ch chan<- *client.SolveStatus) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var ss client.SolveStatus
		if err := json.Unmarshal(sc.Bytes(), &ss); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return nil
			}
			return fmt.Errorf("reading build record logs: %w", err)
		}
		select {
		case ch <- &ss:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return sc.Err()
}
