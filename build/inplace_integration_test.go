package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-build2/docker-build2/build/embedded"
	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded solver reads a local context in place (see
// build/embedded/inplace.go); these tests hold it to what the session
// transfer gives.

// inPlaceContext is a context with what a transfer has to get right:
// nested directories, modes, an empty directory, symlinks inside and out
// of the context, and a .dockerignore with a re-included path.
func inPlaceContext(t *testing.T, dockerfile string) (ctxDir, outside string) {
	t.Helper()
	outside = filepath.Join(t.TempDir(), "host-secret.txt")
	require.NoError(t, os.WriteFile(outside, []byte("host secret"), 0o644))
	ctxDir = writeContext(t, map[string]string{
		"Dockerfile":         dockerfile,
		".dockerignore":      "logs/*\n!logs/keep.log\nsecret.txt\n**/*.tmp\n",
		"a.txt":              "a",
		"sub/deep/b.txt":     "b",
		"sub/deep/x.tmp":     "excluded",
		"logs/drop.log":      "excluded",
		"logs/keep.log":      "kept",
		"secret.txt":         "excluded",
		"scripts/run.sh":     "#!/bin/sh\necho hi\n",
		"sub/deep/dir/c.txt": "c",
	})
	require.NoError(t, os.Chmod(filepath.Join(ctxDir, "scripts", "run.sh"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(ctxDir, "a.txt"), 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(ctxDir, "empty"), 0o750))
	require.NoError(t, os.Symlink("sub/deep/b.txt", filepath.Join(ctxDir, "inlink")))
	require.NoError(t, os.Symlink(outside, filepath.Join(ctxDir, "outlink")))
	require.NoError(t, os.Symlink("../../../../../../../../.."+outside, filepath.Join(ctxDir, "uplink")))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(ctxDir, "sub", "deep"), old, old))
	return ctxDir, outside
}

// tree describes every entry under dir: type, mode, size, modification
// time, symlink target and content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v uid=%d gid=%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			dt, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" mtime=%d %q", fi.ModTime().UnixNano(), dt)
		case rel != ".":
			desc += fmt.Sprintf(" mtime=%d", fi.ModTime().UnixNano())
		}
		out[rel] = desc
		return nil
	}))
	return out
}

// openInPlace opens the embedded builder on root, reading every context
// in place, small ones included.
func openInPlace(t *testing.T, root string) Builder {
	t.Helper()
	b := openBuilder(t, root)
	b.(*single).s.(*embedded.Solver).SetContextMode(embedded.ContextInPlace)
	return b
}

// readInPlace reports whether the solver on root read a context in place:
// it keeps the digests of what it read so.
func readInPlace(t *testing.T, root string) bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "inplace"))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return len(entries) > 0
}

// TestInPlaceMatchesTransfer: what a build copies from the context and
// what a RUN step sees of it are the same read in place as sent through
// the session: .dockerignore applies, symlinks stay symlinks and are
// resolved inside the build, never on the host.
func TestInPlaceMatchesTransfer(t *testing.T) {
	requireSolver(t)
	df := "FROM scratch AS run\nCOPY rootfs/ /\n" +
		"RUN --mount=type=bind,target=/c sh -c 'cat /c/outlink /c/uplink > /seen 2>&1; busybox stat -c \"%n %A %s %Y %u %g\" $(busybox find /c | busybox sort) > /listing; cat /c/inlink >> /seen'\n" +
		"FROM scratch\nCOPY . /ctx/\nCOPY --from=run /seen /listing /\n"
	ctxDir, _ := inPlaceContext(t, df)

	// Each build in a subtest of its own: a solver slot is held until the
	// end of the test that opened the builder.
	build := func(transfer bool) (out, root string) {
		out, root = t.TempDir(), t.TempDir()
		t.Run(fmt.Sprintf("transfer=%v", transfer), func(t *testing.T) {
			b := openBuilder(t, root)
			mode := embedded.ContextInPlace
			if transfer {
				mode = embedded.ContextTransfer
			}
			b.(*single).s.(*embedded.Solver).SetContextMode(mode)
			_, _, err := run(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, Outputs: []Output{{Type: client.ExporterLocal, Dest: out}}})
			require.NoError(t, err)
		})
		return out, root
	}
	inPlace, inPlaceRoot := build(false)
	sent, sentRoot := build(true)
	require.True(t, readInPlace(t, inPlaceRoot), "the context was not read in place")
	require.False(t, readInPlace(t, sentRoot), "the context was read in place despite ContextTransfer")

	got, want := tree(t, inPlace), tree(t, sent)
	// The root of a context sent has the time it was received at.
	for _, m := range []map[string]string{got, want} {
		m["ctx"] = strings.Split(m["ctx"], " mtime=")[0]
		m["listing"] = regexp.MustCompile(`/c drwxr-xr-x 4096 \d+`).ReplaceAllString(m["listing"], "/c drwxr-xr-x 4096")
		// Made by a step of each build.
		for _, p := range []string{"seen", "listing"} {
			m[p] = regexp.MustCompile(` mtime=\d+`).ReplaceAllString(m[p], "")
		}
	}
	assert.Equal(t, want, got)
	for _, p := range []string{"ctx/secret.txt", "ctx/logs/drop.log", "ctx/sub/deep/x.tmp"} {
		assert.NotContains(t, got, p, "excluded by .dockerignore")
	}
	for _, p := range []string{"ctx/logs/keep.log", "ctx/empty", "ctx/scripts/run.sh", "ctx/sub/deep/dir/c.txt"} {
		assert.Contains(t, got, p)
	}
	assert.Contains(t, got["ctx/outlink"], "Lrwxrwxrwx", "a symlink stays a symlink")
	seen := readOut(t, inPlace, "seen")
	assert.NotContains(t, seen, "host secret", "a symlink out of the context was followed on the host")
	assert.Contains(t, seen, "b", "a symlink inside the context resolves")
	assert.NotContains(t, readOut(t, inPlace, "listing"), "drop.log")
}

