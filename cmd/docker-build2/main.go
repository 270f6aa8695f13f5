// Command docker-build2 is the docker CLI plugin "build2"; it also runs
// standalone as docker-build2.
//
// main is the one place that renders an error and turns it into the exit
// code (see render).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/docker-build2/docker-build2/plugin"
	"github.com/docker/cli/cli"
	cliplugin "github.com/docker/cli/cli-plugins/plugin"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/debug"
	solvererrdefs "github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/util/stack"
	"google.golang.org/grpc/codes"

	// vtprotobuf codec for the gRPC messages, as buildkitd and buildx use.
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto"
)

func main() {
	// The embedded solver of a user who is not root runs in a user
	// namespace, as this binary executed again.
	if code, ok := plugin.RunChild(); ok {
		os.Exit(code)
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
	return render(dockerCLI.Err(), err, debug.IsEnabled())
}

// Exit codes, as buildx and docker give them.
const (
	exitFailure   = 1   // the build (or command) failed
	exitInternal  = 100 // BuildKit internal error
	exitResources = 102 // BuildKit ran out of a resource
	exitUsage     = 125 // bad flag, value or combination
	exitCancelled = 130 // cancelled (Ctrl-C); 128+n for signal n
)

// render prints err once, the way buildx does, and returns the exit code:
// a cli.StatusError's own code (125 for usage errors, 128+n after signal n)
// or, for any other error, 100 for a BuildKit internal error, 102 when
// BuildKit ran out of a resource, 130 when cancelled, 1 otherwise. A
// StatusError with a Status (docker's flag errors) prints as it is; every
// other error gets the Dockerfile excerpts of its source locations, then
// "ERROR: " and its text (with --debug, its stack).
func render(w io.Writer, err error, debugging bool) int {
	code := exitCode(err)
	var sterr cli.StatusError
	if errors.As(err, &sterr) && sterr.Status != "" {
		fmt.Fprintln(w, sterr.Status)
		return code
	}
	if errors.As(err, &sterr) && sterr.Cause == nil {
		// Only an exit code (a check that found violations, which it
		// printed): nothing to add.
		return code
	}
	if errors.As(err, &sterr) && sterr.Cause != nil {
		err = sterr.Cause
	}
	// A build policy's messages for the source it denied, as buildx
	// prints them.
	for _, msg := range policysession.DenyMessages(err) {
		if msg.GetMessage() != "" {
			fmt.Fprintf(w, "Policy: %s\n", msg.GetMessage())
		}
	}
	for _, s := range solvererrdefs.Sources(err) {
		_ = s.Print(w)
	}
	if debugging {
		fmt.Fprintf(w, "ERROR: %+v\n", stack.Formatter(err))
	} else {
		fmt.Fprintf(w, "ERROR: %v\n", err)
	}
	return code
}

func exitCode(err error) int {
	var sterr cli.StatusError
	if errors.As(err, &sterr) {
		if sterr.StatusCode == 0 {
			return exitFailure
		}
		return sterr.StatusCode
	}
	switch grpcerrors.Code(err) {
	case codes.Internal:
		return exitInternal
	case codes.ResourceExhausted:
		return exitResources
	case codes.Canceled:
		return exitCancelled
	}
	if errors.Is(err, context.Canceled) {
		return exitCancelled
	}
	return exitFailure
}
