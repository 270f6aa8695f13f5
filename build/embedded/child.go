package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/docker-build2/docker-build2/build/userns"
)

// RunChild runs this process as the solver's process in a user namespace
// when Open started it so: ok is false otherwise, and main goes on.
func RunChild() (code int, ok bool) {
	if !userns.IsChild() {
		return 0, false
	}
	return userns.Run(serveUserNS), true
}

// serveUserNS takes the state dir and runs the controller, as root of the
// user namespace Open started for a user who is not root.
func serveUserNS(ctx context.Context, conf []byte, stderr io.Writer) (io.Closer, error) {
	var cfg Config
	if err := json.Unmarshal(conf, &cfg); err != nil {
		return nil, fmt.Errorf("builder configuration: %w", err)
	}
	cfg.Notify = func(msg string) func() {
		fmt.Fprintln(stderr, msg)
		return func() {}
	}
	if cfg.Debug {
		cfg.Log = stderr
	}
	wm, err := rootlessMode(cfg)
	if err != nil {
		return nil, err
	}
	lock, err := statedir.TryLock(cfg.Root)
	if errors.Is(err, statedir.ErrBusy) {
		return nil, userns.ErrBusy
	}
	if err != nil {
		return nil, err
	}
	o, err := startOwner(ctx, cfg, lock, wm)
	if err != nil {
		return nil, err
	}
	return closerFunc(func() error { return o.close(ctx, cfg.Notify) }), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
