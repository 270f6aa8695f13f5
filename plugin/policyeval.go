package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	"github.com/spf13/cobra"
)

type policyEvalOptions struct {
	file     string
	print    bool
	fields   []string
	platform string
	builder  policyBuilderOptions
}

func newPolicyEvalCommand(dockerCLI command.Cli) *cobra.Command {
	var o policyEvalOptions
	cmd := &cobra.Command{
		Use:   "eval [OPTIONS] source",
		Short: "Evaluate policy for a source",
		Long: `Evaluate the policy of a Dockerfile (-f NAME reads NAME.rego, "-" stdin) for
one source, as a build would: docker-image://REF, a Git or HTTP(S) URL, or
a local path (the local context). It fails with the policy's messages when
the policy denies the source. With --print, it prints the input a policy
gets for the source instead, resolving the --fields asked for.`,
		Args: cli.ExactArgs(1),
		RunE: withSignals(func(ctx context.Context, args []string) error {
			return runPolicyEval(ctx, dockerCLI, args[0], o)
		}),
	}
	flags := cmd.Flags()
	flags.StringVarP(&o.file, "file", "f", "Dockerfile", "Policy filename to evaluate")
	flags.BoolVar(&o.print, "print", false, "Print policy output")
	flags.StringSliceVar(&o.fields, "fields", nil, "Fields to evaluate")
	flags.StringVar(&o.platform, "platform", "", "Target platform for policy evaluation")
	// buildx's older name of --file.
	flags.StringVar(&o.file, "filename", "Dockerfile", "Policy filename to evaluate")
	_ = flags.MarkHidden("filename")
	addPolicyBuilderFlags(flags, &o.builder)
	return cmd
}

func runPolicyEval(ctx context.Context, dockerCLI command.Cli, source string, o policyEvalOptions) error {
	if _, err := policy.ParseSource(source); err != nil {
		return err
	}
	eo := policy.EvalOptions{Source: source, Print: o.print, Fields: o.fields, Verifier: policyVerifier(dockerCLI)}
	if !o.print {
		if o.file == "" {
			return usageErrf("-f/--file is empty: name the Dockerfile whose .rego policy to evaluate")
		}
		eo.PolicyName, eo.PolicyFile = o.file, o.file+".rego"
		var (
			dt  []byte
			err error
		)
		if o.file == "-" {
			eo.PolicyName, eo.PolicyFile = "stdin", "-"
			dt, err = io.ReadAll(dockerCLI.In())
		} else {
			dt, err = os.ReadFile(eo.PolicyFile)
		}
		if err != nil {
			return fmt.Errorf("failed to read policy file %s: %w", eo.PolicyFile, err)
		}
		eo.Policy = dt
		if debug.IsEnabled() {
			eo.Log = func(msg string) { fmt.Fprintf(dockerCLI.Err(), "DEBUG: %s\n", msg) }
		}
	}
	var platform *platforms.Platform
	if o.platform != "" {
		p, err := platforms.Parse(o.platform)
		if err != nil {
			return usageErrf("--platform %q: %w", o.platform, err)
		}
		p = platforms.Normalize(p)
		platform = &p
	}
	r, err := o.builder.open(ctx, dockerCLI)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	if platform != nil {
		r.Platform = *platform
	}
	res, err := policy.Eval(ctx, r, eo)
	if err != nil {
		return err
	}
	if !o.print {
		return nil
	}
	if len(res.Invalid) > 0 {
		fmt.Fprintf(dockerCLI.Err(), "WARNING: invalid fields: %s\n", strings.Join(res.Invalid, ", "))
	}
	if len(res.Unresolved) > 0 {
		fmt.Fprintf(dockerCLI.Err(), "INFO: unresolved fields: %s\n", strings.Join(res.Unresolved, ", "))
	}
	fmt.Fprintln(dockerCLI.Out(), string(res.Input))
	return nil
}
