// Command docsgen writes the command reference (make docs).
package main

import (
	"fmt"
	"os"

	"github.com/docker-build2/docker-build2/plugin"
	"github.com/docker/cli/cli/command"
)

func main() {
	dir := "docs/reference"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	dockerCLI, err := command.NewDockerCli()
	if err == nil {
		err = plugin.WriteReference(dockerCLI, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docsgen:", err)
		os.Exit(1)
	}
}
