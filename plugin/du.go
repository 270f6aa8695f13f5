package plugin

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
)

type duOptions struct {
	state   stateOptions
	builder string
	verbose bool
	filter  []string
}

func newDiskUsageCommand(dockerCLI command.Cli) *cobra.Command {
	var o duOptions
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Disk usage of the build cache",
		Long: `Disk usage of the build cache, as buildx shows it, and of the images the
embedded builder keeps (docker build2 images). An image keeps its content
blobs on disk; the layers built here are the blobs of cache records too,
which count them in their sizes: the Images line says how much of the
images' content those records count, Total counts it once, and
Reclaimable leaves out what prune --all leaves on disk for the images.`,
		Args: cli.NoArgs,
		RunE: withSignals(func(ctx context.Context, _ []string) error {
			return runDiskUsage(ctx, dockerCLI, o)
		}),
	}
	cmd.Flags().StringArrayVar(&o.filter, "filter", nil, "Provide filter values")
	cmd.Flags().BoolVar(&o.verbose, "verbose", false, "Provide a more verbose output")
	cmd.Flags().StringVar(&o.builder, "builder", defaultBuilder(), "Override the configured builder instance; $BUILDX_BUILDER, else $BUILDKIT_HOST, sets the default")
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runDiskUsage(ctx context.Context, dockerCLI command.Cli, o duOptions) error {
	pi, err := pruneInfo(o.filter)
	if err != nil {
		return usageErrf("--filter: %w", err)
	}
	var (
		du     []*client.UsageInfo
		images []build.Image
	)
	if err := withNamedBuilder(ctx, dockerCLI, o.state, o.builder, func(b build.Builder) error {
		if du, err = b.DiskUsage(ctx, client.WithFilter(pi.Filter)); err != nil || len(o.filter) > 0 || !build.KeepsImages(b) {
			return err
		}
		// Listed after the cache: a record pruned in between is not
		// counted, a layer it counted is counted with the images.
		images, err = b.Images(ctx)
		return err
	}); err != nil {
		return err
	}
	sort.Slice(du, func(i, j int) bool { return du[i].Size > du[j].Size })
	tw := tabwriter.NewWriter(dockerCLI.Out(), 1, 8, 1, '\t', 0)
	if o.verbose {
		for _, u := range du {
			printVerbose(tw, u)
		}
	} else if len(du) > 0 {
		fmt.Fprintln(tw, usageHeader)
		for _, u := range du {
			printUsageRow(tw, u)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(o.filter) == 0 {
		printDiskSummary(dockerCLI.Out(), du, newImageUsage(images))
	}
	return nil
}
