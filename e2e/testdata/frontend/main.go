// Command frontend is BuildKit's Dockerfile frontend served through the
// gateway API, built from this module's BuildKit for the "# syntax=" tests:
// an image of it plays docker/dockerfile in the test registry.
package main

import (
	"fmt"
	"os"

	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto"
)

func main() {
	if err := grpcclient.RunFromEnvironment(appcontext.Context(), dockerfile.Build); err != nil {
		fmt.Fprintf(os.Stderr, "frontend: %v\n", err)
		os.Exit(1)
	}
}
