package plugin

import (
	"sync"

	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/cli/cli/command"
)

// policyVerifier checks image signatures for build policies as buildx
// does, its trust state under the docker config's buildx directory. It is
// set up only when a policy first asks for signatures.
func policyVerifier(dockerCLI command.Cli) buildxpolicy.PolicyVerifierProvider {
	var (
		once sync.Once
		p    buildxpolicy.PolicyVerifierProvider
	)
	return func() (buildxpolicy.PolicyVerifier, error) {
		once.Do(func() { p = buildxpolicy.SignatureVerifier(confutil.NewConfig(dockerCLI)) })
		return p()
	}
}
