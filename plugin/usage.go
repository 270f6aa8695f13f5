package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli/command"
	"github.com/docker/go-units"
	"github.com/moby/buildkit/client"
)

// usageHeader is the header of prune's and du's tables.
const usageHeader = "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED"

// withBuilder opens the embedded builder on the state dir of o for fn,
// showing its notices (waiting for or sharing another process's solver)
// on stderr.
func withBuilder(ctx context.Context, dockerCLI command.Cli, o stateOptions, fn func(build.Builder) error) error {
	return withNamedBuilder(ctx, dockerCLI, o, "default", fn)
}

// withNamedBuilder is withBuilder on the builder name ("" for the current
// one), as --builder names it.
func withNamedBuilder(ctx context.Context, dockerCLI command.Cli, o stateOptions, name string, fn func(build.Builder) error) error {
	daemonCfg, err := o.loadDaemon()
	if err != nil {
		return err
	}
	printer, err := progress.NewPrinter(context.WithoutCancel(ctx), dockerCLI.Err(), nil, progress.Plain)
	if err != nil {
		return err
	}
	t := o.target(dockerCLI, daemonCfg, printer.Status())
	t.Builder = name
	b, err := build.Open(ctx, t)
	if err == nil {
		err = fn(b)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
	}
	if _, derr := printer.Wait(); err == nil {
		err = derr
	}
	return err
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
