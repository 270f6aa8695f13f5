package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"
	"github.com/spf13/cobra"
)

// builderNode is one BuildKit daemon of a named builder.
type builderNode struct {
	Name          string   `json:"name"`
	Endpoint      string   `json:"endpoint"`
	Platforms     []string `json:"platforms,omitempty"`
	TLSCACert     string   `json:"tlscacert,omitempty"`
	TLSCert       string   `json:"tlscert,omitempty"`
	TLSKey        string   `json:"tlskey,omitempty"`
	TLSServerName string   `json:"tlsservername,omitempty"`
}

// namedBuilder is a builder stored under the docker config dir.
type namedBuilder struct {
	Name  string        `json:"name"`
	Nodes []builderNode `json:"nodes"`
}

var builderName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// builderStore keeps named builders in <docker config>/build2/builders.
type builderStore struct{ dir string }

func newBuilderStore() builderStore {
	return builderStore{dir: filepath.Join(config.Dir(), "build2", "builders")}
}

func (s builderStore) path(name string) string { return filepath.Join(s.dir, name+".json") }

func (s builderStore) get(name string) (*namedBuilder, error) {
	dt, err := os.ReadFile(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no builder named %q: see docker build2 builder ls", name)
	}
	if err != nil {
		return nil, err
	}
	var b namedBuilder
	if err := json.Unmarshal(dt, &b); err != nil {
		return nil, fmt.Errorf("builder %q: %s is not valid JSON: %w", name, s.path(name), err)
	}
	return &b, nil
}

func (s builderStore) list() ([]*namedBuilder, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*namedBuilder
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			b, err := s.get(name)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s builderStore) save(b *namedBuilder) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	dt, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path(b.Name), append(dt, '\n'), 0o600)
}

func (s builderStore) currentPath() string { return filepath.Join(filepath.Dir(s.dir), "current") }

func (s builderStore) current() string {
	dt, err := os.ReadFile(s.currentPath())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(dt))
}

// nodeFlags collects --node and the --platform/--tls* flags that follow it,
// in the order given, as "builder create" takes them.
type nodeFlags struct{ nodes *[]builderNode }

type nodeValue struct{ nodeFlags }

func (v nodeValue) String() string { return "" }
func (v nodeValue) Type() string   { return "name=address" }
func (v nodeValue) Set(s string) error {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || !builderName.MatchString(name) || addr == "" {
		return fmt.Errorf("%q: use NAME=ADDRESS, e.g. amd=tcp://10.0.0.1:1234", s)
	}
	*v.nodes = append(*v.nodes, builderNode{Name: name, Endpoint: addr})
	return nil
}

type nodeAttrValue struct {
	nodeFlags
	set func(*builderNode, string) error
}

func (v nodeAttrValue) String() string { return "" }
func (v nodeAttrValue) Type() string   { return "string" }
func (v nodeAttrValue) Set(s string) error {
	if len(*v.nodes) == 0 {
		return errors.New("give --node NAME=ADDRESS first; this flag applies to the node before it")
	}
	return v.set(&(*v.nodes)[len(*v.nodes)-1], s)
}

func newBuilderCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "Manage named builders: remote BuildKit daemons, each serving some platforms",
	}
	cmd.AddCommand(newBuilderCreateCommand(dockerCLI), newBuilderLsCommand(dockerCLI), newBuilderInspectCommand(dockerCLI),
		newBuilderRmCommand(dockerCLI), newBuilderUseCommand(dockerCLI))
	return cmd
}

