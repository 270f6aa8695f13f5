package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

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
	return &childSolver{o: o, ctx: ctx, cfg: cfg, id: identity(conf, installed(cfg.CertsDir))}, nil
}

// childSolver is the controller of the solver's own process.
type childSolver struct {
	o   *owner
	ctx context.Context
	cfg Config
	id  string // identity, for processes that find it lingering
}

func (c *childSolver) Close() error { return c.o.close(c.ctx, c.cfg.Notify) }

// Linger serves other processes until idle passes with none attached.
func (c *childSolver) Linger(ctx context.Context, idle time.Duration, ready func()) {
	_ = c.o.shared.Linger(ctx, c.cfg.Root, c.id, idle, ready)
}

// identity names a solver by its configuration conf and what it reads at
// start besides (installed): a process shares a lingering solver only
// when it would start the same.
func identity(conf []byte, installed string) string {
	h := sha256.New()
	h.Write(conf)
	h.Write([]byte(installed))
	return hex.EncodeToString(h.Sum(nil))
}

// installed stamps the binary and the registry certificates of certsDir
// (<dir>/<host>/{ca.crt,client.cert,client.key}) by path, size and time.
func installed(certsDir string) string {
	var b strings.Builder
	stamp := func(path string) {
		if st, err := os.Stat(path); err == nil {
			fmt.Fprintf(&b, "\n%s %d %d", path, st.Size(), st.ModTime().UnixNano())
		}
	}
	stamp("/proc/self/exe")
	if certsDir != "" {
		hosts, _ := os.ReadDir(certsDir)
		for _, host := range hosts {
			dir := filepath.Join(certsDir, host.Name())
			stamp(dir)
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				stamp(filepath.Join(dir, f.Name()))
			}
		}
	}
	return b.String()
}
