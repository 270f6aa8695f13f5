package plugin

import (
	"strings"

	"github.com/docker-build2/docker-build2/progress"
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