func newBuilderCreateCommand(dockerCLI command.Cli) *cobra.Command {
	var nodes []builderNode
	nf := nodeFlags{nodes: &nodes}
	cmd := &cobra.Command{
		Use:   "create NAME --node NAME=ADDRESS [--platform P[,P]] [--node …]",
		Short: "Create a builder from one or more BuildKit daemons",
		Args:  cli.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return runBuilderCreate(dockerCLI, args[0], nodes)
		},
	}
	flags := cmd.Flags()
	flags.Var(nodeValue{nf}, "node", "A BuildKit daemon: NAME=ADDRESS (unix://, tcp://, ssh://, docker-container://, kube-pod://); repeatable")
	flags.Var(nodeAttrValue{nf, func(n *builderNode, s string) error {
		for _, p := range strings.Split(s, ",") {
			if _, err := platforms.Parse(strings.TrimSpace(p)); err != nil {
				return fmt.Errorf("%q: %w", p, err)
			}
			n.Platforms = append(n.Platforms, strings.TrimSpace(p))
		}
		return nil
	}}, "platform", "Platforms the preceding --node serves")
	flags.Var(nodeAttrValue{nf, func(n *builderNode, s string) error { n.TLSCACert = s; return nil }}, "tlscacert", "CA certificate of the preceding tcp:// --node")
	flags.Var(nodeAttrValue{nf, func(n *builderNode, s string) error { n.TLSCert = s; return nil }}, "tlscert", "Client certificate for the preceding --node")
	flags.Var(nodeAttrValue{nf, func(n *builderNode, s string) error { n.TLSKey = s; return nil }}, "tlskey", "Client key for the preceding --node")
	return cmd
}

func runBuilderCreate(dockerCLI command.Cli, name string, nodes []builderNode) error {
	if !builderName.MatchString(name) || name == "default" {
		return usageErr("builder name %q: use letters, digits, '.', '_' and '-' (and not \"default\")", name)
	}
	if len(nodes) == 0 {
		return usageErr("builder create %s: give at least one --node NAME=ADDRESS", name)
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.Name] {
			return usageErr("builder create %s: node %q is given twice", name, n.Name)
		}
		seen[n.Name] = true
	}
	s := newBuilderStore()
	if _, err := os.Stat(s.path(name)); err == nil {
		return fmt.Errorf("builder %q exists already: remove it first (docker build2 builder rm %s)", name, name)
	}
	if err := s.save(&namedBuilder{Name: name, Nodes: nodes}); err != nil {
		return err
	}
	fmt.Fprintln(dockerCLI.Out(), name)
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
	s := newBuilderStore()
	all, err := s.list()
	if err != nil {
		return err
	}
	cur := s.current()
	tw := tabwriter.NewWriter(dockerCLI.Out(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME/NODE\tENDPOINT\tSTATUS\tPLATFORMS")
	mark := func(n string) string {
		if n == cur || (cur == "" && n == "default") {
			return n + " *"
		}
		return n
	}
	fmt.Fprintf(tw, "%s\tembedded\t\t\n", mark("default"))
	for _, b := range all {
		fmt.Fprintf(tw, "%s\t\t\t\n", mark(b.Name))
		for _, n := range b.Nodes {
			st := probeNode(ctx, n)
			fmt.Fprintf(tw, " \\_ %s\t%s\t%s\t%s\n", n.Name, n.Endpoint, st.status, strings.Join(st.platforms, ", "))
		}
	}
	return tw.Flush()
}

type nodeStatus struct {
	status    string
	version   string
	platforms []string
}

// probeNode asks a node for its version and platforms; the configured
// platforms win over the reported ones.
func probeNode(ctx context.Context, n builderNode) nodeStatus {
	ctx, cancel := context.WithTimeoutCause(ctx, 10*time.Second, errors.New("no answer within 10s"))
	defer cancel()
	r, err := build.Connect(ctx, n.remoteConfig())
	if err != nil {
		return nodeStatus{status: "error: " + err.Error(), platforms: n.Platforms}
	}
	defer func() { _ = r.Close() }()
	st := nodeStatus{status: "running", platforms: n.Platforms}
	if info, err := r.Client().Info(ctx); err == nil {
		st.version = info.BuildkitVersion.Version
	}
	if len(st.platforms) == 0 {
		if ws, err := r.Client().ListWorkers(ctx); err == nil {
			for _, w := range ws {
				for _, p := range w.Platforms {
					st.platforms = append(st.platforms, platforms.Format(p))
				}
			}
		}
	}
	return st
}

func (n builderNode) remoteConfig() build.RemoteConfig {
	return build.RemoteConfig{Address: n.Endpoint, TLSCACert: n.TLSCACert, TLSCert: n.TLSCert, TLSKey: n.TLSKey, TLSServerName: n.TLSServerName}
}

func newBuilderInspectCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [NAME]",
		Short: "Show a builder's nodes: status, BuildKit version, platforms",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := newBuilderStore()
			name := s.current()
			if len(args) == 1 {
				name = args[0]
			}
			if name == "" || name == "default" {
				fmt.Fprintf(dockerCLI.Out(), "Name:\tdefault\nDriver:\tembedded (BuildKit %s)\n", build.BuildKitVersion())
				return nil
			}
			b, err := s.get(name)
			if err != nil {
				return err
			}
			return printInspect(cmd.Context(), dockerCLI.Out(), b)
		},
	}
}

