package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/imagetools"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli/command"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type imagetoolsCreateOptions struct {
	registry     registryOptions
	files        []string
	tags         []string
	annotations  []string
	dryRun       bool
	appendTo     bool
	progress     string
	preferIndex  bool
	platforms    []string
	metadataFile string
}

func newImagetoolsCreateCommand(dockerCLI command.Cli) *cobra.Command {
	var o imagetoolsCreateOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SOURCE...]",
		Short: "Create a new image based on source images",
		Long: `Create an image index from source images: single-platform images and
indexes, by reference, by digest (in the repository of the other
references) or as descriptors (-f), merged and pushed to every --tag.
Blobs are mounted from the source repository on the same registry, and
copied from another registry.`,
		RunE: withSignals(func(ctx context.Context, args []string) error {
			return runImagetoolsCreate(ctx, dockerCLI, o, args)
		}),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&o.files, "file", "f", nil, "Read source descriptor from file")
	flags.StringArrayVarP(&o.tags, "tag", "t", nil, "Set reference for new image")
	flags.BoolVar(&o.dryRun, "dry-run", false, "Show final image instead of pushing")
	flags.BoolVar(&o.appendTo, "append", false, "Append to existing manifest")
	flags.StringVar(&o.progress, "progress", defaultProgress(), `Set type of progress output ("auto", "plain", "tty", "rawjson", "quiet"); $BUILDKIT_PROGRESS sets the default`)
	flags.StringArrayVar(&o.annotations, "annotation", nil, `Add annotation to the image ("index:KEY=VALUE", "manifest-descriptor[PLATFORM]:KEY=VALUE")`)
	flags.BoolVar(&o.preferIndex, "prefer-index", true, "When only a single source is specified, prefer outputting an image index or manifest list instead of performing a carbon copy")
	flags.StringArrayVarP(&o.platforms, "platform", "p", nil, "Filter specified platforms of target image")
	flags.StringVar(&o.metadataFile, "metadata-file", "", "Write create result metadata to a file")
	addRegistryFlags(flags, &o.registry)
	return cmd
}

// imagetoolsCreateRequest is create's flags, checked.
type imagetoolsCreateRequest struct {
	plan     imagetools.Plan
	opts     imagetools.CreateOptions
	progress progress.Mode
}

// parse checks the flags and sources before any I/O; errors are usage
// errors naming the flag or source at fault.
func (o imagetoolsCreateOptions) parse(args []string) (imagetoolsCreateRequest, error) {
	var req imagetoolsCreateRequest
	if len(args) == 0 && len(o.files) == 0 {
		return req, usageErrf("no sources: give source images as arguments or descriptor files with -f")
	}
	if !o.dryRun && len(o.tags) == 0 {
		return req, usageErrf("no --tag: set --tag to push the image, or --dry-run to print it")
	}
	mode, err := progress.ParseMode(o.progress)
	if err != nil {
		return req, usageErrf("--progress: %w", err)
	}
	req.progress = mode
	sources := make([]string, 0, len(o.files)+len(args))
	for _, f := range o.files {
		dt, err := os.ReadFile(f)
		if err != nil {
			return req, usageErrf("--file: %w", err)
		}
		sources = append(sources, string(dt))
	}
	sources = append(sources, args...)
	if req.plan, err = imagetools.NewPlan(sources, o.tags, o.appendTo); err != nil {
		return req, usageErr(err)
	}
	if req.opts.Platforms, err = parseImagetoolsPlatforms(o.platforms); err != nil {
		return req, usageErr(err)
	}
	if req.opts.Annotations, err = imagetoolsAnnotations(o.annotations); err != nil {
		return req, usageErr(err)
	}
	req.opts.PreferIndex = o.preferIndex
	return req, nil
}

// parseImagetoolsPlatforms reads --platform values, each one or a comma
// separated list.
func parseImagetoolsPlatforms(in []string) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	for _, v := range in {
		for _, s := range strings.Split(v, ",") {
			p, err := platforms.Parse(s)
			if err != nil {
				return nil, fmt.Errorf("--platform %q: %w", s, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// imagetoolsAnnotations reads --annotation as buildx does for create: the
// index, or the manifest descriptors it lists.
func imagetoolsAnnotations(specs []string) ([]imagetools.Annotation, error) {
	as, err := buildflags.Annotations(specs)
	if err != nil {
		return nil, err
	}
	out := make([]imagetools.Annotation, 0, len(as))
	for _, a := range as {
		switch a.Type {
		case build.AnnotationIndex:
			out = append(out, imagetools.Annotation{Index: true, Key: a.Key, Value: a.Value})
		case build.AnnotationManifestDescriptor:
			out = append(out, imagetools.Annotation{Platform: a.Platform, Key: a.Key, Value: a.Value})
		default:
			t := a.Type
			if t == "" {
				t = "manifest (the default type)"
			}
			return nil, fmt.Errorf("--annotation %q: create cannot annotate a %s: use index:KEY=VALUE or manifest-descriptor:KEY=VALUE", buildflags.FormatAnnotation(a), t)
		}
	}
	return out, nil
}

func runImagetoolsCreate(ctx context.Context, dockerCLI command.Cli, o imagetoolsCreateOptions, args []string) error {
	req, err := o.parse(args)
	if err != nil {
		return err
	}
	r, err := o.registry.resolver(dockerCLI)
	if err != nil {
		return err
	}
	img, err := r.Create(ctx, req.plan, req.opts)
	if err != nil {
		return err
	}
	if o.dryRun {
		_, err := fmt.Fprintf(dockerCLI.Out(), "%s\n", img.Data)
		return err
	}
	printer, err := progress.NewPrinter(context.WithoutCancel(ctx), dockerCLI.Err(), terminal(dockerCLI), req.progress)
	if err != nil {
		return err
	}
	err = r.Push(ctx, img, req.plan.Tags, printer.Status())
	if _, perr := printer.Wait(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if o.metadataFile != "" {
		return writeCreateMetadata(o.metadataFile, img.Desc, req.plan)
	}
	return nil
}

// writeCreateMetadata writes buildx's --metadata-file of create: the
// image's descriptor and its repositories.
func writeCreateMetadata(file string, desc ocispecs.Descriptor, plan imagetools.Plan) error {
	seen := map[string]bool{}
	var names []string
	for _, t := range plan.Tags {
		if !seen[t.Name()] {
			seen[t.Name()] = true
			names = append(names, t.Name())
		}
	}
	dt, err := json.MarshalIndent(map[string]any{
		"containerimage.descriptor": desc,
		"image.name":                strings.Join(names, ","),
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, dt, 0o644); err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	return nil
}
