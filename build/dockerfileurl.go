package build

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
)

// MaxDockerfileSize is the largest Dockerfile FetchDockerfile takes, as
// buildx: 2 MiB.
const MaxDockerfileSize = 2 << 20

// FetchDockerfile downloads the Dockerfile at url (-f URL) through b, as
// buildx does: the builder fetches it (the first node of a builder of
// several), so it reaches what the builder reaches, whatever the context
// is; the caller then sends it as a local Dockerfile. The download is a
// step of status, which it does not close.
func FetchDockerfile(ctx context.Context, b Builder, url string, status chan<- *client.SolveStatus) ([]byte, error) {
	var files map[string][]byte
	err := withClient(ctx, b, func(c *client.Client) error {
		var err error
		files, err = readFiles(ctx, c, llb.HTTP(url, llb.Filename("Dockerfile")).Output(), "[internal] load Dockerfile from "+url, []string{"Dockerfile"}, MaxDockerfileSize, "a Dockerfile", status)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("-f/--file %s: downloading the Dockerfile: %w", url, err)
	}
	if len(files["Dockerfile"]) == 0 {
		return nil, errors.New("-f/--file " + url + ": the Dockerfile downloaded is empty")
	}
	return files["Dockerfile"], nil
}
