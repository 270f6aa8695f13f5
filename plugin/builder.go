package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/google/shlex"
	"github.com/spf13/cobra"
)

func newBuilderCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage named builders: BuildKit daemons, remote or in containers, each serving some platforms",
	}
	cmd.AddCommand(newBuilderCreateCommand(dockerCLI), newBuilderLsCommand(dockerCLI), newBuilderInspectCommand(dockerCLI),
		newBuilderRmCommand(dockerCLI), newBuilderStopCommand(dockerCLI), newBuilderUseCommand(dockerCLI))
	return cmd
}

// createOptions are the flags of "builder create": buildx's, one node per
// invocation, and docker-build2's own --node NAME=ADDRESS list, where
// --platform and --tls* apply to the node before them.
type createOptions struct {
	name       string
	driver     string
	driverOpts []string
	platforms  []string
	nodeName   string
	appendNode bool
	use        bool
	bootstrap  bool
	config     string
	flags      string
	// list is --node NAME=ADDRESS, given in that form.
	list []nodes.Node
	// platformFirst is set when --platform came before any --node
	// NAME=ADDRESS, so it belongs to buildx's form.
	platformFirst bool
}

type nodeValue struct{ o *createOptions }

func (v nodeValue) String() string { return "" }
func (v nodeValue) Type() string   { return "string" }
func (v nodeValue) Set(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if !ok {
		if !nodes.ValidName(s) {
			return fmt.Errorf("%q: a node name is letters, digits, '.', '_' and '-'", s)
		}
		v.o.nodeName = s
		return nil
	}
	if !nodes.ValidName(name) || addr == "" {
		return fmt.Errorf("%q: use NAME or NAME=ADDRESS, e.g. amd=tcp://10.0.0.1:1234", s)
	}
	v.o.list = append(v.o.list, nodes.Node{Name: name, Endpoint: addr})
	return nil
}

// platformValue is --platform: of the --node NAME=ADDRESS before it, else
// of the node this invocation creates.
type platformValue struct{ o *createOptions }

func (v platformValue) String() string { return "" }
func (v platformValue) Type() string   { return "stringArray" }
func (v platformValue) Set(s string) error {
	ps, err := buildflags.Platforms("--platform", []string{s})
	if err != nil {
		return err
	}
	if len(v.o.list) == 0 {
		v.o.platformFirst = true
		v.o.platforms = append(v.o.platforms, ps...)
		return nil
	}
	n := &v.o.list[len(v.o.list)-1]
	n.Platforms = append(n.Platforms, ps...)
	return nil
}

// nodeAttrValue sets an attribute of the --node NAME=ADDRESS given last.
type nodeAttrValue struct {
	o   *createOptions
	set func(*nodes.Node, string)
}

func (v nodeAttrValue) String() string { return "" }
func (v nodeAttrValue) Type() string   { return "string" }
func (v nodeAttrValue) Set(s string) error {
	if len(v.o.list) == 0 {
		return errors.New("give --node NAME=ADDRESS first; this flag applies to the node before it (or use --driver-opt cacert=,cert=,key=)")
	}
	v.set(&v.o.list[len(v.o.list)-1], s)
	return nil
}

