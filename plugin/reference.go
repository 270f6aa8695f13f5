package plugin

import (
	"os"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// perUserDefaults are the defaults of flags that differ between root and
// other users, as the reference shows them.
var perUserDefaults = map[string]string{
	"root":          "/var/lib/docker-build2 as root, else $XDG_DATA_HOME/docker-build2",
	"daemon-config": "/etc/docker/daemon.json as root, else $XDG_CONFIG_HOME/docker/daemon.json",
}

// WriteReference writes one Markdown page per command of the tree into
// dir, as "make docs" publishes them in docs/reference. Flag defaults that
// come from the environment are shown as their built-in values, and those
// that depend on the user as both forms, so the pages are the same for all.
func WriteReference(dockerCLI command.Cli, dir string) error {
	for _, env := range []string{"DOCKER_BUILD2_ROOT", "BUILDKIT_PROGRESS", "DOCKER_BUILD2_DAEMON_CONFIG", "DOCKER_DEFAULT_PLATFORM", "BUILDKIT_HOST"} {
		_ = os.Unsetenv(env)
	}
	root := &cobra.Command{Use: "docker"}
	root.AddCommand(NewRootCmd(Name, false, dockerCLI))
	var hide func(c *cobra.Command)
	hide = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if d, ok := perUserDefaults[f.Name]; ok {
				f.DefValue = d
			}
		})
		for _, sub := range c.Commands() {
			hide(sub)
		}
	}
	hide(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := doc.GenMarkdownTree(root.Commands()[0], dir); err != nil {
		return err
	}
	return nil
}
