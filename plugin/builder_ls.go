package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// nodeStatus is what ls and inspect show of a node: buildx's status words
// ("running", "stopped", "inactive", "error").
type nodeStatus struct {
	Status    string
	Version   string
	Platforms []string
	Err       error
}

type statusFunc func(nodes.Node) nodeStatus

// liveStatus asks a node, and for a docker-container node that does not
// answer, the engine whether its container is there and runs.
func liveStatus(ctx context.Context, dockerCLI command.Cli) statusFunc {
	return func(n nodes.Node) nodeStatus {
		st := nodes.Probe(ctx, n)
		out := nodeStatus{Status: "running", Version: st.Version, Platforms: st.Platforms, Err: st.Err}
		if st.Err == nil {
			return out
		}
		out.Status = "error"
		if n.Driver != nodes.DriverDockerContainer {
			return out
		}
		e, err := engine(dockerCLI, n)
		if err != nil {
			out.Err = err
			return out
		}
		state, err := nodes.ContainerState(ctx, e, n)
		if err != nil {
			out.Err = err
			return out
		}
		if state != "running" {
			out.Status, out.Err = state, nil
		}
		return out
	}
}

func newBuilderLsCommand(dockerCLI command.Cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List builders (docker-build2's and, read-only, buildx's)",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageErrf("--format %q: use table or json", format)
			}
			s := builderStore(dockerCLI)
			all, err := s.ListAll()
			if err != nil {
				return err
			}
			cur := pickBuilder(s, nil)
			if cur == "" {
				cur = nodes.Default
			}
			if format == "json" {
				return printLsJSON(dockerCLI.Out(), all, cur, liveStatus(cmd.Context(), dockerCLI))
			}
			return printLs(dockerCLI.Out(), all, cur, liveStatus(cmd.Context(), dockerCLI))
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", `Format the output: "table" or "json" (one builder a line, as buildx)`)
	return cmd
}

func driverOf(b *nodes.Builder) string {
	if b.Buildx {
		return b.Driver + " (buildx)"
	}
	return b.DriverName()
}

func printLs(w io.Writer, all []*nodes.Builder, cur string, status statusFunc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tDRIVER/ENDPOINT\tSTATUS\tPLATFORMS")
	mark := func(n string) string {
		if n == cur {
			return n + " *"
		}
		return n
	}
	fmt.Fprintf(tw, "%s\tembedded\t\t\n", mark(nodes.Default))
	for _, b := range all {
		if b.Unusable != "" {
			fmt.Fprintf(tw, "%s\t%s\terror: driver not supported\t\n", mark(b.Name), driverOf(b))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t\t\n", mark(b.Name), driverOf(b))
		for _, n := range b.Nodes {
			st := status(n)
			fmt.Fprintf(tw, " \\_ %s\t%s\t%s\t%s\n", n.Name, endpointText(n), statusText(st), strings.Join(st.Platforms, ", "))
		}
	}
	return tw.Flush()
}

// endpointText is a node's endpoint; a docker-container node's says which
// engine runs it.
func endpointText(n nodes.Node) string {
	if n.Driver == nodes.DriverDockerContainer && n.Endpoint == "" {
		return "docker (current engine)"
	}
	return n.Endpoint
}

func statusText(st nodeStatus) string {
	if st.Err != nil {
		return "error: " + st.Err.Error()
	}
	return st.Status
}

// printLsJSON prints a builder a line, with the keys buildx's ls --format
// json prints.
func printLsJSON(w io.Writer, all []*nodes.Builder, cur string, status statusFunc) error {
	enc := json.NewEncoder(w)
	line := func(m map[string]any) error { return enc.Encode(m) }
	for _, b := range all {
		m := map[string]any{
			"Name": b.Name, "Driver": b.Driver, "Current": b.Name == cur, "Dynamic": false,
			"LastActivity": time.Time{}.Format(time.RFC3339),
		}
		if b.Driver == "" {
			m["Driver"] = nodes.DriverRemote
		}
		if b.Unusable != "" {
			m["Err"] = b.Unusable
		}
		var ns []map[string]any
		for _, n := range b.Nodes {
			nm := map[string]any{"Name": n.Name, "Endpoint": n.Endpoint}
			if len(n.DriverOpts) > 0 {
				nm["DriverOpts"] = n.DriverOpts
			}
			if len(n.BuildkitdFlags) > 0 {
				nm["Flags"] = n.BuildkitdFlags
			}
			if b.Unusable == "" {
				st := status(n)
				nm["Status"] = st.Status
				if st.Version != "" {
					nm["Version"] = st.Version
				}
				if st.Err != nil {
					nm["Err"] = st.Err.Error()
				}
				if len(st.Platforms) > 0 {
					nm["Platforms"] = st.Platforms
				}
			}
			ns = append(ns, nm)
		}
		m["Nodes"] = ns
		if err := line(m); err != nil {
			return err
		}
	}
	// The embedded builder comes last, as buildx lists the default one
	// after the named ones.
	return line(map[string]any{
		"Name": nodes.Default, "Driver": "embedded", "Current": cur == nodes.Default, "Dynamic": false,
		"LastActivity": time.Time{}.Format(time.RFC3339),
		"Nodes":        []map[string]any{{"Name": nodes.Default, "Endpoint": "embedded", "Status": "running", "Version": build.BuildKitVersion()}},
	})
}

func newBuilderInspectCommand(dockerCLI command.Cli) *cobra.Command {
	var boot bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] [NAME]",
		Short: "Show a builder's nodes: status, BuildKit version, platforms",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := builderStore(dockerCLI)
			name := pickBuilder(s, args)
			if name == "" || name == nodes.Default {
				tw := tabwriter.NewWriter(dockerCLI.Out(), 0, 4, 1, ' ', 0)
				fmt.Fprintf(tw, "Name:\tdefault\nDriver:\tembedded (BuildKit %s)\n", build.BuildKitVersion())
				return tw.Flush()
			}
			b, err := s.Get(name)
			if err != nil {
				return err
			}
			if boot {
				if err := bootstrap(cmd.Context(), dockerCLI, b); err != nil {
					return err
				}
			}
			return printInspect(dockerCLI.Out(), b, liveStatus(cmd.Context(), dockerCLI))
		},
	}
	cmd.Flags().BoolVar(&boot, "bootstrap", false, "Start the builder's nodes first and wait until they answer")
	return cmd
}

func printInspect(w io.Writer, b *nodes.Builder, status statusFunc) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nDriver:\t%s\n", b.Name, driverOf(b))
	for _, n := range b.Nodes {
		st := status(n)
		fmt.Fprintf(tw, "\nNode:\t%s\nEndpoint:\t%s\n", n.Name, endpointText(n))
		if len(n.DriverOpts) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(n.DriverOpts)) {
				kv = append(kv, fmt.Sprintf("%s=%q", k, n.DriverOpts[k]))
			}
			fmt.Fprintf(tw, "Driver Options:\t%s\n", strings.Join(kv, " "))
		}
		fmt.Fprintf(tw, "Status:\t%s\n", statusText(st))
		if len(n.BuildkitdFlags) > 0 {
			fmt.Fprintf(tw, "BuildKit daemon flags:\t%s\n", strings.Join(n.BuildkitdFlags, " "))
		}
		if st.Version != "" {
			fmt.Fprintf(tw, "BuildKit version:\t%s\n", st.Version)
		}
		fmt.Fprintf(tw, "Platforms:\t%s\n", strings.Join(st.Platforms, ", "))
	}
	return tw.Flush()
}
