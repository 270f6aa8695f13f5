package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

func newBuilderCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage named builders: remote BuildKit daemons, each serving some platforms",
	}
	cmd.AddCommand(newBuilderCreateCommand(dockerCLI), newBuilderLsCommand(dockerCLI), newBuilderInspectCommand(dockerCLI),
		newBuilderRmCommand(dockerCLI), newBuilderUseCommand(dockerCLI))
	return cmd
}

// nodeList collects --node and the --platform/--tls* flags that follow it,
// in the order given, as "builder create" takes them.
type nodeList struct{ nodes *[]nodes.Node }

type nodeValue struct{ nodeList }

func (v nodeValue) String() string { return "" }
func (v nodeValue) Type() string   { return "name=address" }
func (v nodeValue) Set(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || !nodes.ValidName(name) || addr == "" {
		return fmt.Errorf("%q: use NAME=ADDRESS, e.g. amd=tcp://10.0.0.1:1234", s)
	}
	*v.nodes = append(*v.nodes, nodes.Node{Name: name, Endpoint: addr})
	return nil
}

// nodeAttrValue sets an attribute of the node given last.
type nodeAttrValue struct {
	nodeList
	set func(*nodes.Node, string) error
}

func (v nodeAttrValue) String() string { return "" }
func (v nodeAttrValue) Type() string   { return "string" }
func (v nodeAttrValue) Set(s string) error {
	if len(*v.nodes) == 0 {
		return errors.New("give --node NAME=ADDRESS first; this flag applies to the node before it")
	}
	return v.set(&(*v.nodes)[len(*v.nodes)-1], s)
}

func newBuilderCreateCommand(dockerCLI command.Cli) *cobra.Command {
	var list []nodes.Node
	nl := nodeList{nodes: &list}
	cmd := &cobra.Command{
		Use:   "create NAME --node NAME=ADDRESS [--platform P[,P]] [--node …]",
		Short: "Create a builder from one or more BuildKit daemons",
		Args:  cli.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runBuilderCreate(dockerCLI, &nodes.Builder{Name: args[0], Nodes: list})
		},
	}
	flags := cmd.Flags()
	flags.Var(nodeValue{nl}, "node", "A BuildKit daemon: NAME=ADDRESS (unix://, tcp://, ssh://, docker-container://, kube-pod://); repeatable")
	flags.Var(nodeAttrValue{nl, func(n *nodes.Node, s string) error {
		ps, err := buildflags.Platforms("--platform", []string{s})
		n.Platforms = append(n.Platforms, ps...)
		return err
	}}, "platform", "Platforms the preceding --node serves")
	flags.Var(nodeAttrValue{nl, func(n *nodes.Node, s string) error { n.TLSCACert = s; return nil }}, "tlscacert", "CA certificate of the preceding tcp:// --node")
	flags.Var(nodeAttrValue{nl, func(n *nodes.Node, s string) error { n.TLSCert = s; return nil }}, "tlscert", "Client certificate for the preceding --node")
	flags.Var(nodeAttrValue{nl, func(n *nodes.Node, s string) error { n.TLSKey = s; return nil }}, "tlskey", "Client key for the preceding --node")
	return cmd
}

func runBuilderCreate(dockerCLI command.Cli, b *nodes.Builder) error {
	if len(b.Nodes) == 0 {
		return usageErrf("builder create %s: give at least one --node NAME=ADDRESS", b.Name)
	}
	if err := b.Validate(); err != nil {
		return usageErr(err)
	}
	if err := builderStore(dockerCLI).Create(b); err != nil {
		return err
	}
	fmt.Fprintln(dockerCLI.Out(), b.Name)
	return nil
}

func newBuilderLsCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List builders",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuilderLs(cmd.Context(), dockerCLI)
		},
	}
}

func runBuilderLs(ctx context.Context, dockerCLI command.Cli) error {
	s := builderStore(dockerCLI)
	all, err := s.List()
	if err != nil {
		return err
	}
	cur := s.Current()
	tw := tabwriter.NewWriter(dockerCLI.Out(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tENDPOINT\tSTATUS\tPLATFORMS")
	mark := func(n string) string {
		if n == cur || (cur == "" && n == nodes.Default) {
			return n + " *"
		}
		return n
	}
	fmt.Fprintf(tw, "%s\tembedded\t\t\n", mark(nodes.Default))
	for _, b := range all {
		fmt.Fprintf(tw, "%s\t\t\t\n", mark(b.Name))
		for _, n := range b.Nodes {
			st := nodes.Probe(ctx, n)
			fmt.Fprintf(tw, " \\_ %s\t%s\t%s\t%s\n", n.Name, n.Endpoint, statusText(st), strings.Join(st.Platforms, ", "))
		}
	}
	return tw.Flush()
}

func statusText(st nodes.Status) string {
	if st.Err != nil {
		return "error: " + st.Err.Error()
	}
	return "running"
}

func newBuilderInspectCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [NAME]",
		Short: "Show a builder's nodes: status, BuildKit version, platforms",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := builderStore(dockerCLI)
			name := s.Current()
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" || name == nodes.Default {
				tw := tabwriter.NewWriter(dockerCLI.Out(), 0, 4, 1, ' ', 0)
				fmt.Fprintf(tw, "Name:\tdefault\nDriver:\tembedded (BuildKit %s)\n", build.BuildKitVersion())
				return tw.Flush()
			}
			b, err := s.Get(name)
			if err != nil {
				return err
			}
			return printInspect(cmd.Context(), dockerCLI.Out(), b)
		},
	}
}

func printInspect(ctx context.Context, w io.Writer, b *nodes.Builder) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nDriver:\tremote\n", b.Name)
	for _, n := range b.Nodes {
		st := nodes.Probe(ctx, n)
		fmt.Fprintf(tw, "\nNode:\t%s\nEndpoint:\t%s\nStatus:\t%s\n", n.Name, n.Endpoint, statusText(st))
		if st.Version != "" {
			fmt.Fprintf(tw, "BuildKit version:\t%s\n", st.Version)
		}
		fmt.Fprintf(tw, "Platforms:\t%s\n", strings.Join(st.Platforms, ", "))
	}
	return tw.Flush()
}

func newBuilderRmCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a builder",
		Args:  cli.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := builderStore(dockerCLI).Remove(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(dockerCLI.Out(), args[0])
			return nil
		},
	}
}

func newBuilderUseCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "use NAME",
		Short: `Build on this builder by default ("default" is the embedded one)`,
		Args:  cli.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return builderStore(dockerCLI).Use(args[0])
		},
	}
}
