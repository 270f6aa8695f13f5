package plugin

import (
	"context"
	"errors"
	"testing"

	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChooseBuilder(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	engine := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return v, nil }
	}
	noEngine := func(context.Context) (string, error) { return "", errors.New("no engine") }
	tests := []struct {
		name    string
		env     string
		envSet  bool
		daemon  *bool
		ping    func(context.Context) (string, error)
		want    bool
		reason  string
		wantErr string
	}{
		{name: "default with no engine", ping: noEngine, want: true, reason: "default"},
		{name: "engine prefers buildkit", ping: engine("2"), want: true},
		{name: "engine prefers legacy", ping: engine("1"), want: false, reason: "legacy"},
		{name: "daemon.json off beats engine", daemon: &no, ping: engine("2"), want: false, reason: "features.buildkit=false in daemon.json"},
		{name: "daemon.json on beats engine", daemon: &yes, ping: engine("1"), want: true},
		{name: "env on beats daemon.json", env: "1", envSet: true, daemon: &no, ping: engine("1"), want: true, reason: "DOCKER_BUILDKIT=1"},
		{name: "env off beats everything", env: "false", envSet: true, daemon: &yes, ping: engine("2"), want: false, reason: "DOCKER_BUILDKIT=false"},
		{name: "empty env is unset", env: "", envSet: true, daemon: &no, ping: noEngine, want: false},
		{name: "bad env", env: "maybe", envSet: true, ping: noEngine, wantErr: `DOCKER_BUILDKIT environment variable expects boolean value: "maybe"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := &daemonconfig.Config{Features: daemonconfig.Features{BuildKit: tc.daemon}}
			got, err := chooseBuilder(t.Context(), tc.env, tc.envSet, "daemon.json", cfg, tc.ping)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.buildKit)
			assert.Contains(t, got.reason, tc.reason)
		})
	}
}

func TestLegacyArgs(t *testing.T) {
	t.Parallel()
	dockerCLI := clitest.New(t)
	cmd := NewRootCmd(Name, false, dockerCLI)
	require.NoError(t, cmd.ParseFlags([]string{
		"-t", "a:1", "-t", "b:2", "--build-arg", "X=1", "--no-cache", "-f", "D", "--root", "/x", "--progress", "plain", "--isolation", "default",
		"-m", "1g", "--cpu-quota", "50000", "--shm-size", "64m", "--ulimit", "nofile=1:2", "--ulimit", "nproc=3", "--cgroup-parent", "p",
	}))
	args, err := legacyArgs(cmd.Flags())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"--tag=a:1", "--tag=b:2", "--build-arg=X=1", "--no-cache=true", "--file=D", "--isolation=default",
		"--memory=1g", "--cpu-quota=50000", "--shm-size=64m", "--ulimit=nofile=1:2", "--ulimit=nproc=3", "--cgroup-parent=p",
	}, args, "the engine's legacy builder has these flags too")
}
