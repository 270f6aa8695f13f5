package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBakeAllow(t *testing.T) {
	root := t.TempDir()
	wd := filepath.Join(root, "project")
	require.NoError(t, os.MkdirAll(filepath.Join(wd, "sub"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "shared"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(root, "shared"), filepath.Join(wd, "link")))
	wd = resolve(wd)
	need := access{
		read:  []string{filepath.Join(wd, "sub"), filepath.Join(wd, "link"), filepath.Join(root, "shared", "x")},
		write: []string{filepath.Join(root, "out", "new"), filepath.Join(root, "both")},
	}
	need.read = append(need.read, filepath.Join(root, "both"))

	a, err := parseBakeAllow(nil)
	require.NoError(t, err)
	err = a.check(need, wd, true)
	require.EqualError(t, err, `additional privileges requested: pass "--allow=fs=../both --allow=fs.read=../shared --allow=fs.write=../out/new" to grant requested privileges`,
		"a symlink out of the working directory is outside it; a path once, under its shortest parent")
	require.NoError(t, a.check(need, wd, false), "BUILDX_BAKE_ENTITLEMENTS_FS=0")

	a, err = parseBakeAllow([]string{"fs.read=" + filepath.Join(root, "shared"), "fs=" + filepath.Join(root, "both"), "fs.write=" + root})
	require.NoError(t, err)
	require.NoError(t, a.check(need, wd, true))

	a, err = parseBakeAllow([]string{"fs=*"})
	require.NoError(t, err)
	require.NoError(t, a.check(need, wd, true))

	a, err = parseBakeAllow(nil)
	require.NoError(t, err)
	err = a.check(access{networkHost: true, ssh: true}, wd, true)
	require.EqualError(t, err, `additional privileges requested: pass "--allow=network.host --allow=ssh" to grant requested privileges`)

	_, err = parseBakeAllow([]string{"fs.exec=/x"})
	require.ErrorContains(t, err, `--allow "fs.exec=/x": unknown entitlement`)
}
