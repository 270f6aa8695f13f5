package plugin

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/opts"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

type pruneOptions struct {
	state         stateOptions
	builder       string
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
		Long: `Remove build cache, as buildx does. The images the embedded builder keeps
(docker build2 images) are never removed, with --all neither: their
content stays on disk, also the layers of the cache records prune
removes, and later builds still start FROM them. docker build2 rmi
removes images.

Build records (docker build2 history) older than --filter until= are
removed too, all of them with --all (but those of builds still running).`,
		Args: cli.NoArgs,
		RunE: withSignals(func(ctx context.Context, _ []string) error {
			return runPrune(ctx, dockerCLI, o)
		}),
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
	flags.StringVar(&o.builder, "builder", defaultBuilder(), "Override the configured builder instance; $BUILDX_BUILDER, else $BUILDKIT_HOST, sets the default")
	addStateFlags(flags, &o.state)
	return cmd
}

func runPrune(ctx context.Context, dockerCLI command.Cli, o pruneOptions) error {
	pi, err := pruneInfo(o.filter)
	if err != nil {
		return usageErrf("--filter: %w", err)
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
	return withNamedBuilder(ctx, dockerCLI, o.state, o.builder, func(b build.Builder) error { return prune(ctx, dockerCLI, b, pi, o) })
}

func prune(ctx context.Context, dockerCLI command.Cli, b build.Builder, pi *client.PruneInfo, o pruneOptions) error {
	popts := []client.PruneOption{
		client.WithKeepOpt(pi.KeepDuration, o.reservedSpace.Value(), o.maxUsedSpace.Value(), o.minFreeSpace.Value()),
		client.WithFilter(pi.Filter),
	}
	if o.all {
		popts = append(popts, client.PruneAll)
	}
	// Listed first: what the records prune removes count of the images'
	// layers stays on disk.
	var images []build.Image
	var err error
	if build.KeepsImages(b) {
		if images, err = b.Images(ctx); err != nil {
			return err
		}
	}
	ch := make(chan client.UsageInfo)
	var total int64
	removed := map[string]bool{}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		tw := tabwriter.NewWriter(dockerCLI.Out(), 1, 8, 1, '\t', 0)
		first := true
		for du := range ch {
			total += du.Size
			removed[du.ID] = true
			if o.verbose {
				printVerbose(tw, &du)
				continue
			}
			if first {
				fmt.Fprintln(tw, usageHeader)
				first = false
			}
			printUsageRow(tw, &du)
			_ = tw.Flush()
		}
		return tw.Flush()
	})
	err = b.Prune(ctx, ch, popts...)
	close(ch)
	if err2 := eg.Wait(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	printPruneSummary(dockerCLI.Out(), total, removed, newImageUsage(images))
	return pruneRecords(dockerCLI, o, pi.KeepDuration)
}

// pruneRecords removes the build records older than --filter until=, or
// all of them with --all (but those of builds still running), and says
// how many when there were some.
func pruneRecords(dockerCLI command.Cli, o pruneOptions, until time.Duration) error {
	if !o.all && until <= 0 {
		return nil
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	var n int
	if o.all {
		n, err = st.RemoveAll()
	} else {
		n, err = st.RemoveBefore(time.Now().Add(-until))
	}
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(dockerCLI.Out(), "Build records removed: %d\n", n)
	}
	return nil
}
