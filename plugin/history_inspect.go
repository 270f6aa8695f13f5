package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker-build2/docker-build2/build/records"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

type historyInspectOptions struct {
	state  stateOptions
	ref    string
	given  bool
	format string
	now    time.Time
}

func newHistoryInspectCommand(dockerCLI command.Cli) *cobra.Command {
	var o historyInspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [REF]",
		Short: "Inspect a build record",
		Long: `Inspect a build record, the last build's without REF. --format json
prints the record as stored; another --format is a Go template over it.`,
		Args: cli.RequiresMaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.ref, o.given = refArg(args), len(args) > 0
			o.now = time.Now()
			return runHistoryInspect(dockerCLI, o)
		},
		DisableFlagsInUseLine: true,
	}
	cmd.Flags().StringVar(&o.format, "format", "pretty", `Format the output ("pretty", "json", or a Go template)`)
	addStateFlags(cmd.Flags(), &o.state)
	return cmd
}

func runHistoryInspect(dockerCLI command.Cli, o historyInspectOptions) error {
	var tmpl *template.Template
	if o.format != "pretty" && o.format != "json" {
		var err error
		if tmpl, err = template.New("inspect").Parse(o.format); err != nil {
			return usageErrf("--format: %w", err)
		}
	}
	st, err := openRecords(dockerCLI, o.state)
	if err != nil {
		return err
	}
	rec, err := st.Get(o.ref)
	if err != nil {
		return recordError(err)
	}
	switch {
	case o.format == "json":
		enc := json.NewEncoder(dockerCLI.Out())
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	case tmpl != nil:
		if err := tmpl.Execute(dockerCLI.Out(), rec); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(dockerCLI.Out())
		return nil
	}
	printRecord(dockerCLI.Out(), &rec, !o.given, o.now)
	return nil
}

// printRecord is the pretty output of inspect, after buildx's.
func printRecord(w io.Writer, rec *records.Record, showRef bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	attrs := rec.FrontendAttrs
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, v)
		}
	}
	field("Name", rec.Name)
	if showRef {
		field("Ref", rec.Ref)
	}
	field("Context", rec.Context)
	field("Dockerfile", rec.Dockerfile)
	field("Target", attrs["target"])
	field("Platforms", strings.ReplaceAll(attrs["platform"], ",", ", "))
	field("Secrets", strings.Join(rec.SecretIDs, ", "))
	field("SSH", strings.Join(rec.SSHIDs, ", "))
	_ = tw.Flush()
	fmt.Fprintln(w)

	printKeyValues(w, "Build Arg", attrs, "build-arg:")
	printKeyValues(w, "Label", attrs, "label:")
	printKeyValues(w, "Named Context", attrs, "context:")

	tw = tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintf(tw, "Started:\t%s\n", rec.Started.Local().Format("2006-01-02 15:04:05"))
	running := ""
	if rec.Status == records.Running {
		running = " (running)"
	}
	fmt.Fprintf(tw, "Duration:\t%s%s\n", formatRecordDuration(rec.Duration(now)), running)
	switch rec.Status {
	case records.Failed:
		fmt.Fprintf(tw, "Error:\t%s\n", rec.Error)
	case records.Canceled:
		fmt.Fprintf(tw, "Status:\tCanceled\n")
	case records.Crashed:
		fmt.Fprintf(tw, "Status:\tCrashed (the build's process ended without finishing the record)\n")
	}
	if rec.TotalSteps > 0 {
		fmt.Fprintf(tw, "Build Steps:\t%d/%d (%.0f%% cached)\n", completedSteps(rec), rec.TotalSteps, float64(rec.CachedSteps)/float64(rec.TotalSteps)*100)
	}
	if rec.ContextBytes > 0 {
		fmt.Fprintf(tw, "Context Size:\t%s\n", formatBytes(rec.ContextBytes))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)

	printOutputs(w, rec.Outputs)
	printSteps(w, rec.Steps)
	printRecordWarnings(w, rec.Warnings)
	if len(rec.ErrorSource) > 0 {
		for _, l := range rec.ErrorSource {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Print build logs: docker build2 history logs %s\n", rec.Ref)
}

func completedSteps(rec *records.Record) int {
	n := 0
	for _, s := range rec.Steps {
		if s.Completed != nil {
			n++
		}
	}
	return n
}

// printKeyValues prints the attributes under prefix as a table, sorted.
func printKeyValues(w io.Writer, title string, attrs map[string]string, prefix string) {
	var keys []string
	for k := range attrs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintf(tw, "%s\tVALUE\n", strings.ToUpper(title))
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", strings.TrimPrefix(k, prefix), attrs[k])
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func printOutputs(w io.Writer, outs []records.Output) {
	if len(outs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "OUTPUT\tNAME\tDIGEST")
	for _, o := range outs {
		name := o.Name
		if name == "" {
			name = o.Dest
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Type, name, o.Digest)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func printSteps(w io.Writer, steps []records.Step) {
	if len(steps) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "STEP\tDURATION\tCACHED")
	for _, s := range steps {
		d := ""
		if s.Started != nil && s.Completed != nil {
			d = formatRecordDuration(s.Completed.Sub(*s.Started))
		}
		cached := ""
		if s.Cached {
			cached = "yes"
		}
		name := s.Name
		if s.Error != "" {
			name += " (ERROR: " + s.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, d, cached)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func printRecordWarnings(w io.Writer, warnings []records.Warning) {
	if len(warnings) == 0 {
		return
	}
	fmt.Fprintf(w, "Warnings:\n")
	for _, wn := range warnings {
		loc := ""
		if wn.Location != "" {
			loc = " (" + wn.Location + ")"
		}
		fmt.Fprintf(w, " - %s%s\n", wn.Short, loc)
	}
	fmt.Fprintln(w)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