func newBuilderCreateCommand(dockerCLI command.Cli) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [NAME | CONTEXT | ENDPOINT]",
		Short: "Create a builder, or add a node to one (--append)",
		Long: `Create a builder, as "docker buildx create" does: one node per invocation,
from --driver remote (ENDPOINT is the buildkitd address) or --driver
docker-container (BuildKit in a container on the current Docker engine;
CONTEXT is its docker context, empty for the current one). A
docker-container builder's container starts at once.

The list form names the builder and gives every node at once:
  docker build2 builder create NAME --node NAME=ADDRESS [--platform P] [--node ...]`,
		Args: cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuilderCreate(cmd.Context(), dockerCLI, &o, args)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.name, "name", "", "Builder name (default: a random one)")
	flags.StringVar(&o.driver, "driver", "", `Driver: "docker-container" (default) or "remote"`)
	flags.StringArrayVar(&o.driverOpts, "driver-opt", nil, "Options for the driver, KEY=VALUE[,KEY=VALUE] (docker-container: image, network, env.NAME, memory, cpu-*, cgroup-parent, restart-policy, and docker-build2's privileged=false for engines that cannot run privileged containers; remote: cacert, cert, key, servername)")
	flags.Var(platformValue{&o}, "platform", "Platforms the node serves (after --node NAME=ADDRESS: of that node)")
	flags.Var(nodeValue{&o}, "node", "Name of the node to create or modify; or NAME=ADDRESS, a BuildKit daemon (unix://, tcp://, ssh://, docker-container://, kube-pod://), repeatable")
	flags.BoolVar(&o.appendNode, "append", false, "Add (or replace) a node of an existing builder")
	flags.BoolVar(&o.use, "use", false, "Build on this builder by default")
	flags.BoolVar(&o.bootstrap, "bootstrap", false, "Start the builder's nodes and wait until they answer")
	flags.StringVar(&o.config, "buildkitd-config", "", "buildkitd.toml for a docker-container node")
	// buildx's older spelling, still accepted (and hidden) by buildx.
	flags.StringVar(&o.config, "config", "", "buildkitd.toml for a docker-container node")
	_ = flags.MarkHidden("config")
	flags.StringVar(&o.flags, "buildkitd-flags", "", "Flags for buildkitd in a docker-container node")
	flags.Var(nodeAttrValue{&o, func(n *nodes.Node, s string) { n.TLSCACert = s }}, "tlscacert", "CA certificate of the preceding tcp:// --node NAME=ADDRESS")
	flags.Var(nodeAttrValue{&o, func(n *nodes.Node, s string) { n.TLSCert = s }}, "tlscert", "Client certificate for the preceding --node NAME=ADDRESS")
	flags.Var(nodeAttrValue{&o, func(n *nodes.Node, s string) { n.TLSKey = s }}, "tlskey", "Client key for the preceding --node NAME=ADDRESS")
	return cmd
}

func runBuilderCreate(ctx context.Context, dockerCLI command.Cli, o *createOptions, args []string) error {
	s := builderStore(dockerCLI)
	b, err := o.builder(s, args, func(name string) bool { return contextExists(dockerCLI, name) })
	if err != nil {
		return err
	}
	if o.appendNode {
		err = s.Put(b)
	} else {
		err = s.Create(b)
	}
	if err != nil {
		return err
	}
	if b.DriverName() == nodes.DriverDockerContainer || o.bootstrap {
		if err := bootstrap(ctx, dockerCLI, b); err != nil {
			if !o.appendNode {
				// A builder that cannot start is not kept, nor what
				// it made on the engine.
				_ = removeBuilder(ctx, dockerCLI, s, b.Name, false)
			}
			return err
		}
	}
	if o.use {
		if err := s.Use(b.Name); err != nil {
			return err
		}
	}
	fmt.Fprintln(dockerCLI.Out(), b.Name)
	return nil
}

// builder is the builder o makes: a new one, or with --append the stored
// one with o's node added; usage errors are marked as such.
func (o *createOptions) builder(s nodes.Store, args []string, isContext func(string) bool) (*nodes.Builder, error) {
	if len(o.list) > 0 {
		return o.listBuilder(args)
	}
	var endpoint string
	if len(args) == 1 {
		endpoint = args[0]
	}
	b := &nodes.Builder{Name: o.name, Driver: o.driver}
	if o.appendNode {
		if o.name == "" {
			return nil, usageErrf("builder create --append: give the builder's --name")
		}
		if !s.Has(o.name) {
			return nil, fmt.Errorf("builder create --append: no builder named %q of docker-build2's own (see docker build2 builder ls)", o.name)
		}
		old, err := s.Get(o.name)
		if err != nil {
			return nil, err
		}
		if o.driver != "" && o.driver != old.DriverName() {
			return nil, usageErrf("builder create --append: %s is a %s builder, not %s", o.name, old.DriverName(), o.driver)
		}
		b = old
	}
	if b.Name == "" {
		b.Name = randomName()
	}
	if b.Driver == "" {
		b.Driver = nodes.DriverDockerContainer
	}
	n, err := o.node(b, endpoint, isContext)
	if err != nil {
		return nil, err
	}
	if i := slices.IndexFunc(b.Nodes, func(m nodes.Node) bool { return m.Name == n.Name }); i >= 0 {
		b.Nodes[i] = n
	} else {
		b.Nodes = append(b.Nodes, n)
	}
	if err := b.Validate(); err != nil {
		return nil, usageErr(err)
	}
	return b, nil
}

