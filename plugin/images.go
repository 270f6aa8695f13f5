package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

type imagesOptions struct {
	state stateOptions
	quiet bool
}

func newImagesCommand(dockerCLI command.Cli) *cobra.Command {
	var o imagesOptions
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images the embedded builder keeps (built with -t or -o type=image)",
		Args:  cli.NoArgs,
		RunE: withSignals(func(ctx context.Context, _ []string) error {
			return runImages(ctx, dockerCLI, o)
		}),
	}
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "Only show image names")
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runImages(ctx context.Context, dockerCLI command.Cli, o imagesOptions) error {
	var list []build.Image
	if err := withBuilder(ctx, dockerCLI, o.state, func(b build.Builder) (err error) {
		list, err = b.Images(ctx)
		return err
	}); err != nil {
		return err
	}
	rows := imageRows(list)
	if o.quiet {
		for _, r := range rows {
			fmt.Fprintln(dockerCLI.Out(), r.repo+":"+r.tag)
		}
		return nil
	}
	tw := tabwriter.NewWriter(dockerCLI.Out(), 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tCREATED\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, shortDigest(r.digest), units.HumanDuration(time.Since(r.created))+" ago", units.HumanSize(float64(r.size)))
	}
	return tw.Flush()
}

type imageRow struct {
	repo, tag, digest string
	created           time.Time
	// size is the bytes of the content the image keeps (images sharing
	// layers count each its own).
	size int64
}

// imageRows are the tagged images, by name as docker shows them (base, not
// docker.io/library/base); the records of a name and digest are not shown.
func imageRows(list []build.Image) []imageRow {
	var rows []imageRow
	for _, img := range list {
		named, err := reference.ParseNormalizedNamed(img.Name)
		if err != nil {
			continue
		}
		tagged, ok := named.(reference.Tagged)
		if !ok {
			continue
		}
		rows = append(rows, imageRow{repo: reference.FamiliarName(named), tag: tagged.Tag(), digest: img.Digest, created: img.Created, size: img.Size})
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].created.Equal(rows[j].created) {
			return rows[i].created.After(rows[j].created)
		}
		return rows[i].repo+":"+rows[i].tag < rows[j].repo+":"+rows[j].tag
	})
	return rows
}

func shortDigest(d string) string {
	if hex, ok := strings.CutPrefix(d, "sha256:"); ok && len(hex) > 12 {
		return "sha256:" + hex[:12]
	}
	return d
}

func newRmiCommand(dockerCLI command.Cli) *cobra.Command {
	var state stateOptions
	cmd := &cobra.Command{
		Use:   "rmi IMAGE [IMAGE...]",
		Short: "Remove images the embedded builder keeps",
		Args:  cli.RequiresMinArgs(1),
		RunE: withSignals(func(ctx context.Context, args []string) error {
			return runRmi(ctx, dockerCLI, state, args)
		}),
	}
	addStateFlags(cmd.Flags(), &state)
	return cmd
}

func runRmi(ctx context.Context, dockerCLI command.Cli, state stateOptions, names []string) error {
	full := make([]string, len(names))
	for i, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return usageErrf("image name %q: %w", n, err)
		}
		full[i] = reference.TagNameOnly(named).String()
	}
	return withBuilder(ctx, dockerCLI, state, func(b build.Builder) error {
		var errs []error
		for i, name := range full {
			if err := b.RemoveImage(ctx, name); err != nil {
				if errors.Is(err, build.ErrImageNotFound) {
					err = fmt.Errorf("no such image: %s (see docker build2 images)", names[i])
				}
				errs = append(errs, err)
				continue
			}
			fmt.Fprintln(dockerCLI.Out(), "Untagged: "+names[i])
		}
		return errors.Join(errs...)
	})
}
