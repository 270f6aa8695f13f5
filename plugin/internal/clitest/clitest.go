// Package clitest is a fake docker CLI for the command tests of package
// plugin, after docker/cli's internal/test.FakeCli: stdout and stderr are
// buffers, stdin is what the test gives, the docker config (and so the
// named-builder store beside it, in build2/) lives in a temporary
// directory, and the Docker engine is a unix socket nobody listens on, so
// that a ping fails at once as with no engine.
//
// It also holds Golden, the golden-file check of the package's tests, and
// the -update flag that rewrites the golden files.
package clitest

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/docker/cli/cli/streams"
	mobyclient "github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FakeCLI is a command.Cli for tests. The embedded DockerCli satisfies the
// parts of the interface the commands do not use; it is never initialized
// (Initialize is a no-op), so nothing of the user's own docker config,
// contexts or engine is read.
type FakeCLI struct {
	*command.DockerCli

	in         *streams.In
	out, err   *streams.Out
	outBuffer  *bytes.Buffer
	errBuffer  *bytes.Buffer
	configFile *configfile.ConfigFile
	client     mobyclient.APIClient
	endpoint   docker.Endpoint
}

var _ command.Cli = (*FakeCLI)(nil)

// Option changes a FakeCLI as New makes it.
type Option func(*FakeCLI)

// WithIn makes r the CLI's stdin (an empty one by default).
func WithIn(r io.Reader) Option {
	return func(c *FakeCLI) { c.in = streams.NewIn(io.NopCloser(r)) }
}

// New returns a fake CLI whose config file, engine socket and builder
// store are in a fresh t.TempDir().
func New(tb testing.TB, opts ...Option) *FakeCLI {
	tb.Helper()
	dir := tb.TempDir()
	host := "unix://" + filepath.Join(dir, "no-engine.sock")
	apiClient, err := mobyclient.New(mobyclient.WithHost(host))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = apiClient.Close() })

	c := &FakeCLI{
		outBuffer:  new(bytes.Buffer),
		errBuffer:  new(bytes.Buffer),
		in:         streams.NewIn(io.NopCloser(strings.NewReader(""))),
		configFile: configfile.New(filepath.Join(dir, "config", "config.json")),
		client:     apiClient,
		endpoint:   docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: host}},
	}
	c.out = streams.NewOut(c.outBuffer)
	c.err = streams.NewOut(c.errBuffer)
	for _, o := range opts {
		o(c)
	}
	c.DockerCli, err = command.NewDockerCli(
		command.WithInputStream(io.NopCloser(c.in)),
		command.WithOutputStream(c.outBuffer),
		command.WithErrorStream(c.errBuffer),
		command.WithAPIClient(apiClient),
	)
	require.NoError(tb, err)
	return c
}

// Initialize does nothing: the fake is ready as New returns it. The
// standalone root command calls it before every command.
func (*FakeCLI) Initialize(*cliflags.ClientOptions, ...command.CLIOption) error { return nil }

// Client is a Docker API client for an engine that is not there.
func (c *FakeCLI) Client() mobyclient.APIClient { return c.client }

// DockerEndpoint is the socket of that engine.
func (c *FakeCLI) DockerEndpoint() docker.Endpoint { return c.endpoint }

// CurrentVersion is the newest API version, as no engine negotiates one.
func (*FakeCLI) CurrentVersion() string { return mobyclient.MaxAPIVersion }

// ServerInfo is empty: there is no engine to ask.
func (*FakeCLI) ServerInfo() command.ServerInfo { return command.ServerInfo{} }

// BuildKitEnabled is true, as the docker CLI says on Linux with no engine.
func (*FakeCLI) BuildKitEnabled() (bool, error) { return true, nil }

// ContextStore is nil: the fake has no docker contexts.
func (*FakeCLI) ContextStore() store.Store { return nil }

// CurrentContext is the default context.
func (*FakeCLI) CurrentContext() string { return command.DefaultContextName }

// ConfigFile is a docker config file in the test's temporary directory;
// it is written only by the commands that save it.
func (c *FakeCLI) ConfigFile() *configfile.ConfigFile { return c.configFile }

// ConfigDir is the directory of the config file; the named-builder store
// is its build2 subdirectory.
func (c *FakeCLI) ConfigDir() string { return filepath.Dir(c.configFile.Filename) }

// In is the stdin given with WithIn.
func (c *FakeCLI) In() *streams.In { return c.in }

// SetIn replaces stdin.
func (c *FakeCLI) SetIn(in *streams.In) { c.in = in }

// Out is stdout, written to OutBuffer.
func (c *FakeCLI) Out() *streams.Out { return c.out }

// Err is stderr, written to ErrBuffer.
func (c *FakeCLI) Err() *streams.Out { return c.err }

// OutBuffer holds what was written to stdout.
func (c *FakeCLI) OutBuffer() *bytes.Buffer { return c.outBuffer }

// ErrBuffer holds what was written to stderr.
func (c *FakeCLI) ErrBuffer() *bytes.Buffer { return c.errBuffer }

// ResetOutputBuffers empties OutBuffer and ErrBuffer.
func (c *FakeCLI) ResetOutputBuffers() {
	c.outBuffer.Reset()
	c.errBuffer.Reset()
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Golden compares got with testdata/name of the package under test; with
// -update it writes got there first.
func Golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(tb, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(tb, err, "golden file %s missing: run go test -update", p)
	assert.Equal(tb, string(want), string(got), "%s differs: run go test -update if the change is intended", p)
}
