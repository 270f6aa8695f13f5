package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker-build2/docker-build2/build/remote"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformCache is what <root>/platforms.json holds: the probed platforms
// and the state of the machine they were probed on.
type platformCache struct {
	Key       string              `json:"key"`
	Platforms []ocispecs.Platform `json:"platforms"`
}

// Platforms returns the platforms this machine can run, probing them
// (which runs a test binary per emulator, ~0.2 s) only when the binfmt_misc
// registrations, the kernel or BuildKit changed since the last probe.
func (s *Solver) Platforms(ctx context.Context) ([]ocispecs.Platform, error) {
	path := filepath.Join(s.cfg.Root, "platforms.json")
	key := platformKey()
	if dt, err := os.ReadFile(path); err == nil {
		var c platformCache
		if json.Unmarshal(dt, &c) == nil && c.Key == key && len(c.Platforms) > 0 {
			return c.Platforms, nil
		}
	}
	have, err := remote.Platforms(ctx, s.Client())
	if err != nil {
		return nil, err
	}
	if dt, err := json.Marshal(platformCache{Key: key, Platforms: have}); err == nil {
		// A temporary file renamed into place: concurrent processes read
		// either the old cache or the new one, never half of one.
		if f, err := os.CreateTemp(s.cfg.Root, ".platforms-*.json"); err == nil {
			_, werr := f.Write(dt)
			if cerr := f.Close(); werr == nil && cerr == nil {
				werr = os.Rename(f.Name(), path)
			}
			if werr != nil {
				_ = os.Remove(f.Name())
			}
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
