package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	"github.com/docker/cli/opts"
	"github.com/docker/go-units"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

// stateOptions locate the embedded builder's state and configuration.
type stateOptions struct {
	root         string
	daemonConfig string
}

func addStateFlags(cmd *cobra.Command, o *stateOptions) {
	cmd.Flags().StringVar(&o.root, "root", defaultRoot(), "State directory of the embedded builder; $DOCKER_BUILD2_ROOT sets the default")
	cmd.Flags().StringVar(&o.daemonConfig, "daemon-config", defaultDaemonConfig(), "daemon.json the embedded builder applies; $DOCKER_BUILD2_DAEMON_CONFIG sets the default")
}

// openEngine loads daemon.json and starts the embedded solver on root.
func openEngine(ctx context.Context, dockerCLI command.Cli, o stateOptions) (*build.Engine, error) {
	daemonCfg, err := daemonconfig.LoadFile(o.daemonConfig)
	if err != nil {
		return nil, err
	}
	return startEngine(ctx, dockerCLI, o.root, daemonCfg)
}

func startEngine(ctx context.Context, dockerCLI command.Cli, root string, daemonCfg *daemonconfig.Config) (*build.Engine, error) {
	errW := dockerCLI.Err()
	var log io.Writer
	if debug.IsEnabled() {
		log = dockerCLI.Err()
	}
	return build.New(ctx, build.Config{
		Log:      log,
		Root:     root,
		CertsDir: defaultCertsDir(),
		Daemon:   daemonCfg,
		Notify:   func(msg string) { fmt.Fprintln(errW, msg) },
	})
}

// signalError is the cause of a context cancelled by a signal; the exit
// code follows the shell's 128+signal convention (130 SIGINT, 143 SIGTERM).
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// signalContext is cancelled, with a signalError cause, by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal)
			cancel(signalError{sig: sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// withSignalExit gives an error caused by a signal the signal's exit code.
func withSignalExit(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return cli.StatusError{Cause: err, Status: "ERROR: " + err.Error(), StatusCode: 128 + int(se.sig)}
	}
	return err
}

type pruneOptions struct {
	state         stateOptions
	all           bool
	force         bool
	verbose       bool
	filter        []string
	reservedSpace opts.MemBytes
	maxUsedSpace  opts.MemBytes
	minFreeSpace  opts.MemBytes
}

func newPruneCommand(dockerCLI command.Cli) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), dockerCLI, o)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&o.all, "all", "a", false, "Include internal/frontend images")
	flags.StringArrayVar(&o.filter, "filter", nil, `Provide filter values (e.g., "until=24h")`)
	flags.Var(&o.reservedSpace, "reserved-space", "Amount of disk space always allowed to keep for cache")
	flags.Var(&o.minFreeSpace, "min-free-space", "Target amount of free disk space after pruning")
	flags.Var(&o.maxUsedSpace, "max-used-space", "Maximum amount of disk space allowed to keep for cache")
	flags.BoolVar(&o.verbose, "verbose", false, "Provide a more verbose output")
	flags.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(&o.reservedSpace, "keep-storage", "Amount of disk space to keep for cache")
	_ = flags.MarkDeprecated("keep-storage", "keep-storage flag has been changed to reserved-space")
	addStateFlags(cmd, &o.state)
	return cmd
}

func runPrune(ctx context.Context, dockerCLI command.Cli, o pruneOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	pi, err := pruneInfo(o.filter)
	if err != nil {
		return usageErr("--filter: %v", err)
	}
	if !o.force {
		warning := "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
		if o.all {
			warning = "WARNING! This will remove all build cache. Are you sure you want to continue?"
		}
		if !confirm(dockerCLI.In(), dockerCLI.Out(), warning) {
			return nil
		}
	}
	eng, err := openEngine(ctx, dockerCLI, o.state)
	if err != nil {
		return err
	}
	defer func() { _ = eng.Close() }()

	popts := []client.PruneOption{
		client.WithKeepOpt(pi.KeepDuration, o.reservedSpace.Value(), o.maxUsedSpace.Value(), o.minFreeSpace.Value()),
		client.WithFilter(pi.Filter),
	}
	if o.all {
		popts = append(popts, client.PruneAll)
	}
	ch := make(chan client.UsageInfo)
	var total int64
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		tw := tabwriter.NewWriter(dockerCLI.Out(), 1, 8, 1, '\t', 0)
		first := true
		for du := range ch {
			total += du.Size
			if o.verbose {
				printVerbose(tw, &du)
				continue
			}
			if first {
				fmt.Fprintln(tw, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
				first = false
			}
			printUsageRow(tw, &du)
			_ = tw.Flush()
		}
		return tw.Flush()
	})
	err = eng.Client().Prune(ctx, ch, popts...)
	close(ch)
	if err2 := eg.Wait(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(dockerCLI.Out(), 1, 8, 1, '\t', 0)
	fmt.Fprintf(tw, "Total:\t%s\n", units.HumanSize(float64(total)))
	return tw.Flush()
}

type duOptions struct {
	state   stateOptions
	verbose bool
	filter  []string
}

func newDiskUsageCommand(dockerCLI command.Cli) *cobra.Command {
	var o duOptions
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Disk usage of the build cache",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDiskUsage(cmd.Context(), dockerCLI, o)
		},
	}
	cmd.Flags().StringArrayVar(&o.filter, "filter", nil, "Provide filter values")
	cmd.Flags().BoolVar(&o.verbose, "verbose", false, "Provide a more verbose output")
	addStateFlags(cmd, &o.state)
	return cmd
}

