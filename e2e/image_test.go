package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCIImage runs docs/ci.md's rootless section: `make image` (from a
// Debian base in the test registry), loading and pushing the image through
// a Docker engine, then the job in that image as its unprivileged user,
// with the security options the doc gives.
func TestCIImage(t *testing.T) {
	requireE2E(t)
	debian := os.Getenv("DOCKER_BUILD2_TEST_DEBIAN")
	if debian == "" {
		t.Fatal("DOCKER_BUILD2_TEST_DEBIAN is not set: run the tests through make test (hack/test-debian makes a Debian base with debootstrap)")
	}
	d := requireEngine(t)
	require.NoError(t, pushRootfs(world.reg, "library/debian", "bookworm-slim", debian))
	dir := t.TempDir()
	mirror := filepath.Join(dir, "daemon.json")
	require.NoError(t, os.WriteFile(mirror, []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))

	var blocks []string
	for _, b := range consoleBlocks(t, filepath.Join("..", "docs", "ci.md")) {
		if b.section == rootlessSection {
			blocks = append(blocks, b.script)
		}
	}
	require.Len(t, blocks, 2, "docs/ci.md's rootless section: building the image, then the job")
	imageRef := world.reg.host + "/ci/app/docker-build2-ci:latest"

	// The first block, from the checkout: make image, load, push.
	r := runCmd(t, "bash", []string{"-eo", "pipefail", "-c", blocks[0]}, withDir(".."), withEngine(d), withEnv(
		"PATH="+filepath.Dir(world.docker)+":"+os.Getenv("PATH"),
		"DOCKER_BUILD2_DAEMON_CONFIG="+mirror,
		"CI_REGISTRY_IMAGE="+world.reg.host+"/ci/app",
	))
	mustSucceed(t, r)
	noCrash(t, r)
	t.Cleanup(func() { _ = exec.Command(world.docker, "-H", d.host, "rmi", "-f", imageRef).Run() })
	owners := ociOwners(t, filepath.Join("..", "bin", "docker-build2-ci.tar"))
	assert.Equal(t, "0:0", owners["usr/bin/newuidmap"], "newuidmap in the image")
	assert.Equal(t, "1000:1000", owners["home/build/.docker/config.json"], "docker build2 install ran as the image's user")
	pushed := world.reg.image(t, "ci/app/docker-build2-ci", "latest")
	assert.Contains(t, pushed.files, "usr/local/lib/docker/cli-plugins/docker-build2")

	// The second block is the job, in that image as its user.
	project := writeFiles(t, map[string]string{"Dockerfile": "FROM alpine AS b\nRUN echo built-as-$(id -u) > /b.txt\nFROM scratch\nCOPY --from=b /b.txt /\n"})
	require.NoError(t, os.Chmod(project, 0o755)) // readable by the container's user

	args := []string{
		"run", "--rm", "--network", "host",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--device", "/dev/net/tun",
		"-v", project + ":/project:ro", "-w", "/project",
		"-v", mirror + ":/etc/docker-build2-mirror.json:ro",
		"-e", "DOCKER_BUILD2_DAEMON_CONFIG=/etc/docker-build2-mirror.json",
		"-e", "CI_REGISTRY=" + world.reg.host,
		"-e", "CI_REGISTRY_IMAGE=" + world.reg.host + "/ci/app",
		"-e", "CI_REGISTRY_USER=ci",
		"-e", "CI_REGISTRY_PASSWORD=not-checked-by-the-test-registry",
		"-e", "CI_COMMIT_SHORT_SHA=img5678",
		imageRef, "bash", "-eo", "pipefail", "-c", "id -u; " + blocks[1],
	}
	r = docker(t, args, withEngine(d))
	mustSucceed(t, r)
	noCrash(t, r)
	assert.True(t, strings.HasPrefix(r.stdout, "1000\n"), "the job runs as the image's user:\n%s", r)
	assert.Contains(t, r.stderr, "notice: /proc cannot be mounted in a new PID namespace")

	img := world.reg.image(t, "ci/app", "img5678-rootless")
	assert.Equal(t, "built-as-0\n", img.files["b.txt"], "RUN steps run as root of the build")
}
