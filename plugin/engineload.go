package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	mobyclient "github.com/moby/moby/client"
)

var errNoEngine = errors.New("no Docker engine reachable")

// engineProbe pings the Docker engine of the current context once per
// command: whether BuildKit is on, whether the legacy builder can run and
// whether the image can be loaded all ask the same question. It is the
// build's ImageLoader.
type engineProbe struct {
	dockerCLI command.Cli
	once      sync.Once
	result    mobyclient.PingResult
	err       error
}

func newEngineProbe(dockerCLI command.Cli) *engineProbe { return &engineProbe{dockerCLI: dockerCLI} }

// ping returns the engine's answer, or why there is none.
func (p *engineProbe) ping(ctx context.Context) (mobyclient.PingResult, error) {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeoutCause(ctx, 3*time.Second, errNoEngine)
		defer cancel()
		p.result, p.err = p.dockerCLI.Client().Ping(ctx, mobyclient.PingOptions{})
	})
	return p.result, p.err
}

// builderVersion is the engine's preferred builder ("1" legacy, "2" BuildKit).
func (p *engineProbe) builderVersion(ctx context.Context) (string, error) {
	r, err := p.ping(ctx)
	return string(r.BuilderVersion), err
}

// Endpoint names the engine.
func (p *engineProbe) Endpoint() string { return p.dockerCLI.DockerEndpoint().Host }

// Available returns nil when the engine answers.
func (p *engineProbe) Available(ctx context.Context) error {
	_, err := p.ping(ctx)
	return err
}

// Load streams a docker image tarball into the engine's image load; wait
// returns once the engine has loaded it.
func (p *engineProbe) Load(ctx context.Context) (io.WriteCloser, func() error, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		res, err := p.dockerCLI.Client().ImageLoad(ctx, pr, mobyclient.ImageLoadWithQuiet(true))
		if err == nil {
			_, err = io.Copy(io.Discard, res)
			_ = res.Close()
		}
		if err != nil {
			err = fmt.Errorf("loading the image into Docker: %w", err)
			_ = pr.CloseWithError(err)
		}
		done <- err
	}()
	return pw, func() error { return <-done }, nil
}

// Image exports the engine's image ref (docker save); ok is false when the
// engine has none of that name.
func (p *engineProbe) Image(ctx context.Context, ref string) (io.ReadCloser, bool, error) {
	if _, err := p.dockerCLI.Client().ImageInspect(ctx, ref); err != nil {
		return nil, false, nil
	}
	res, err := p.dockerCLI.Client().ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, false, fmt.Errorf("exporting %s from the Docker engine: %w", ref, err)
	}
	return res, true, nil
}
