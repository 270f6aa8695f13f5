package e2e

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/go-units"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFromImageBuiltHere: an image built with -t is kept in the state
// dir's image store, and a later build's FROM and COPY --from find it
// there before the registry, with or without a Docker engine; --pull asks
// the registry only.
func TestFromImageBuiltHere(t *testing.T) {
	requireE2E(t)
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []runOpt
	}{
		{"no engine", func(*testing.T) []runOpt { return nil }},
		{"engine", func(t *testing.T) []runOpt {
			t.Helper()
			return []runOpt{withEngine(requireEngine(t))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			state := t.TempDir()
			name := "e2e-local-base-" + filepath.Base(state)
			base := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo from-the-local-base > /base.txt\n")})
			mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-t", name, base}, opts...))

			app := writeFiles(t, map[string]string{"Dockerfile.app": "FROM " + name + "\nRUN cat /base.txt > /app.txt\nFROM scratch\nCOPY --from=0 /app.txt /\nCOPY --from=" + name + " /base.txt /\n"})
			out := t.TempDir()
			r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-f", filepath.Join(app, "Dockerfile.app"), "-o", out, app}, opts...))
			assert.Equal(t, "from-the-local-base", readFile(t, filepath.Join(out, "app.txt")), r.String())
			assert.Equal(t, "from-the-local-base", readFile(t, filepath.Join(out, "base.txt")))

			// --pull goes to the registry, which has no such image.
			r = docker(t, []string{"build2", "--root", state, "--progress=plain", "--pull", "-f", filepath.Join(app, "Dockerfile.app"), "-o", t.TempDir(), app}, opts...)
			assert.Equal(t, 1, r.code, r.String())
			assert.Contains(t, r.stderr, name)
			noCrash(t, r)
		})
	}
}

// TestImagesAndRmi: images lists what the store keeps by the names docker
// shows, -o type=image stores too, a multi-platform image is kept as one
// entry, and rmi removes a name so that FROM no longer finds it.
func TestImagesAndRmi(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo kept > /k.txt\n")})
	mustSucceed(t, build2(t, "--root", state, "-t", "e2e-kept:1", "-t", "example.com/team/kept:2", ctx))
	mustSucceed(t, build2(t, "--root", state, "-o", "type=image,name=e2e-output-image", ctx))

	r := mustSucceed(t, docker(t, []string{"build2", "images", "--root", state}))
	assert.Regexp(t, `(?m)^REPOSITORY\s+TAG\s+DIGEST\s+CREATED\s+SIZE$`, r.stdout)
	assert.Regexp(t, `(?m)^e2e-kept\s+1\s+sha256:[0-9a-f]{12}\s+`, r.stdout)
	assert.Regexp(t, `(?m)^example.com/team/kept\s+2\s+sha256:`, r.stdout)
	assert.Regexp(t, `(?m)^e2e-output-image\s+latest\s+sha256:`, r.stdout)
	assert.NotContains(t, r.stdout, "@sha256", "name@digest records are not listed")
	r = mustSucceed(t, docker(t, []string{"build2", "images", "-q", "--root", state}))
	assert.Contains(t, r.stdout, "e2e-kept:1\n")

	r = mustSucceed(t, docker(t, []string{"build2", "rmi", "--root", state, "e2e-kept:1"}))
	assert.Equal(t, "Untagged: e2e-kept:1\n", r.stdout)
	r = mustSucceed(t, docker(t, []string{"build2", "images", "--root", state}))
	assert.NotContains(t, r.stdout, "e2e-kept ")
	assert.Contains(t, r.stdout, "example.com/team/kept")
	app := writeFiles(t, map[string]string{"Dockerfile": "FROM e2e-kept:1\n"})
	r = build2(t, "--root", state, "--progress=plain", "-o", t.TempDir(), app)
	assert.Equal(t, 1, r.code, "FROM no longer finds it: %s", r.String())

	r = docker(t, []string{"build2", "rmi", "--root", state, "e2e-never-built"})
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "no such image: e2e-never-built")
	r = docker(t, []string{"build2", "rmi", "--root", state, "Bad:Name"})
	assert.Equal(t, 125, r.code, r.String())
	noCrash(t, r)
}