// node is the node o describes, for builder b.
func (o *createOptions) node(b *nodes.Builder, endpoint string, isContext func(string) bool) (nodes.Node, error) {
	n := nodes.Node{Name: o.nodeName, Endpoint: endpoint, Platforms: o.platforms, Driver: b.Driver}
	if n.Name == "" {
		n.Name = b.Name + "0"
		for i := 1; slices.ContainsFunc(b.Nodes, func(m nodes.Node) bool { return m.Name == n.Name }); i++ {
			n.Name = b.Name + strconv.Itoa(i)
		}
	}
	opts, err := parseDriverOpts(o.driverOpts)
	if err != nil {
		return n, usageErr(err)
	}
	n.DriverOpts = opts
	switch b.Driver {
	case nodes.DriverRemote:
		if endpoint == "" {
			return n, usageErrf("builder create --driver remote: give the BuildKit daemon's address, e.g. tcp://10.0.0.1:1234")
		}
		n.TLSCACert, n.TLSCert, n.TLSKey, n.TLSServerName = opts["cacert"], opts["cert"], opts["key"], opts["servername"]
	case nodes.DriverDockerContainer:
		if endpoint != "" && !isContext(endpoint) {
			return n, usageErrf("builder create --driver docker-container: %q is no docker context (see docker context ls); give none for the current engine", endpoint)
		}
	}
	if o.flags != "" {
		if n.BuildkitdFlags, err = shlex.Split(o.flags); err != nil {
			return n, usageErrf("--buildkitd-flags %q: %v", o.flags, err)
		}
	}
	if o.config != "" {
		if n.BuildkitdConfig, err = os.ReadFile(o.config); err != nil {
			return n, usageErrf("--buildkitd-config: %v", err)
		}
	}
	return n, nil
}

// listBuilder is the builder of the list form: NAME --node NAME=ADDRESS ….
func (o *createOptions) listBuilder(args []string) (*nodes.Builder, error) {
	name := o.name
	switch {
	case len(args) == 1 && name != "" && args[0] != name:
		return nil, usageErrf("builder create: both --name %s and %s name the builder; give one", name, args[0])
	case len(args) == 1:
		name = args[0]
	case name == "":
		return nil, usageErrf("builder create --node NAME=ADDRESS: give the builder a name")
	}
	switch {
	case o.platformFirst:
		return nil, usageErrf("builder create: give --node NAME=ADDRESS first; --platform applies to the node before it")
	case o.driver != "" && o.driver != nodes.DriverRemote:
		return nil, usageErrf("builder create: --node NAME=ADDRESS gives remote daemons, not --driver %s", o.driver)
	case o.appendNode, o.nodeName != "", len(o.driverOpts) > 0, o.config != "", o.flags != "":
		return nil, usageErrf("builder create: --node NAME=ADDRESS goes with --platform and --tls* only; for --append, --driver-opt and --buildkitd-* create one node at a time (--node NAME)")
	}
	b := &nodes.Builder{Name: name, Nodes: o.list}
	if err := b.Validate(); err != nil {
		return nil, usageErr(err)
	}
	return b, nil
}

// parseDriverOpts reads --driver-opt KEY=VALUE[,KEY=VALUE…].
func parseDriverOpts(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, s := range in {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--driver-opt %q: use KEY=VALUE", kv)
			}
			out[k] = v
		}
	}
	return out, nil
}

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "builder-" + hex.EncodeToString(b)
}

// contextExists reports whether name is a docker context.
func contextExists(dockerCLI command.Cli, name string) bool {
	if name == command.DefaultContextName || name == dockerCLI.CurrentContext() {
		return true
	}
	st := dockerCLI.ContextStore()
	if st == nil {
		return false
	}
	_, err := st.GetMetadata(name)
	return err == nil
}

