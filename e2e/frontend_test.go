package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushFrontend builds the Dockerfile frontend from this module into an
// image with docker build2 itself and pushes it as docker/dockerfile:TAG.
func pushFrontend(t *testing.T, tag string) {
	t.Helper()
	ctx := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctx, "dockerfile-frontend"), "./testdata/frontend")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(
		"FROM scratch\nCOPY dockerfile-frontend /bin/dockerfile-frontend\nENTRYPOINT [\"/bin/dockerfile-frontend\"]\n"), 0o644))
	mustSucceed(t, build2(t, "-t", world.reg.host+"/docker/dockerfile:"+tag, "--push", ctx))
}

const syntaxDockerfile = `# syntax=docker/dockerfile:1.2
FROM alpine AS b
RUN echo through-the-frontend > /f.txt
FROM scratch
COPY --from=b /f.txt /
`

func TestSyntaxFrontend(t *testing.T) {
	requireE2E(t)
	pushFrontend(t, "1.2")
	mirror := withEnv("DOCKER_BUILD2_DAEMON_CONFIG=" + mirrorConfig(t))
	ctx := writeFiles(t, map[string]string{"Dockerfile": syntaxDockerfile})

	out := t.TempDir()
	r := mustSucceed(t, docker(t, []string{"build2", "--progress=plain", "-o", out, ctx}, mirror))
	assert.Contains(t, r.stderr, "docker-image://docker.io/docker/dockerfile:1.2", "the frontend image ran")
	assert.NotContains(t, r.stderr, "built-in Dockerfile frontend")
	assert.Equal(t, "through-the-frontend", readFile(t, filepath.Join(out, "f.txt")))

	// BUILDKIT_SYNTAX picks the frontend for a Dockerfile without the line.
	plain := writeFiles(t, map[string]string{"Dockerfile": "FROM alpine AS b\nRUN echo by-build-arg > /f.txt\nFROM scratch\nCOPY --from=b /f.txt /\n"})
	out = t.TempDir()
	r = mustSucceed(t, docker(t, []string{"build2", "--progress=plain", "--build-arg", "BUILDKIT_SYNTAX=docker/dockerfile:1.2", "-o", out, plain}, mirror))
	assert.Contains(t, r.stderr, "docker-image://docker.io/docker/dockerfile:1.2")
	assert.Equal(t, "by-build-arg", readFile(t, filepath.Join(out, "f.txt")))
}

// TestSyntaxAirGapped: with no registry that has docker/dockerfile, a
// stable 1.x syntax line falls back to the built-in frontend with a notice;
// any other frontend image fails with the resolve error.
func TestSyntaxAirGapped(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "# syntax=docker/dockerfile:1.2\nFROM " + base() + " AS b\nRUN echo built-in > /f.txt\nFROM scratch\nCOPY --from=b /f.txt /\n"})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--progress=plain", "-o", out, ctx))
	assert.Contains(t, r.stderr, "WARNING: cannot resolve the Dockerfile frontend docker/dockerfile:1.2: building with the built-in Dockerfile frontend")
	assert.Equal(t, "built-in", readFile(t, filepath.Join(out, "f.txt")))

	other := writeFiles(t, map[string]string{"Dockerfile": "# syntax=" + world.reg.host + "/nosuch/frontend:1\nFROM scratch\n"})
	r = build2(t, "--progress=plain", other)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, world.reg.host+"/nosuch/frontend:1")
	assert.Contains(t, r.stderr, "not found")
}
