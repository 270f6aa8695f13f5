package plugin

import (
	"strings"

	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
)

// registerCompletions completes the values of the build flags, in the
// standalone binary's `completion` scripts and through `docker` itself
// (the docker CLI asks plugins with `__complete`).
func registerCompletions(cmd *cobra.Command) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	modes := make([]string, 0, len(progress.Modes))
	for _, m := range progress.Modes {
		modes = append(modes, string(m))
	}
	// Keys of a spec: complete "key=" while the word has no '=' in its last
	// field, and leave values to the user.
	keys := func(keys ...string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			prefix := ""
			if i := strings.LastIndex(toComplete, ","); i >= 0 {
				prefix = toComplete[:i+1]
			}
			out := make([]string, 0, len(keys))
			for _, k := range keys {
				out = append(out, prefix+k+"=")
			}
			return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		}
	}
	_ = cmd.RegisterFlagCompletionFunc("progress", fixed(modes...))
	_ = cmd.RegisterFlagCompletionFunc("network", fixed("default", "none", "host"))
	_ = cmd.RegisterFlagCompletionFunc("secret", keys("id", "src", "env", "type"))
	_ = cmd.RegisterFlagCompletionFunc("ssh", fixed("default"))
	_ = cmd.RegisterFlagCompletionFunc("output", keys("type", "dest", "name", "push"))
	_ = cmd.RegisterFlagCompletionFunc("cache-from", keys("type", "ref", "src"))
	_ = cmd.RegisterFlagCompletionFunc("cache-to", keys("type", "ref", "dest", "mode"))
	_ = cmd.RegisterFlagCompletionFunc("platform", fixed("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64", "linux/ppc64le", "linux/s390x"))
	_ = cmd.RegisterFlagCompletionFunc("allow", fixed("network.host", "security.insecure"))
	_ = cmd.MarkFlagFilename("file")
	_ = cmd.MarkFlagFilename("iidfile")
	_ = cmd.MarkFlagFilename("metadata-file")
	_ = cmd.MarkFlagDirname("root")
}

// newCompletionCommand prints the shell completion script of the
// standalone binary. Through docker, completion needs no script of its
// own: docker's completion asks the plugin.
func newCompletionCommand(dockerCLI command.Cli, isPlugin bool) *cobra.Command {
	shells := []string{"bash", "zsh", "fish"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script of the standalone docker-build2 binary",
		Long: `Print the shell completion script of the standalone docker-build2 binary:
  source <(docker-build2 completion bash)
"docker build2 <TAB>" completes through docker's own completion
("docker completion bash"), which asks this plugin.`,
		Args:      cli.ExactArgs(1),
		ValidArgs: shells,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := cmd.Root().Name()
			if isPlugin {
				name = "docker-" + Name
			}
			standalone := NewRootCmd(name, false, dockerCLI)
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return standalone.GenBashCompletionV2(out, true)
			case "zsh":
				return standalone.GenZshCompletion(out)
			case "fish":
				return standalone.GenFishCompletion(out, true)
			}
			return usageErrf("completion: unknown shell %q: use one of %s", args[0], strings.Join(shells, ", "))
		},
	}
}
