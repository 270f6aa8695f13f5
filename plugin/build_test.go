package plugin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/docker/cli/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// execute runs the standalone command tree on dockerCLI with args, cobra's
// own output going to the fake's buffers.
func execute(t *testing.T, dockerCLI *clitest.FakeCLI, args ...string) error {
	t.Helper()
	cmd := NewRootCmd(Name, false, dockerCLI)
	cmd.SetArgs(args)
	cmd.SetIn(dockerCLI.In())
	cmd.SetOut(dockerCLI.OutBuffer())
	cmd.SetErr(dockerCLI.ErrBuffer())
	return cmd.ExecuteContext(t.Context())
}

// requireUsageErr checks that err is a usage error (exit 125) with a
// cause, as usageErr makes them, whose message contains each of want.
func requireUsageErr(t *testing.T, err error, want ...string) {
	t.Helper()
	require.Error(t, err)
	var se cli.StatusError
	require.ErrorAs(t, err, &se, "%v is not a cli.StatusError", err)
	assert.Equal(t, 125, se.StatusCode, "exit code of %q", err)
	require.Error(t, se.Cause, "usage error %q has no cause", err)
	assert.Empty(t, se.Status, "usage errors keep their text in the cause")
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

// guardBuilder stores a named builder whose only node is a socket nobody
// listens on, and makes it the current builder of dockerCLI's store: a
// build that gets past validation fails on it instead of starting the
// embedded solver.
func guardBuilder(t *testing.T, dockerCLI *clitest.FakeCLI) {
	t.Helper()
	s := builderStore(dockerCLI)
	require.NoError(t, s.Create(&nodes.Builder{Name: "guard", Nodes: []nodes.Node{
		{Name: "dead", Endpoint: "unix://" + filepath.Join(t.TempDir(), "no-buildkitd.sock")},
	}}))
	require.NoError(t, s.Use("guard"))
}

// TestBuildFlagErrors: every bad flag value or combination fails before
// any builder is opened, as a usage error (exit 125) naming the flag.
func TestBuildFlagErrors(t *testing.T) {
	tmp := t.TempDir()
	contextDir := filepath.Join(tmp, "context")
	require.NoError(t, os.MkdirAll(contextDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(contextDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	existingDir := filepath.Join(tmp, "a-directory")
	require.NoError(t, os.MkdirAll(existingDir, 0o755))
	missingDir := filepath.Join(tmp, "missing")

	tests := []struct {
		name     string
		args     []string
		buildKit string // DOCKER_BUILDKIT; "1" unless set
		flag     string // the flag the message names
		want     string // more of the message
	}{
		{name: "bad progress", args: []string{"--progress", "fancy"}, flag: "--progress", want: `invalid progress mode "fancy"`},
		{name: "bad output type", args: []string{"-o", "type=bogus,dest=x"}, flag: "--output", want: `unknown type "bogus"`},
		{name: "output without dest", args: []string{"-o", "type=local"}, flag: "--output", want: "type=local needs dest=PATH"},
		{name: "push without tag", args: []string{"--push"}, flag: "--push", want: "-t/--tag"},
		{name: "registry output without name", args: []string{"-o", "type=registry"}, flag: "--output", want: "type=registry needs name=REF or -t/--tag"},
		{name: "pushed image output without name", args: []string{"-o", "type=image,push=true"}, flag: "--output", want: "type=image,push=true needs name=REF or -t/--tag"},
		{name: "two outputs to stdout", args: []string{"-o", "-", "-o", "type=oci,dest=-"}, flag: "--output", want: "only one output can go to stdout"},
		{name: "tar dest is a directory", args: []string{"-o", "type=tar,dest=" + existingDir}, flag: "--output", want: "is a directory; type=tar writes a file"},
		{name: "output directory missing", args: []string{"-o", "type=docker,dest=" + filepath.Join(missingDir, "img.tar")}, flag: "--output", want: "does not exist"},
		{name: "iidfile directory missing", args: []string{"--iidfile", filepath.Join(missingDir, "iid")}, flag: "--iidfile", want: "does not exist"},
		{name: "metadata file is a directory", args: []string{"--metadata-file", existingDir}, flag: "--metadata-file", want: "is a directory"},
		{name: "dockerfile missing", args: []string{"-f", filepath.Join(missingDir, "Dockerfile")}, flag: "--file", want: "not found"},
		{name: "dockerfile is a directory", args: []string{"-f", existingDir}, flag: "--file", want: "is a directory, not a file"},
		{name: "bad tag", args: []string{"-t", "Upper/Case"}, flag: "--tag", want: "must be lowercase"},
		{name: "bad platform syntax", args: []string{"--platform", "linux//amd64"}, flag: "--platform", want: `"linux//amd64"`},
		{name: "bad platform in a list", args: []string{"--platform", "linux/amd64,linux/arm64/"}, flag: "--platform", want: `"linux/arm64/"`},
		{name: "bad network", args: []string{"--network", "bridge"}, flag: "--network", want: `"bridge" is not supported`},
		{name: "bad add-host", args: []string{"--add-host", "nohost"}, flag: "--add-host", want: "host:ip"},
		{name: "add-host without IP", args: []string{"--add-host", "db:notanip"}, flag: "--add-host", want: "is not an IP address"},
		{name: "build-arg without name", args: []string{"--build-arg", "=x"}, flag: "--build-arg", want: "the name before \"=\" is empty"},
		{name: "label without name", args: []string{"--label", "=x"}, flag: "--label", want: "the name before \"=\" is empty"},
		{name: "cache-from unknown type", args: []string{"--cache-from", "type=s4,ref=x"}, flag: "--cache-from", want: `unknown cache type "s4"`},
		{name: "cache-to unknown type", args: []string{"--cache-to", "type=gcs"}, flag: "--cache-to", want: `unknown cache type "gcs"`},
		{name: "secret unknown key", args: []string{"--secret", "id=a,colour=red"}, flag: "--secret", want: `unknown key "colour"`},
		{name: "ssh empty id", args: []string{"--ssh", "=/run/agent.sock"}, flag: "--ssh", want: "the id before \"=\" is empty"},
		{name: "bad shm-size", args: []string{"--shm-size", "lots"}, flag: "--shm-size", want: "not a size in bytes"},
		{name: "bad ulimit", args: []string{"--ulimit", "nofile=2048:1024"}, flag: "--ulimit", want: "soft limit must be less than or equal to hard limit"},
		{name: "unknown ulimit", args: []string{"--ulimit", "files=1"}, flag: "--ulimit", want: "invalid ulimit type: files"},
		{name: "bad memory", args: []string{"-m", "lots"}, flag: "--memory", want: "not a size in bytes"},
		{name: "memory-swap without memory", args: []string{"--memory-swap", "1g"}, flag: "--memory-swap", want: "needs a memory limit"},
		{name: "bad cpu-shares", args: []string{"-c", "-1"}, flag: "--cpu-shares", want: "relative weight"},
		{name: "bad cpu-period", args: []string{"--cpu-period", "5"}, flag: "--cpu-period", want: "microseconds"},
		{name: "bad cpuset-cpus", args: []string{"--cpuset-cpus", "a-b"}, flag: "--cpuset-cpus", want: "not a list of CPUs"},
		{name: "unknown resource", args: []string{"--resource", "gpu=1"}, flag: "--resource", want: `unknown resource "gpu"`},
		{name: "attest without type", args: []string{"--attest", "mode=max"}, flag: "--attest", want: "attestation type not specified"},
		{name: "unknown attest type", args: []string{"--attest", "type=vex"}, flag: "--attest", want: `unknown attestation type "vex"`},
		{name: "bad provenance mode", args: []string{"--provenance", "mode=full"}, flag: "--provenance", want: "provenance mode is min or max"},
		{name: "bad sbom", args: []string{"--sbom", "maybe"}, flag: "--sbom", want: `"maybe" is not KEY=VALUE`},
		{name: "bad annotation type", args: []string{"--annotation", "bogus:k=v"}, flag: "--annotation", want: `unknown type "bogus"`},
		{name: "annotation without =", args: []string{"--annotation", "k"}, flag: "--annotation", want: `no "="`},
		{name: "index annotation of one platform", args: []string{"--annotation", "index:k=v"}, flag: "--annotation", want: "index annotations not supported for single platform export"},
		{name: "annotation of a platform not built", args: []string{"--platform", "linux/amd64,linux/arm64", "--annotation", "manifest[linux/riscv64]:k=v", "-o", "type=oci,dest=" + filepath.Join(tmp, "img.tar")}, flag: "--annotation", want: "the build has no platform linux/riscv64"},
		{name: "annotation without BuildKit", args: []string{"--annotation", "k=v"}, buildKit: "0", flag: "--annotation", want: "needs BuildKit"},
		{name: "resource without BuildKit", args: []string{"--resource", "memory=1g"}, buildKit: "0", flag: "--resource", want: "needs BuildKit"},
		{name: "builder without BuildKit", args: []string{"--builder", "unix:///run/buildkit/buildkitd.sock"}, buildKit: "0", flag: "--builder", want: "needs BuildKit"},
		{name: "output without BuildKit", args: []string{"-o", "type=local,dest=out"}, buildKit: "0", flag: "--output", want: "DOCKER_BUILDKIT=0"},
		{name: "bad DOCKER_BUILDKIT", buildKit: "maybe", flag: "DOCKER_BUILDKIT", want: `"maybe"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			daemonConfig := filepath.Join(t.TempDir(), "daemon.json") // does not exist
			buildKit := tc.buildKit
			if buildKit == "" {
				buildKit = "1"
			}
			t.Setenv("DOCKER_BUILDKIT", buildKit)
			t.Setenv("BUILDKIT_HOST", "")
			t.Setenv("BUILDKIT_PROGRESS", "")
			t.Setenv("DOCKER_DEFAULT_PLATFORM", "")
			t.Setenv("DOCKER_BUILD2_ROOT", root)
			t.Setenv("DOCKER_BUILD2_DAEMON_CONFIG", daemonConfig)
			t.Setenv("DOCKER_BUILD2_CERTS_DIR", t.TempDir())
			dockerCLI := clitest.New(t)
			guardBuilder(t, dockerCLI)

			args := append([]string{"build", "--root", root, "--daemon-config", daemonConfig}, tc.args...)
			err := execute(t, dockerCLI, append(args, contextDir)...)

			requireUsageErr(t, err, tc.flag, tc.want)
			assert.Empty(t, dockerCLI.OutBuffer().String(), "nothing on stdout")
			entries, rerr := os.ReadDir(root)
			require.NoError(t, rerr)
			assert.Empty(t, entries, "the embedded solver's root is untouched")
		})
	}
}

// TestBuildFlagErrorsGuard: the build of TestBuildFlagErrors with valid
// flags gets past validation and stops at the guard builder, which no
// daemon serves: so each error there comes from the flag under test, and
// no case can start the embedded solver.
func TestBuildFlagErrorsGuard(t *testing.T) {
	contextDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(contextDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	root := t.TempDir()
	daemonConfig := filepath.Join(t.TempDir(), "daemon.json")
	t.Setenv("DOCKER_BUILDKIT", "1")
	t.Setenv("BUILDKIT_HOST", "")
	t.Setenv("BUILDKIT_PROGRESS", "")
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "")
	dockerCLI := clitest.New(t)
	guardBuilder(t, dockerCLI)

	err := execute(t, dockerCLI, "build", "--root", root, "--daemon-config", daemonConfig, "--progress", "plain",
		"-t", "example.com/app:1", "--build-arg", "A=1", "--label", "l=v", "--network", "none", "--add-host", "db:10.0.0.2",
		"--cache-from", "example.com/app:cache", "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "img.tar"),
		"--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--cgroup-parent", "builds", "-m", "1g", "--memory-swap", "-1",
		"--cpu-shares", "512", "--resource", "cpu-quota=50000", "--annotation", "manifest:org.example=v", "--annotation", "index:a=b",
		"--build-arg", "BUILDKIT_MULTI_PLATFORM=1",
		"--iidfile", filepath.Join(t.TempDir(), "iid"), contextDir)
	require.Error(t, err)
	require.ErrorContains(t, err, `builder "guard": no reachable node serves the build`)
	var se cli.StatusError
	assert.False(t, errors.As(err, &se) && se.StatusCode == 125, "valid flags are no usage error: %v", err)
	entries, rerr := os.ReadDir(root)
	require.NoError(t, rerr)
	assert.Empty(t, entries, "the embedded solver's root is untouched")
}
