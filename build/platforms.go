package build

import (
	"context"
	"fmt"
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
	workers, err := s.Client().ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("listing the builder's platforms: %w", err)
	}
	var have []ocispecs.Platform
	for _, w := range workers {
		have = append(have, w.Platforms...)
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
