package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Each RUN prints a marker computed by the shell, so the marker shows in the
// output only when the step really runs (its command line shows the
// unexpanded form). FINAL changes the last stage, whose COPY then needs
// the deps stage's result again.
const cacheDockerfile = `FROM {{BASE}} AS deps
RUN echo ran-$((40+2))-deps && echo expensive > /deps.txt

FROM {{BASE}}
ARG FINAL=1
RUN echo ran-$((40+2))-final-$FINAL && echo $FINAL > /final-arg.txt
COPY --from=deps /deps.txt /
RUN cat /deps.txt > /final.txt
`

const (
	depsRan  = "ran-42-deps"
	finalRan = "ran-42-final"
)

// buildWithFreshState builds in a state dir of its own: nothing local to
// reuse, so a step skipped can only come from the imported cache.
func buildWithFreshState(t *testing.T, args ...string) string {
	t.Helper()
	r := mustSucceed(t, build2(t, append([]string{"--root", t.TempDir(), "--progress=plain"}, args...)...))
	return r.stderr
}

func ran(stderr, marker string) bool { return strings.Contains(stderr, marker) }

func TestRegistryCacheMax(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	cacheRef := world.reg.host + "/e2e/cache:max"
	out := buildWithFreshState(t, "--cache-to", "type=registry,ref="+cacheRef+",mode=max", "-t", world.reg.host+"/e2e/cached:1", "--push", ctx)
	assert.True(t, ran(out, depsRan) && ran(out, finalRan), "first build runs every step:\n%s", out)

	out = buildWithFreshState(t, "--cache-from", "type=registry,ref="+cacheRef, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, depsRan) || ran(out, finalRan), "the imported cache serves every step:\n%s", out)

	// Changing the last stage: mode=max still has the intermediate stage.
	out = buildWithFreshState(t, "--cache-from", "type=registry,ref="+cacheRef, "--build-arg", "FINAL=2", "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, depsRan), "mode=max brings back the intermediate stage:\n%s", out)
	assert.True(t, ran(out, finalRan+"-2"), "the changed step runs:\n%s", out)

	// The shorthand --cache-from REF means type=registry,ref=REF.
	out = buildWithFreshState(t, "--cache-from", cacheRef, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, finalRan), "shorthand reference:\n%s", out)
}

func TestRegistryCacheMinAndOCIMediatypes(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	cacheRef := world.reg.host + "/e2e/cache:min"
	buildWithFreshState(t, "--cache-to", "type=registry,ref="+cacheRef+",mode=min,oci-mediatypes=true,image-manifest=true", "-o", t.TempDir(), ctx)
	m, _, err := world.reg.getManifest("e2e/cache", "min")
	if assert.NoError(t, err) {
		assert.Equal(t, mediaOCIManifest, m.MediaType, "image-manifest=true stores the cache as an OCI image manifest")
	}
	out := buildWithFreshState(t, "--cache-from", "type=registry,ref="+cacheRef, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, finalRan), "mode=min keeps the final stage:\n%s", out)
	out = buildWithFreshState(t, "--cache-from", "type=registry,ref="+cacheRef, "--build-arg", "FINAL=2", "-o", t.TempDir(), ctx)
	assert.True(t, ran(out, depsRan), "mode=min does not keep the intermediate stage:\n%s", out)
}

func TestLocalCache(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	dir := filepath.Join(t.TempDir(), "cache")
	buildWithFreshState(t, "--cache-to", "type=local,dest="+dir+",mode=max", "-o", t.TempDir(), ctx)
	assert.FileExists(t, filepath.Join(dir, "index.json"))
	out := buildWithFreshState(t, "--cache-from", "type=local,src="+dir, "--build-arg", "FINAL=2", "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, depsRan), "local cache, mode=max:\n%s", out)
	assert.True(t, ran(out, finalRan+"-2"))
}

func TestInlineCache(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	ref := world.reg.host + "/e2e/inline:1"
	buildWithFreshState(t, "--cache-to", "type=inline", "-t", ref, "--push", ctx)
	out := buildWithFreshState(t, "--cache-from", ref, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, finalRan) || ran(out, depsRan), "the image's inline cache is reused:\n%s", out)
}
