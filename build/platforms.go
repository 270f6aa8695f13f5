package build

import (
	"fmt"
	"strings"
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
	return fmt.Sprintf("platform %s is not supported here (this builder runs %s): install QEMU user emulation (Debian/Ubuntu: apt-get install qemu-user-static binfmt-support) or build for a supported platform",
		e.Platform, strings.Join(e.Supported, ", "))
}
