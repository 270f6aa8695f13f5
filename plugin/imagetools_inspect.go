package plugin

import (
	"context"
	"text/template"

	"github.com/docker-build2/docker-build2/build/imagetools"

	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type imagetoolsInspectOptions struct {
	registry registryOptions
	format   string
	raw      bool
}

func newImagetoolsInspectCommand(dockerCLI command.Cli) *cobra.Command {
	var o imagetoolsInspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME",
		Short: "Show details of an image in the registry",
		Args:  cli.ExactArgs(1),
		RunE: withSignals(func(ctx context.Context, args []string) error {
			return runImagetoolsInspect(ctx, dockerCLI, o, args[0])
		}),
		DisableFlagsInUseLine: true,
	}
	flags := cmd.Flags()
	flags.StringVar(&o.format, "format", "", `Format the output using the given Go template (default "{{.Manifest}}"): .Name, .Manifest, .Image, .SBOM, .Provenance, and the json function`)
	flags.BoolVar(&o.raw, "raw", false, "Show original, unformatted JSON manifest")
	addRegistryFlags(flags, &o.registry)
	return cmd
}

func runImagetoolsInspect(ctx context.Context, dockerCLI command.Cli, o imagetoolsInspectOptions, name string) error {
	if o.format != "" && o.raw {
		return usageErrf("--format and --raw cannot be used together: --raw prints the manifest as stored")
	}
	tpl, err := imagetoolsParseFormat(o.format)
	if err != nil {
		return err
	}
	r, err := o.registry.resolver(dockerCLI)
	if err != nil {
		return err
	}
	in, err := r.Inspect(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case o.raw:
		return in.PrintRaw(dockerCLI.Out())
	case tpl != nil:
		return in.PrintFormat(ctx, dockerCLI.Out(), tpl)
	}
	return in.Print(dockerCLI.Out())
}

// imagetoolsParseFormat parses --format; nil when it is not set.
func imagetoolsParseFormat(format string) (*template.Template, error) {
	if format == "" {
		return nil, nil
	}
	tpl, err := imagetools.ParseFormat(format)
	if err != nil {
		return nil, usageErrf("--format: %w", err)
	}
	return tpl, nil
}