// engine is the Docker engine that runs a docker-container node: the
// CLI's, which must be the node's docker context.
func engine(dockerCLI command.Cli, n nodes.Node) (nodes.Engine, error) {
	if n.Endpoint != "" && n.Endpoint != command.DefaultContextName && n.Endpoint != dockerCLI.CurrentContext() {
		return nil, fmt.Errorf("node %s runs on docker context %s: manage it with that context (docker --context %s build2 …)", n.Name, n.Endpoint, n.Endpoint)
	}
	return dockerCLI.Client(), nil
}

// containerNodes calls fn with each docker-container node of b and the
// Docker engine it runs on, stopping at the first error.
func containerNodes(dockerCLI command.Cli, b *nodes.Builder, fn func(nodes.Node, nodes.Engine) error) error {
	for _, n := range b.Nodes {
		if n.Driver != nodes.DriverDockerContainer {
			continue
		}
		e, err := engine(dockerCLI, n)
		if err != nil {
			return err
		}
		if err := fn(n, e); err != nil {
			return err
		}
	}
	return nil
}

// bootstrap starts the builder's docker-container nodes and checks that
// every node answers.
func bootstrap(ctx context.Context, dockerCLI command.Cli, b *nodes.Builder) error {
	for _, n := range b.Nodes {
		if n.Driver != nodes.DriverDockerContainer {
			if st := nodes.Probe(ctx, n); st.Err != nil {
				return fmt.Errorf("node %s: %w", n.Name, st.Err)
			}
			continue
		}
		e, err := engine(dockerCLI, n)
		if err != nil {
			return err
		}
		step := func(msg string) { fmt.Fprintf(dockerCLI.Err(), "#%s %s\n", n.Name, msg) }
		if err := nodes.Bootstrap(ctx, e, n, step); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// pickBuilder is the builder a command names, else $BUILDX_BUILDER, else
// the current one; "" is the embedded one.
func pickBuilder(s nodes.Store, args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	if v := buildxBuilderEnv(); v != "" {
		return v
	}
	return s.Current()
}

func newBuilderRmCommand(dockerCLI command.Cli) *cobra.Command {
	var keepState, force bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [NAME...]",
		Short: "Remove builders, with their containers and (unless --keep-state) state volumes",
		RunE: func(cmd *cobra.Command, args []string) error {
			s := builderStore(dockerCLI)
			names := args
			if len(names) == 0 {
				names = []string{pickBuilder(s, nil)}
			}
			for _, name := range names {
				if name == "" || name == nodes.Default {
					return errors.New(`the embedded builder ("default") cannot be removed`)
				}
				if err := removeBuilder(cmd.Context(), dockerCLI, s, name, keepState); err != nil {
					return err
				}
				fmt.Fprintln(dockerCLI.Out(), name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keepState, "keep-state", false, "Keep the state volumes of docker-container nodes")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation (docker-build2 never does)")
	return cmd
}

func removeBuilder(ctx context.Context, dockerCLI command.Cli, s nodes.Store, name string, keepState bool) error {
	if !s.Has(name) {
		return s.Remove(name) // not found, or buildx's
	}
	b, err := s.Get(name)
	if err != nil {
		return err
	}
	if err := containerNodes(dockerCLI, b, func(n nodes.Node, e nodes.Engine) error {
		return nodes.RemoveContainer(ctx, e, n, keepState)
	}); err != nil {
		return err
	}
	return s.Remove(name)
}

func newBuilderStopCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "stop [NAME]",
		Short: "Stop the containers of a docker-container builder",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := builderStore(dockerCLI)
			name := pickBuilder(s, args)
			if name == "" || name == nodes.Default {
				return nil // the embedded builder stops with its last build
			}
			b, err := s.Get(name)
			if err != nil {
				return err
			}
			return containerNodes(dockerCLI, b, func(n nodes.Node, e nodes.Engine) error {
				return nodes.StopContainer(cmd.Context(), e, n)
			})
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