// TestInPlaceDockerfileDockerignore: <Dockerfile>.dockerignore applies to
// a context read in place, and wins over .dockerignore.
func TestInPlaceDockerfileDockerignore(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	df := "FROM scratch\nCOPY . /ctx/\n"
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile":                      df,
		".dockerignore":                   "a.txt\n",
		"a.txt":                           "a",
		"b.txt":                           "b",
		"build/Dockerfile.b":              df,
		"build/Dockerfile.b.dockerignore": "b.txt\nrootfs\n",
	})
	root := t.TempDir()
	b := openInPlace(t, root)
	out, _, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: filepath.Join(ctxDir, "build"), DockerfileName: "Dockerfile.b"})
	require.NoError(t, err)
	assert.True(t, readInPlace(t, root))
	assert.FileExists(t, filepath.Join(out, "ctx", "a.txt"))
	assert.NoFileExists(t, filepath.Join(out, "ctx", "b.txt"))
	assert.NoDirExists(t, filepath.Join(out, "ctx", "rootfs"))
}

// TestInPlaceCache: a change to a file the build does not use keeps its
// steps cached; a file edited in place, same size and inode, is read anew.
func TestInPlaceCache(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nCOPY a.txt /\nRUN cat /a.txt > /r\n",
		"a.txt":      "aaaa",
		"b.txt":      "b",
	})
	root := t.TempDir()
	b := openInPlace(t, root)
	const step = "cat /a.txt"
	build := func() (string, bool) {
		out, rec, err := runLocal(t, b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir})
		require.NoError(t, err)
		cached, found := rec.cached(step)
		require.True(t, found)
		return readOut(t, out, "r"), cached
	}
	r, cached := build()
	require.Equal(t, "aaaa", r)
	require.False(t, cached)
	require.True(t, readInPlace(t, root))

	require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "b.txt"), []byte("changed"), 0o644))
	r, cached = build()
	assert.Equal(t, "aaaa", r)
	assert.True(t, cached, "a change to an unused file invalidated the cache")

	a := filepath.Join(ctxDir, "a.txt")
	before, err := os.Stat(a)
	require.NoError(t, err)
	f, err := os.OpenFile(a, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("bbbb"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// The same modification time too, as a tool restoring times leaves it.
	require.NoError(t, os.Chtimes(a, before.ModTime(), before.ModTime()))
	r, cached = build()
	assert.Equal(t, "bbbb", r, "a file edited in place was not read anew")
	assert.False(t, cached)
}

// TestInPlaceChangedDuringBuild: a file of the context that changes while
// the build reads it in place fails the build, naming the file.
func TestInPlaceChangedDuringBuild(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN --mount=type=bind,target=/c sh -c 'cat /c/data/a.txt; echo step-has-read; sleep 3'\n",
		"data/a.txt": "before",
	})
	b := openInPlace(t, t.TempDir())

	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		changed := false
		for st := range ch {
			// Once the step read the file, which it says.
			for _, l := range st.Logs {
				if !changed && strings.Contains(string(l.Data), "step-has-read") {
					changed = true
					assert.NoError(t, os.WriteFile(filepath.Join(ctxDir, "data", "a.txt"), []byte("after!"), 0o644))
					t.Logf("changed at %v", time.Now())
				}
			}
		}
	}()
	_, err := Run(t.Context(), b, Options{ContextDir: ctxDir, DockerfileDir: ctxDir, Outputs: []Output{{Type: client.ExporterLocal, Dest: t.TempDir()}}}, ch)
	t.Logf("ended at %v", time.Now())
	close(ch)
	<-done
	require.Error(t, err)
	var changed *ContextChangedError
	require.ErrorAs(t, err, &changed)
	assert.Equal(t, "data/a.txt", changed.Path)
	assert.Contains(t, err.Error(), "data/a.txt")
	assert.True(t, bytes.Contains([]byte(err.Error()), []byte("context")), err.Error())
}
