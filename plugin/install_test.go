package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

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
