package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallUninstall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"auths":{"r.example":{"auth":"eA=="}},"plugins":{"x":{"k":"v"}},"detachKeys":"ctrl-x"}`), 0o640))

	var out bytes.Buffer
	require.NoError(t, runInstall(&out, path, installOptions{}))
	assert.Contains(t, out.String(), "docker build now uses docker-build2")

	var cfg map[string]any
	dt, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(dt, &cfg))
	assert.Equal(t, map[string]any{"builder": "build2"}, cfg["aliases"])
	assert.Equal(t, map[string]any{"x": map[string]any{"k": "v"}}, cfg["plugins"], "other keys kept")
	assert.Equal(t, "ctrl-x", cfg["detachKeys"])
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "file mode kept")

	out.Reset()
	require.NoError(t, runInstall(&out, path, installOptions{}))
	assert.Contains(t, out.String(), "already uses docker-build2")
	dt2, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(dt), string(dt2), "second install is a no-op")

	require.NoError(t, runUninstall(&out, path))
	dt, err = os.ReadFile(path)
	require.NoError(t, err)
	cfg = nil
	require.NoError(t, json.Unmarshal(dt, &cfg))
	assert.NotContains(t, cfg, "aliases")
	assert.Contains(t, cfg, "auths")
}

func TestInstallRefusesOtherBuilder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"aliases":{"builder":"buildx"}}`), 0o600))
	var out bytes.Buffer

	err := runInstall(&out, path, installOptions{})
	require.ErrorContains(t, err, `aliases.builder is already "buildx"`)
	require.ErrorContains(t, err, "--force")

	require.NoError(t, runUninstall(&out, path))
	dt, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(dt), "buildx", "uninstall leaves another builder alone")

	require.NoError(t, runInstall(&out, path, installOptions{force: true}))
	dt, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(dt), `"builder": "build2"`)
}

func TestInstallCreatesConfig(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new")
	var out bytes.Buffer
	path := filepath.Join(dir, "config.json")
	require.NoError(t, runInstall(&out, path, installOptions{}))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestInstallBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"aliases":["x"]}`), 0o600))
	var out bytes.Buffer
	err := runInstall(&out, path, installOptions{})
	require.ErrorContains(t, err, `key "aliases" must be an object`)
}

func TestPruneInfo(t *testing.T) {
	t.Parallel()
	pi, err := pruneInfo([]string{"until=24h", "type=regular", "id=abc", "description~=foo"})
	require.NoError(t, err)
	assert.Equal(t, "24h0m0s", pi.KeepDuration.String())
	assert.Equal(t, []string{"description~=foo,id~=abc,type==regular"}, pi.Filter)

	for _, bad := range [][]string{{"until=soon"}, {"=x"}, {"until=1h", "unused-for=2h"}, {"type=a", "type=b"}} {
		_, err := pruneInfo(bad)
		require.Error(t, err, bad)
	}
}

// TestInstallCommands runs install and uninstall through the command tree:
// they edit the config file the docker CLI reads (the fake's, in a
// temporary directory).
func TestInstallCommands(t *testing.T) {
	t.Parallel()
	aliases := func(t *testing.T, path string) any {
		t.Helper()
		dt, err := os.ReadFile(path)
		require.NoError(t, err)
		var cfg map[string]any
		require.NoError(t, json.Unmarshal(dt, &cfg))
		return cfg["aliases"]
	}
	tests := []struct {
		name    string
		initial string // config.json before; "" for none
		args    [][]string
		wantOut string // stdout of the last command
		wantErr string // error of the last command
		want    any    // config.json's aliases after
	}{
		{name: "install into a new config", args: [][]string{{"install"}}, wantOut: "docker build now uses docker-build2 (aliases.builder in ", want: map[string]any{"builder": "build2"}},
		{name: "install twice", args: [][]string{{"install"}, {"install"}}, wantOut: "docker build already uses docker-build2", want: map[string]any{"builder": "build2"}},
		{name: "install keeps other aliases", initial: `{"aliases":{"compose":"x"}}`, args: [][]string{{"install"}}, wantOut: "now uses", want: map[string]any{"builder": "build2", "compose": "x"}},
		{name: "install refuses another builder", initial: `{"aliases":{"builder":"buildx"}}`, args: [][]string{{"install"}}, wantErr: `aliases.builder is already "buildx": run "docker build2 install --force"`, want: map[string]any{"builder": "buildx"}},
		{name: "install --force replaces it", initial: `{"aliases":{"builder":"buildx"}}`, args: [][]string{{"install", "--force"}}, wantOut: "now uses", want: map[string]any{"builder": "build2"}},
		{name: "uninstall after install", args: [][]string{{"install"}, {"uninstall"}}, wantOut: "docker build uses the default builder again", want: nil},
		{name: "uninstall keeps other aliases", initial: `{"aliases":{"builder":"build2","compose":"x"}}`, args: [][]string{{"uninstall"}}, wantOut: "default builder again", want: map[string]any{"compose": "x"}},
		{name: "uninstall leaves another builder", initial: `{"aliases":{"builder":"buildx"}}`, args: [][]string{{"uninstall"}}, wantOut: `aliases.builder is "buildx", not docker-build2: left unchanged`, want: map[string]any{"builder": "buildx"}},
		{name: "uninstall with nothing installed", initial: `{}`, args: [][]string{{"uninstall"}}, wantOut: "nothing to do", want: nil},
		{name: "install takes no arguments", initial: `{}`, args: [][]string{{"install", "now"}}, wantErr: "accepts no arguments", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dockerCLI := clitest.New(t)
			path := dockerCLI.ConfigFile().Filename
			if tc.initial != "" {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
				require.NoError(t, os.WriteFile(path, []byte(tc.initial), 0o600))
			}
			var err error
			for i, args := range tc.args {
				dockerCLI.ResetOutputBuffers()
				err = execute(t, dockerCLI, args...)
				if i < len(tc.args)-1 {
					require.NoError(t, err, args)
				}
			}
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
				assert.Contains(t, dockerCLI.OutBuffer().String(), tc.wantOut)
				assert.Contains(t, dockerCLI.OutBuffer().String(), path, "the message names the file")
			}
			assert.Equal(t, tc.want, aliases(t, path))
		})
	}
}