func printInspect(ctx context.Context, w io.Writer, b *namedBuilder) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nDriver:\tremote\n", b.Name)
	for _, n := range b.Nodes {
		st := probeNode(ctx, n)
		fmt.Fprintf(tw, "\nNode:\t%s\nEndpoint:\t%s\nStatus:\t%s\n", n.Name, n.Endpoint, st.status)
		if st.version != "" {
			fmt.Fprintf(tw, "BuildKit version:\t%s\n", st.version)
		}
		fmt.Fprintf(tw, "Platforms:\t%s\n", strings.Join(st.platforms, ", "))
	}
	return tw.Flush()
}

func newBuilderRmCommand(dockerCLI command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a builder",
		Args:  cli.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s := newBuilderStore()
			if _, err := s.get(args[0]); err != nil {
				return err
			}
			if err := os.Remove(s.path(args[0])); err != nil {
				return err
			}
			if s.current() == args[0] {
				_ = os.Remove(s.currentPath())
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
			s := newBuilderStore()
			if args[0] == "default" {
				if err := os.Remove(s.currentPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				return nil
			}
			if _, err := s.get(args[0]); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(s.currentPath()), 0o700); err != nil {
				return err
			}
			_ = dockerCLI
			return writeFileAtomic(s.currentPath(), []byte(args[0]+"\n"), 0o600)
		},
	}
}

// resolveBuilder turns --builder (an address or a builder name, else the
// builder chosen with "builder use") into the node to build on. A build for
// one platform goes to the first node serving it.
func resolveBuilder(ctx context.Context, r remoteOptions, wantPlatforms []string) (*build.RemoteConfig, error) {
	name := r.builder
	if name == "" {
		name = newBuilderStore().current()
	}
	if name == "" || name == "default" {
		return nil, nil
	}
	if strings.Contains(name, "://") {
		return &build.RemoteConfig{Address: name, TLSCACert: r.tlsCACert, TLSCert: r.tlsCert, TLSKey: r.tlsKey, TLSServerName: r.tlsServerName}, nil
	}
	b, err := newBuilderStore().get(name)
	if err != nil {
		return nil, err
	}
	if len(wantPlatforms) > 1 && len(b.Nodes) > 1 {
		return nil, fmt.Errorf("builder %q: splitting a multi-platform build across its nodes is not supported yet: build each --platform on its node (docker build2 builder inspect %s shows which)", name, name)
	}
	for _, n := range b.Nodes {
		if len(wantPlatforms) == 0 || servesAll(ctx, n, wantPlatforms) {
			cfg := n.remoteConfig()
			return &cfg, nil
		}
	}
	return nil, fmt.Errorf("builder %q: no node serves %s", name, strings.Join(wantPlatforms, ", "))
}

func servesAll(ctx context.Context, n builderNode, want []string) bool {
	have := n.Platforms
	if len(have) == 0 {
		have = probeNode(ctx, n).platforms
	}
	var specs []platforms.Matcher
	for _, h := range have {
		if p, err := platforms.Parse(h); err == nil {
			specs = append(specs, platforms.NewMatcher(p))
		}
	}
	for _, w := range want {
		p, err := platforms.Parse(w)
		if err != nil {
			return false
		}
		ok := false
		for _, m := range specs {
			if m.Match(platforms.Normalize(p)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