// TestMultiPlatformImageKept: a two-platform image is kept as one index,
// and a build for either platform finds its variant.
func TestMultiPlatformImageKept(t *testing.T) {
	requireArm64(t)
	state := t.TempDir()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN uname -m > /arch.txt\n")})
	mustSucceed(t, build2(t, "--root", state, "--platform", "linux/amd64,linux/arm64", "-t", "e2e-multi", ctx))
	r := mustSucceed(t, docker(t, []string{"build2", "images", "-q", "--root", state}))
	assert.Equal(t, "e2e-multi:latest\n", r.stdout)
	app := writeFiles(t, map[string]string{"Dockerfile": "FROM e2e-multi\nFROM scratch\nCOPY --from=0 /arch.txt /\n"})
	for platform, arch := range map[string]string{"linux/amd64": "x86_64", "linux/arm64": "aarch64"} {
		out := t.TempDir()
		mustSucceed(t, build2(t, "--root", state, "--platform", platform, "-o", out, app))
		assert.Equal(t, arch, readFile(t, filepath.Join(out, "arch.txt")), platform)
	}
}

// TestFromImageOnlyInEngine: an image only the Docker engine has is usable
// in FROM, as on the engine's own builder; --pull asks the registry.
func TestFromImageOnlyInEngine(t *testing.T) {
	d := requireEngine(t)
	name := "e2e-engine-only-" + filepath.Base(t.TempDir())
	img := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo made-for-the-engine > /engine.txt\n")})
	// Built on another state dir and loaded into the engine only.
	mustSucceed(t, docker(t, []string{"build2", "--root", t.TempDir(), "--load", "-t", name, img}, withEngine(d)))

	state := t.TempDir()
	app := writeFiles(t, map[string]string{"Dockerfile": "FROM " + name + "\nRUN cat /engine.txt > /app.txt\nFROM scratch\nCOPY --from=0 /app.txt /\n"})
	out := t.TempDir()
	r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-o", out, app}, withEngine(d)))
	assert.Equal(t, "made-for-the-engine", readFile(t, filepath.Join(out, "app.txt")))
	assert.Contains(t, r.stderr, "loading "+name+" from the Docker engine")

	r = docker(t, []string{"build2", "--root", state, "--pull", "-o", t.TempDir(), app}, withEngine(d))
	assert.Equal(t, 1, r.code, r.String())
	noCrash(t, r)
}