func runDiskUsage(ctx context.Context, dockerCLI command.Cli, o duOptions) error {
	ctx, stop := signalContext(ctx)
	defer stop()
	pi, err := pruneInfo(o.filter)
	if err != nil {
		return usageErr("--filter: %v", err)
	}
	eng, err := openEngine(ctx, dockerCLI, o.state)
	if err != nil {
		return err
	}
	defer func() { _ = eng.Close() }()
	du, err := eng.Client().DiskUsage(ctx, client.WithFilter(pi.Filter))
	if err != nil {
		return err
	}
	sort.Slice(du, func(i, j int) bool { return du[i].Size > du[j].Size })
	tw := tabwriter.NewWriter(dockerCLI.Out(), 1, 8, 1, '\t', 0)
	if o.verbose {
		for _, u := range du {
			printVerbose(tw, u)
		}
	} else if len(du) > 0 {
		fmt.Fprintln(tw, "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED")
		for _, u := range du {
			printUsageRow(tw, u)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(o.filter) == 0 {
		printSummary(dockerCLI.Out(), du)
	}
	return nil
}

func printUsageRow(w io.Writer, u *client.UsageInfo) {
	id := u.ID
	if u.Mutable {
		id += "*"
	}
	size := units.HumanSize(float64(u.Size))
	if u.Shared {
		size += "*"
	}
	lastAccessed := ""
	if u.LastUsedAt != nil {
		lastAccessed = units.HumanDuration(time.Since(*u.LastUsedAt)) + " ago"
	}
	fmt.Fprintf(w, "%s\t%v\t%s\t%s\n", id, !u.InUse, size, lastAccessed)
}

func printVerbose(w io.Writer, u *client.UsageInfo) {
	fmt.Fprintf(w, "ID:\t%s\n", u.ID)
	if len(u.Parents) > 0 {
		fmt.Fprintf(w, "Parents:\n")
		for _, p := range u.Parents {
			fmt.Fprintf(w, "\t- %s\n", p)
		}
	}
	fmt.Fprintf(w, "Created at:\t%s\n", u.CreatedAt)
	fmt.Fprintf(w, "Mutable:\t%v\n", u.Mutable)
	fmt.Fprintf(w, "Reclaimable:\t%v\n", !u.InUse)
	fmt.Fprintf(w, "Shared:\t%v\n", u.Shared)
	fmt.Fprintf(w, "Size:\t%s\n", units.HumanSize(float64(u.Size)))
	if u.Description != "" {
		fmt.Fprintf(w, "Description:\t%s\n", u.Description)
	}
	fmt.Fprintf(w, "Usage count:\t%d\n", u.UsageCount)
	if u.LastUsedAt != nil {
		fmt.Fprintf(w, "Last used:\t%s ago\n", units.HumanDuration(time.Since(*u.LastUsedAt)))
	}
	if u.RecordType != "" {
		fmt.Fprintf(w, "Type:\t%s\n", u.RecordType)
	}
	fmt.Fprintf(w, "\n")
}

func printSummary(w io.Writer, du []*client.UsageInfo) {
	var total, reclaimable, shared int64
	for _, u := range du {
		if u.Size > 0 {
			total += u.Size
			if !u.InUse {
				reclaimable += u.Size
			}
		}
		if u.Shared {
			shared += u.Size
		}
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	if shared > 0 {
		fmt.Fprintf(tw, "Shared:\t%s\n", units.HumanSize(float64(shared)))
		fmt.Fprintf(tw, "Private:\t%s\n", units.HumanSize(float64(total-shared)))
	}
	fmt.Fprintf(tw, "Reclaimable:\t%s\n", units.HumanSize(float64(reclaimable)))
	fmt.Fprintf(tw, "Total:\t%s\n", units.HumanSize(float64(total)))
	_ = tw.Flush()
}

// pruneInfo turns --filter values (key=value) into BuildKit prune filters:
// "until" (or its old name "unused-for") is a duration, "id" a prefix match,
// anything else an exact match.
func pruneInfo(filters []string) (*client.PruneInfo, error) {
	var (
		until time.Duration
		out   []string
		seen  = map[string]bool{}
	)
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		if k == "" {
			return nil, fmt.Errorf("%q: use key=value", f)
		}
		if seen[k] {
			return nil, fmt.Errorf("%q filter expects only one value", k)
		}
		seen[k] = true
		switch k {
		case "until", "unused-for":
			if seen["until"] && seen["unused-for"] {
				return nil, fmt.Errorf(`conflicting filters "until" and "unused-for"`)
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%q filter expects a duration (e.g., '24h'): %q", k, v)
			}
			until = d
		case "id":
			out = append(out, "id~="+v)
		default:
			if strings.HasSuffix(k, "!") || strings.HasSuffix(k, "~") {
				out = append(out, k+"="+v)
			} else {
				out = append(out, k+"=="+v)
			}
		}
	}
	sort.Strings(out)
	return &client.PruneInfo{KeepDuration: until, Filter: []string{strings.Join(out, ",")}}, nil
}

// confirm asks a yes/no question on out and reads the answer from in; no
// answer (no terminal, end of input) is no.
func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	if answer != "y" && answer != "yes" {
		fmt.Fprintln(out)
		return false
	}
	return true
}
