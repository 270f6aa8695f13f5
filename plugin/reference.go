package plugin

import (
	"os"

	"github.com/docker/cli/cli/command"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// WriteReference writes one Markdown page per command of the tree into
// dir, as "make docs" publishes them in docs/reference. Flag defaults that
// come from the environment are shown as their built-in values.
func WriteReference(dockerCLI *command.DockerCli, dir string) error {
	for _, env := range []string{"DOCKER_BUILD2_ROOT", "BUILDKIT_PROGRESS", "DOCKER_BUILD2_DAEMON_CONFIG", "DOCKER_DEFAULT_PLATFORM", "BUILDKIT_HOST"} {
		_ = os.Unsetenv(env)
	}
	root := &cobra.Command{Use: "docker"}
	root.AddCommand(NewRootCmd(Name, false, dockerCLI))
	var hide func(c *cobra.Command)
	hide = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
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
