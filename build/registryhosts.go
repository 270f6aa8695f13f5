package build

import (
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/docker-build2/docker-build2/build/imageindex"
	"github.com/docker-build2/docker-build2/daemonconfig"
)

// RegistryHosts is how the solver reaches registries, for registry work
// outside a build (imagetools): daemon.json's mirrors (for pulls) and
// insecure registries, the certs.d layout in certsDir, and the registry
// credentials creds gives (none when nil).
func RegistryHosts(d *daemonconfig.Config, certsDir string, creds func(host string) (string, string, error)) docker.RegistryHosts {
	return imageindex.WithCredentials(embedded.RegistryHosts(d, certsDir), credentials(creds))
}