// TestRootlessImageStore: a user who is not root keeps images too, in
// the state dir of its own, and builds FROM them.
func TestRootlessImageStore(t *testing.T) {
	requireE2E(t)
	u := newUnprivileged(t, true)
	base := u.files(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo rootless-base > /rb.txt\n")})
	mustSucceed(t, docker(t, []string{"build2", "-t", "e2e-rootless-base", base}, u.as()))
	r := mustSucceed(t, docker(t, []string{"build2", "images", "-q"}, u.as()))
	assert.Equal(t, "e2e-rootless-base:latest\n", r.stdout)

	app := u.files(t, map[string]string{"Dockerfile": "FROM e2e-rootless-base\nRUN cat /rb.txt > /app.txt\nFROM scratch\nCOPY --from=0 /app.txt /\n"})
	out := u.files(t, map[string]string{})
	mustSucceed(t, docker(t, []string{"build2", "-o", out, app}, u.as()))
	assert.Equal(t, "rootless-base", readFile(t, filepath.Join(out, "app.txt")))
	u.assertOwnedBy(t, filepath.Join(out, "app.txt"))
}

// summary is the value of the line "key:" of du's or prune's summary,
// and whether there is one.
func summary(out, key string) (string, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:\s+(.*)$`).FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// imageSize is the SIZE images shows for name.
func imageSize(t *testing.T, state, name string) string {
	t.Helper()
	r := mustSucceed(t, docker(t, []string{"build2", "images", "--root", state}))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+latest\s+sha256:[0-9a-f]{12}\s+.+ ago\s+(\S+)$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "images lists %s with a size:\n%s", name, r.stdout)
	return m[1]
}

// contentBytes is the bytes of the blobs in the state dir's content store.
func contentBytes(t *testing.T, state string) int64 {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(state, "runc-*", "content", "blobs"))
	require.NoError(t, err)
	require.Len(t, dirs, 1, "one content store in %s", state)
	var n int64
	require.NoError(t, filepath.WalkDir(dirs[0], func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	}))
	return n
}

// TestDiskUsageAndPruneKeepImages: du counts the content of the images
// the builder keeps once (a process sharing the solver sees the same),
// prune --all keeps them whole and says so, FROM still builds from them,
// and after rmi du no longer counts them and their content is gone.
func TestDiskUsageAndPruneKeepImages(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	stopLingering(t, state)
	const name = "e2e-du-base"
	base := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN dd if=/dev/urandom of=/big bs=1000 count=3000\n")})
	mustSucceed(t, build2(t, "--root", state, "-t", name, base))
	size := imageSize(t, state, name)
	n, err := units.FromHumanSize(size)
	require.NoError(t, err)
	assert.Greater(t, n, int64(3_000_000), "the image keeps its random 3MB layer")

	r := mustSucceed(t, build2(t, "du", "--root", state))
	assert.Regexp(t, `(?m)^ID\s+RECLAIMABLE\s+SIZE\s+LAST ACCESSED$`, r.stdout, "buildx's table")
	images, ok := summary(r.stdout, "Images")
	require.True(t, ok, r.stdout)
	assert.Regexp(t, `^1 image, `+regexp.QuoteMeta(size)+` \(\S+ of it counted in the cache above\)$`, images)
	_, ok = summary(r.stdout, "Shared")
	assert.True(t, ok, "the records of the image's layers are shared: %s", r.stdout)

	// A du sharing the solver of a running build sees the same images
	// (the solver the commands above left serving stops first, so that
	// the build serves the state dir).
	require.True(t, stopSolver(t, state))
	holder, holderOut := startBuild2(t, "--root", state, "--progress=plain", "--no-cache", "-o", t.TempDir(),
		writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo holding-the-solver && sleep 3\n")}))
	waitFor(t, holderOut, "holding-the-solver")
	shared := mustSucceed(t, build2(t, "du", "--root", state))
	assert.Contains(t, shared.stderr, "sharing the builder of another docker-build2 process")
	sharedImages, _ := summary(shared.stdout, "Images")
	assert.Equal(t, images, sharedImages, shared.stdout)
	require.Equal(t, 0, exitCode(holder.Wait()), holderOut.String())

	r = mustSucceed(t, build2(t, "prune", "--root", state, "--all", "-f"))
	kept, ok := summary(r.stdout, "Images kept")
	require.True(t, ok, r.stdout)
	assert.Regexp(t, `^1 image, `+regexp.QuoteMeta(size)+` \(\S+ of the total stays on disk as their layers\); docker build2 rmi removes them$`, kept)
	assert.Equal(t, size, imageSize(t, state, name), "prune leaves the image whole")
	r = mustSucceed(t, build2(t, "du", "--root", state))
	images, _ = summary(r.stdout, "Images")
	assert.Equal(t, "1 image, "+size, images, r.stdout)
	total, _ := summary(r.stdout, "Total")
	assert.Equal(t, size, total, "only the image is left: %s", r.stdout)
	reclaimable, _ := summary(r.stdout, "Reclaimable")
	assert.Equal(t, "0B", reclaimable)
	assert.Equal(t, size, units.HumanSize(float64(contentBytes(t, state))), "du counts what the content store holds")

	app := writeFiles(t, map[string]string{"Dockerfile": "FROM " + name + "\nRUN wc -c < /big > /n.txt\nFROM scratch\nCOPY --from=0 /n.txt /\n"})
	out := t.TempDir()
	r = mustSucceed(t, build2(t, "--root", state, "-o", out, app))
	assert.Equal(t, "3000000", readFile(t, filepath.Join(out, "n.txt")), "FROM builds from the kept image: %s", r.String())

	mustSucceed(t, build2(t, "prune", "--root", state, "--all", "-f"))
	mustSucceed(t, build2(t, "rmi", "--root", state, name))
	r = mustSucceed(t, build2(t, "du", "--root", state))
	_, ok = summary(r.stdout, "Images")
	assert.False(t, ok, "no image is counted after rmi: %s", r.stdout)
	total, _ = summary(r.stdout, "Total")
	assert.Equal(t, "0B", total, r.stdout)
	assert.Zero(t, contentBytes(t, state), "rmi removed the content only the image kept")
	r = mustSucceed(t, build2(t, "prune", "--root", state, "--all", "-f"))
	_, ok = summary(r.stdout, "Images kept")
	assert.False(t, ok, r.stdout)
}
