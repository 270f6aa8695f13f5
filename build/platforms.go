package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// UnsupportedPlatformError says a requested platform has no worker that can
// run its RUN steps.
type UnsupportedPlatformError struct {
	Platform  string
	Supported []string
}

func (e *UnsupportedPlatformError) Error() string {
	if !strings.HasPrefix(e.Platform, "linux/") {
		return fmt.Sprintf("platform %s is not supported here: the embedded builder runs Linux containers only (this builder runs %s)", e.Platform, strings.Join(e.Supported, ", "))
	}
	return fmt.Sprintf("platform %s is not supported here (this builder runs %s): install QEMU user emulation (Debian/Ubuntu: apt-get install qemu-user-static binfmt-support, or make install EMULATORS=1) or build for a supported platform",
		e.Platform, strings.Join(e.Supported, ", "))
}

// CheckPlatforms fails before the build starts when one of wanted is not
// among the platforms the builder's workers report.
func CheckPlatforms(ctx context.Context, s Solver, wanted []string) error {
	if len(wanted) == 0 {
		return nil
	}
	have, err := builderPlatforms(ctx, s)
	if err != nil {
		return err
	}
	for _, p := range wanted {
		want, err := platforms.Parse(p)
		if err != nil {
			return fmt.Errorf("--platform %q: %w", p, err)
		}
		want = platforms.Normalize(want)
		if !platforms.Any(have...).Match(want) {
			supported := make([]string, 0, len(have))
			for _, h := range have {
				supported = append(supported, platforms.Format(h))
			}
			return &UnsupportedPlatformError{Platform: platforms.Format(want), Supported: supported}
		}
	}
	return nil
}

// platformLister is a Solver that knows its platforms without asking the
// workers (the embedded Engine caches them).
type platformLister interface {
	Platforms(ctx context.Context) ([]ocispecs.Platform, error)
}

func builderPlatforms(ctx context.Context, s Solver) ([]ocispecs.Platform, error) {
	if pl, ok := s.(platformLister); ok {
		return pl.Platforms(ctx)
	}
	return listWorkerPlatforms(ctx, s)
}

func listWorkerPlatforms(ctx context.Context, s Solver) ([]ocispecs.Platform, error) {
	workers, err := s.Client().ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the builder's platforms: %w", err)
	}
	var have []ocispecs.Platform
	for _, w := range workers {
		have = append(have, w.Platforms...)
	}
	return have, nil
}

// platformCache is what <root>/platforms.json holds: the probed platforms
// and the state of the machine they were probed on.
type platformCache struct {
	Key       string              `json:"key"`
	Platforms []ocispecs.Platform `json:"platforms"`
}

// Platforms returns the platforms this machine can run, probing them
// (which runs a test binary per emulator, ~0.2 s) only when the binfmt_misc
// registrations, the kernel or BuildKit changed since the last probe.
func (e *Engine) Platforms(ctx context.Context) ([]ocispecs.Platform, error) {
	path := filepath.Join(e.root, "platforms.json")
	key := platformKey()
	if dt, err := os.ReadFile(path); err == nil {
		var c platformCache
		if json.Unmarshal(dt, &c) == nil && c.Key == key && len(c.Platforms) > 0 {
			return c.Platforms, nil
		}
	}
	have, err := listWorkerPlatforms(ctx, e)
	if err != nil {
		return nil, err
	}
	if dt, err := json.Marshal(platformCache{Key: key, Platforms: have}); err == nil {
		tmp := path + ".tmp"
		if os.WriteFile(tmp, dt, 0o600) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	return have, nil
}

// platformKey digests what decides which platforms run here: the
// binfmt_misc registrations (emulators), the kernel and BuildKit.
func platformKey() string {
	h := sha256.New()
	fmt.Fprintln(h, BuildKitVersion())
	if dt, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Write(dt)
	}
	const binfmt = "/proc/sys/fs/binfmt_misc"
	entries, _ := os.ReadDir(binfmt)
	for _, ent := range entries {
		if ent.Name() == "register" {
			continue
		}
		fmt.Fprintln(h, ent.Name())
		if dt, err := os.ReadFile(filepath.Join(binfmt, ent.Name())); err == nil {
			h.Write(dt)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
