package plugin

import (
	"context"
	"os"
	"strconv"
	"sync"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newPolicyCommand is "policy": build policies' eval and test, as
// buildx's.
func newPolicyCommand(dockerCLI command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Commands for working with build policies",
	}
	cmd.AddCommand(
		newPolicyEvalCommand(dockerCLI),
		newPolicyTestCommand(dockerCLI),
	)
	return cmd
}

// policyBuilderOptions are the builder a policy command resolves sources
// on: --builder, else the embedded one.
type policyBuilderOptions struct {
	builder string
	state   stateOptions
}

func addPolicyBuilderFlags(flags *pflag.FlagSet, o *policyBuilderOptions) {
	flags.StringVar(&o.builder, "builder", defaultBuilder(), "Resolve sources on a named builder (see builder ls) or the BuildKit daemon at this address instead of the embedded one; $BUILDX_BUILDER, else $BUILDKIT_HOST, sets the default")
	addStateFlags(flags, &o.state)
}

// open opens the builder's source resolver, with the docker config's
// registry credentials; closing it closes the builder.
func (o policyBuilderOptions) open(ctx context.Context, dockerCLI command.Cli) (*policy.Resolver, error) {
	daemonCfg, err := o.state.loadDaemon()
	if err != nil {
		return nil, err
	}
	t := o.state.target(dockerCLI, daemonCfg, nil)
	t.Builder = o.builder
	b, err := build.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return build.PolicyResolver(ctx, b, []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(dockerCLI.ConfigFile()),
	})})
}

// setPolicy parses --policy, and gives policies buildx's signature
// verifier.
func (r *request) setPolicy(dockerCLI command.Cli) error {
	configs, err := buildflags.Policies("--policy", r.raw.policies)
	if err != nil {
		return err
	}
	r.opts.Policy = configs
	r.opts.DefaultPolicy = defaultPolicyEnabled()
	r.opts.PolicyVerifier = policyVerifier(dockerCLI)
	return nil
}

// defaultPolicyEnabled is $BUILDX_DEFAULT_POLICY, read as buildx reads it:
// buildx's built-in policy goes first when it is true; any other value,
// or none, leaves it out.
func defaultPolicyEnabled() bool {
	v, _ := strconv.ParseBool(os.Getenv("BUILDX_DEFAULT_POLICY"))
	return v
}

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
