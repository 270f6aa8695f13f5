package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/docker-build2/docker-build2/build/userns"
	"github.com/moby/buildkit/executor/oci"
)

// RunChild runs this process as the solver's own process when Open
// started it so: ok is false otherwise, and main goes on.
func RunChild() (code int, ok bool) {
	if !userns.IsChild() {
		return 0, false
	}
	// DOCKER_BUILD2_CPUPROFILE=FILE, which main reads for the process it
	// runs, profiles this process too, into FILE.solver: main never runs
	// here, so the variable is read where the process starts.
	if path := os.Getenv("DOCKER_BUILD2_CPUPROFILE"); path != "" { //nolint:forbidigo // the solver's process has no plugin layer; see above
		if f, err := os.Create(path + ".solver"); err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	return userns.Run(serveChild), true
}

// serveChild takes the state dir and runs the controller, in the process
// Open started: as root of the host in a PID namespace of its own, or as
// root of a user namespace.
func serveChild(ctx context.Context, conf []byte, stderr io.Writer) (io.Closer, error) {
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
	wm := workerMode{process: oci.ProcessSandbox}
	if userns.InUserNS() {
		var err error
		if wm, err = rootlessMode(cfg); err != nil {
			return nil, err
		}
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
