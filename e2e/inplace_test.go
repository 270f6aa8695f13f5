package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded builder reads a local context in place, a remote buildkitd
// receives it through the session: the results must be the same bytes.

// inPlaceFiles is a context with excludes of both kinds of ignore file,
// nested directories, modes and symlinks in and out of the context.
func inPlaceFiles(t *testing.T) string {
	t.Helper()
	outside := filepath.Join(t.TempDir(), "host-only.txt")
	require.NoError(t, os.WriteFile(outside, []byte("HOST-ONLY-CONTENT"), 0o644))
	dir := writeFiles(t, bulk(map[string]string{
		"Dockerfile":                  "FROM scratch\nCOPY . /\n",
		".dockerignore":               "*.log\n!keep.log\nprivate/\n",
		"alt/Dockerfile":              "FROM scratch\nCOPY . /\n",
		"alt/Dockerfile.dockerignore": "a.txt\nalt\n",
		"a.txt":                       "a",
		"drop.log":                    "excluded",
		"keep.log":                    "kept",
		"private/key":                 "excluded",
		"src/deep/b.txt":              "b",
		"src/deep/tool.sh":            "#!/bin/sh\n",
	}))
	require.NoError(t, os.Chmod(filepath.Join(dir, "src", "deep", "tool.sh"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "outlink")))
	require.NoError(t, os.Symlink("src/deep/b.txt", filepath.Join(dir, "inlink")))
	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, p := range []string{"a.txt", "src/deep", "src"} {
		require.NoError(t, os.Chtimes(filepath.Join(dir, p), old, old))
	}
	return dir
}

// bulk adds to files enough of them for the embedded builder to read the
// context in place rather than send it (it sends a context of fewer than
// a thousand entries and a few megabytes).
func bulk(files map[string]string) map[string]string {
	for n := range 1100 {
		files[fmt.Sprintf("bulk/f%04d", n)] = fmt.Sprint(n)
	}
	return files
}

// tarHeaders lists a tarball's entries: name, type and link target.
func tarHeaders(t *testing.T, dt []byte) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(dt))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out[h.Name] = h
	}
}

func TestInPlaceContextMatchesRemote(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	startBuildkitd(t, "unix://"+sock)
	ctx := inPlaceFiles(t)
	for _, tc := range []struct {
		name string
		args []string
		gone []string
	}{
		{".dockerignore", nil, []string{"drop.log", "private/key", "private/"}},
		{"<Dockerfile>.dockerignore", []string{"-f", filepath.Join(ctx, "alt", "Dockerfile")}, []string{"a.txt", "alt/Dockerfile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			embedded, remote := filepath.Join(dir, "embedded.tar"), filepath.Join(dir, "remote.tar")
			state := t.TempDir()
			mustSucceed(t, build2(t, append(append([]string{"--root", state, "-o", "type=tar,dest=" + embedded}, tc.args...), ctx)...))
			assert.DirExists(t, filepath.Join(state, "inplace"), "the embedded builder did not read the context in place")
			mustSucceed(t, build2(t, append(append([]string{"--builder", "unix://" + sock, "-o", "type=tar,dest=" + remote}, tc.args...), ctx)...))
			a, err := os.ReadFile(embedded)
			require.NoError(t, err)
			b, err := os.ReadFile(remote)
			require.NoError(t, err)
			entries := tarHeaders(t, a)
			assert.Equal(t, tarHeaders(t, b), entries)
			assert.True(t, bytes.Equal(a, b), "the embedded builder's tarball differs from the remote one's")
			for _, p := range tc.gone {
				assert.NotContains(t, entries, p, "excluded")
			}
			if h, ok := entries["outlink"]; assert.True(t, ok) {
				assert.Equal(t, byte(tar.TypeSymlink), h.Typeflag, "a symlink out of the context stays a symlink")
			}
			assert.NotContains(t, string(a), "HOST-ONLY-CONTENT", "a symlink out of the context was followed")
		})
	}
}

