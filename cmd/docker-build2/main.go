// Command docker-build2 is the docker CLI plugin "build2"; it also runs
// standalone as docker-build2.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin"
	"github.com/docker/cli/cli"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	solvererrdefs "github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/stack"
	"google.golang.org/grpc/codes"

	// vtprotobuf codec for the gRPC messages, as buildkitd and buildx use.
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto"
)

func main() {
	// The embedded solver of a user who is not root runs in a user
	// namespace, as this binary executed again.
	if build.UserNSChild() {
		os.Exit(build.RunUserNSChild())
	}
	// DOCKER_BUILD2_CPUPROFILE=FILE writes a CPU profile for go tool pprof.
	profiling := false
	if path := os.Getenv("DOCKER_BUILD2_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			profiling = pprof.StartCPUProfile(f) == nil
		}
	}
	code := run()
	if profiling {
		pprof.StopCPUProfile()
	}
	os.Exit(code)
}

func run() int {
	dockerCLI, err := command.NewDockerCli()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		return 1
	}
	if cliplugin.RunningStandalone() {
		err = plugin.NewRootCmd(filepath.Base(os.Args[0]), false, dockerCLI).Execute()
	} else {
		err = cliplugin.RunPlugin(dockerCLI, plugin.NewRootCmd(plugin.Name, true, dockerCLI), plugin.Metadata())
	}
	if err == nil {
		return 0
	}
	return render(dockerCLI, err)
}

// render prints err once, the way buildx does, and returns the exit code.
func render(dockerCLI *command.DockerCli, err error) int {
	var sterr cli.StatusError
	if errors.As(err, &sterr) {
		if sterr.Status != "" {
			fmt.Fprintln(dockerCLI.Err(), sterr.Status)
		} else if sterr.Cause != nil {
			fmt.Fprintln(dockerCLI.Err(), "ERROR:", sterr.Cause)
		}
		if sterr.StatusCode == 0 {
			return 1
		}
		return sterr.StatusCode
	}
	for _, s := range solvererrdefs.Sources(err) {
		_ = s.Print(dockerCLI.Err())
	}
	if debug.IsEnabled() {
		fmt.Fprintf(dockerCLI.Err(), "ERROR: %+v\n", stack.Formatter(err))
	} else {
		fmt.Fprintf(dockerCLI.Err(), "ERROR: %v\n", err)
	}
	switch grpcerrors.Code(err) {
	case codes.Internal:
		return 100
	case codes.ResourceExhausted:
		return 102
	case codes.Canceled:
		return 130
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return 1
}
