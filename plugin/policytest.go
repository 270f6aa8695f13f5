package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type policyTestOptions struct {
	run      string
	filename string
	builder  policyBuilderOptions
}

func newPolicyTestCommand(dockerCLI command.Cli) *cobra.Command {
	var o policyTestOptions
	cmd := &cobra.Command{
		Use:   "test <path>",
		Short: "Run policy tests",
		Long: `Run the tests (test_* rules of *_test.rego files) under a path against the
policy of the Dockerfile named --filename, as buildx does: one line per
test, PASS or FAIL with the decision, and for a failed test its input and
decision. A test whose input needs source metadata (an image's config, a
Git ref) resolves it on the builder. It exits 1 when a test fails.`,
		Args: cli.ExactArgs(1),
		RunE: withSignals(func(ctx context.Context, args []string) error {
			return runPolicyTest(ctx, dockerCLI, args[0], o)
		}),
	}
	cmd.Flags().StringVar(&o.run, "run", "", "Run only tests with name containing this substring")
	cmd.Flags().StringVar(&o.filename, "filename", "Dockerfile", "Name of the Dockerfile to validate")
	addPolicyBuilderFlags(cmd.Flags(), &o.builder)
	return cmd
}

func runPolicyTest(ctx context.Context, dockerCLI command.Cli, path string, o policyTestOptions) error {
	summary, err := policy.RunTests(ctx, policy.TestOptions{
		Path:     path,
		Run:      o.run,
		Filename: o.filename,
		Verifier: policyVerifier(dockerCLI),
		Open: func(ctx context.Context) (*policy.Resolver, error) {
			return o.builder.open(ctx, dockerCLI)
		},
	})
	if err != nil {
		return err
	}
	out := dockerCLI.Out()
	for _, r := range summary.Results {
		status := "PASS"
		if !r.Passed {
			status = "FAIL"
		}
		allow := "n/a"
		if r.Allow != nil {
			allow = fmt.Sprint(*r.Allow)
		}
		if len(r.DenyMessages) > 0 {
			fmt.Fprintf(out, "%s: %s (allow=%s, deny_msg=%s)\n", r.Name, status, allow, strings.Join(r.DenyMessages, "; "))
		} else {
			fmt.Fprintf(out, "%s: %s (allow=%s)\n", r.Name, status, allow)
		}
		if r.Passed {
			continue
		}
		writeLabeledJSON(out, "input", r.Input, r.Input == nil)
		writeLabeledJSON(out, "decision", r.Decision, r.Decision == nil)
		if len(r.MissingInput) > 0 {
			missing := make([]string, len(r.MissingInput))
			for i, k := range r.MissingInput {
				missing[i] = "input." + k
			}
			fmt.Fprintf(out, "missing_input: %s\n", strings.Join(missing, ", "))
		}
		if len(r.MetadataNeeded) > 0 {
			fmt.Fprintf(out, "metadata_resolve: %s\n", strings.Join(r.MetadataNeeded, ", "))
		}
	}
	if summary.Failed > 0 {
		// The failures are printed: only the exit code is left to give.
		return cli.StatusError{StatusCode: 1}
	}
	return nil
}

// writeLabeledJSON writes "label:" and v as indented JSON, or
// "label: <nil>".
func writeLabeledJSON(out io.Writer, label string, v any, isNil bool) {
	if isNil {
		fmt.Fprintf(out, "%s: <nil>\n", label)
		return
	}
	dt, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(out, "%s: <error encoding>\n", label)
		return
	}
	fmt.Fprintf(out, "%s:\n%s\n", label, dt)
}