// TestInPlaceContextEdits: a file that changes while the build reads the
// context fails the build, naming the file; a change to a file no step
// uses keeps the steps cached, in a new process.
func TestInPlaceContextEdits(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ctx := writeFiles(t, bulk(map[string]string{
		"Dockerfile":       dockerfile("FROM {{BASE}}\nCOPY used.txt /\nRUN cat /used.txt > /r\nRUN --mount=type=bind,target=/c cat /c/watched/file.txt\n"),
		"used.txt":         "used",
		"other.txt":        "other",
		"watched/file.txt": "before\n",
	}))
	r := mustSucceed(t, build2(t, "--root", state, "--progress=plain", "-o", t.TempDir(), ctx))
	assert.DirExists(t, filepath.Join(state, "inplace"), "the context was not read in place")
	assert.NotRegexp(t, `(?m)RUN cat /used.txt > /r\n#\d+ CACHED`, r.stderr)

	require.NoError(t, os.WriteFile(filepath.Join(ctx, "other.txt"), []byte("changed"), 0o644))
	r = mustSucceed(t, build2(t, "--root", state, "--progress=plain", "-o", t.TempDir(), ctx))
	assert.Regexp(t, `(?m)RUN cat /used.txt > /r\n#\d+ CACHED`, r.stderr, "an unrelated change invalidated the cache")

	// A step that waits while the file changes under it.
	marker := uniqueMarker()
	df := dockerfile("FROM {{BASE}}\nRUN --mount=type=bind,target=/c sh -c 'cat /c/watched/file.txt; echo " + marker + "; sleep 4'\n")
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644))
	p := startDocker(t, []string{"build2", "--root", state, "--progress=plain", "-o", t.TempDir(), ctx})
	waitForOutput(t, p, stepOutput(marker))
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "watched", "file.txt"), []byte("after!"), 0o644))
	code, ok := p.wait(2 * time.Minute)
	require.True(t, ok, "the build did not end")
	assert.Equal(t, 1, code, p.out.String())
	assert.Contains(t, p.out.String(), "watched/file.txt", "the error names the file")
	assert.Contains(t, p.out.String(), "changed")
}

// TestInPlaceRootless: the rootless builder, in its user namespace, reads
// the user's context in place too, .dockerignore applied, and gives the
// files the owners the session transfer gives them.
func TestInPlaceRootless(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	ctx := u.files(t, bulk(map[string]string{
		"Dockerfile":    "FROM scratch\nCOPY . /ctx/\n",
		".dockerignore": "private/\n",
		"a.txt":         "a",
		"private/key":   "excluded",
		"sub/b.txt":     "b",
	}))
	dir, err := os.MkdirTemp(u.home, "out-")
	require.NoError(t, err)
	u.chown(t, dir)
	inPlace, sent := filepath.Join(dir, "inplace"), filepath.Join(dir, "sent")
	state := filepath.Join(u.home, "state")
	var entries []os.DirEntry
	noCrash(t, mustSucceed(t, docker(t, []string{"build2", "--root", state, "-o", "type=local,dest=" + inPlace, ctx}, u.as())))
	entries, err = os.ReadDir(filepath.Join(state, "inplace"))
	require.NoError(t, err, "the rootless builder did not read the context in place")
	assert.NotEmpty(t, entries)
	assert.FileExists(t, filepath.Join(inPlace, "ctx", "sub", "b.txt"))
	assert.NoDirExists(t, filepath.Join(inPlace, "ctx", "private"))

	// The same build on a remote buildkitd, which receives the context.
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	startBuildkitd(t, "unix://"+sock)
	mustSucceed(t, build2(t, "--builder", "unix://"+sock, "-o", "type=local,dest="+sent, ctx))
	for _, p := range []string{"ctx/a.txt", "ctx/sub/b.txt", "ctx/sub"} {
		a, err := os.Lstat(filepath.Join(inPlace, p))
		require.NoError(t, err)
		b, err := os.Lstat(filepath.Join(sent, p))
		require.NoError(t, err)
		assert.Equal(t, b.Mode(), a.Mode(), p)
		assert.Equal(t, b.ModTime(), a.ModTime(), p)
		assert.Equal(t, b.Size(), a.Size(), p)
	}
}
