package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildkitImage builds, offline, a BuildKit image for the test engine from
// the pinned buildkitd and buildctl, the host's runc and the libraries
// they link, on the busybox base, and loads it as tag.
func buildkitImage(t *testing.T, d *dockerd, tag string) {
	t.Helper()
	bkd := buildkitdBinary(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nCOPY root/ /\nENTRYPOINT [\"buildkitd\"]\n")})
	root := filepath.Join(ctx, "root")
	runc, err := exec.LookPath("runc")
	require.NoError(t, err, "runc is not installed (it comes with docker.io)")
	bins := []string{bkd, filepath.Join(filepath.Dir(bkd), "buildctl"), runc}
	for _, b := range bins {
		copyFile(t, b, filepath.Join(root, "usr", "bin", filepath.Base(b)), 0o755)
		out, err := exec.Command("ldd", b).Output()
		require.NoError(t, err, "ldd %s", b)
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "/") {
					copyFile(t, f, filepath.Join(root, f), 0o755)
				}
			}
		}
	}
	mustSucceed(t, docker(t, []string{"build2", "--load", "-t", tag, ctx}, withEngine(d)))
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	dt, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.WriteFile(to, dt, mode))
}

// buildxLeftovers lists the engine's buildx_buildkit_* containers and
// volumes.
func buildxLeftovers(t *testing.T, d *dockerd) string {
	t.Helper()
	c := mustSucceed(t, docker(t, []string{"ps", "-a", "--filter", "name=buildx_buildkit_", "--format", "{{.Names}}"}, withEngine(d)))
	v := mustSucceed(t, docker(t, []string{"volume", "ls", "--filter", "name=buildx_buildkit_", "--format", "{{.Name}}"}, withEngine(d)))
	return strings.TrimSpace(c.stdout + v.stdout)
}

// TestBuilderDockerContainer walks a docker-container builder as a buildx
// script does: create --bootstrap, a build on it (--builder and
// BUILDX_BUILDER), ls --format json, stop, inspect --bootstrap, rm; the
// engine is left without its container and volume.
func TestBuilderDockerContainer(t *testing.T) {
	d := requireEngine(t)
	const image = "e2e-buildkit:local"
	buildkitImage(t, d, image)
	cfg := aliasConfig(t)
	run := func(args ...string) result {
		t.Helper()
		return docker(t, append([]string{"build2"}, args...), cfg, withEngine(d))
	}
	t.Cleanup(func() { // what a failed test leaves; t.Context() is over by now
		for _, args := range [][]string{{"rm", "-f", "buildx_buildkit_ci0"}, {"volume", "rm", "-f", "buildx_buildkit_ci0_state"}} {
			c := exec.Command(world.docker, append([]string{"-H", d.host}, args...)...)
			_ = c.Run()
		}
	})

	// An image the engine has not and cannot pull: nothing is kept.
	r := run("builder", "create", "--name", "ci", "--driver-opt", "image=e2e-no-such-image:1")
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "pulling e2e-no-such-image:1")
	assert.Empty(t, buildxLeftovers(t, d))
	r = mustSucceed(t, run("builder", "ls"))
	assert.NotContains(t, r.stdout, "ci")

	r = mustSucceed(t, run("builder", "create", "--name", "ci", "--driver", "docker-container",
		// privileged=false: this engine runs in a container that lacks
		// capabilities, so it cannot run privileged containers.
		"--driver-opt", "image="+image, "--driver-opt", "network=host,privileged=false", "--buildkitd-flags", "--oci-worker-snapshotter=native", "--bootstrap"))
	assert.Equal(t, "ci\n", r.stdout)
	assert.Contains(t, r.stderr, "creating container buildx_buildkit_ci0")
	r = mustSucceed(t, docker(t, []string{"inspect", "--format", "{{.HostConfig.Privileged}} {{.Config.Image}} {{range .Mounts}}{{.Name}}{{end}}", "buildx_buildkit_ci0"}, withEngine(d)))
	assert.Equal(t, "false "+image+" buildx_buildkit_ci0_state\n", r.stdout, "privileged=false; privileged by default (a unit test)")

	r = mustSucceed(t, run("builder", "ls", "--format", "json"))
	var ci map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["Name"] == "ci" {
			ci = m
		}
	}
	require.NotNil(t, ci, r.stdout)
	assert.Equal(t, "docker-container", ci["Driver"])
	node := ci["Nodes"].([]any)[0].(map[string]any)
	assert.Equal(t, "ci0", node["Name"])
	assert.Equal(t, "running", node["Status"])

	const marker = "built-in-the-container"
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} AS b\nRUN echo " + marker + " > /m.txt\nFROM scratch\nCOPY --from=b /m.txt /\n")})
	out := t.TempDir()
	mustSucceed(t, run("--builder", "ci", "-o", out, ctx))
	assert.Equal(t, marker, readFile(t, filepath.Join(out, "m.txt")))
	r = mustSucceed(t, docker(t, []string{"exec", "buildx_buildkit_ci0", "sh", "-c", "grep -rl " + marker + " /var/lib/buildkit | head -1"}, withEngine(d)))
	assert.NotEmpty(t, r.stdout, "the build ran in the container")

	const envMarker = "built-on-buildx-builder"
	ctx = writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} AS b\nRUN echo " + envMarker + " > /m.txt\nFROM scratch\nCOPY --from=b /m.txt /\n")})
	out = t.TempDir()
	mustSucceed(t, docker(t, []string{"build2", "-o", out, ctx}, cfg, withEngine(d), withEnv("BUILDX_BUILDER=ci")))
	assert.Equal(t, envMarker, readFile(t, filepath.Join(out, "m.txt")))
	r = mustSucceed(t, docker(t, []string{"exec", "buildx_buildkit_ci0", "sh", "-c", "grep -rl " + envMarker + " /var/lib/buildkit | head -1"}, withEngine(d)))
	assert.NotEmpty(t, r.stdout, "BUILDX_BUILDER=ci built in the container")
	r = mustSucceed(t, docker(t, []string{"build2", "builder", "inspect"}, cfg, withEngine(d), withEnv("BUILDX_BUILDER=ci")))
	assert.Regexp(t, `Name: +ci\nDriver: +docker-container\n`, r.stdout)
	assert.Regexp(t, `Node: +ci0\n(.*\n)*Status: +running\n`, r.stdout)

	mustSucceed(t, run("builder", "stop", "ci"))
	r = mustSucceed(t, run("builder", "ls"))
	assert.Regexp(t, `\\_ ci0 +docker \(current engine\) +stopped`, r.stdout)
	r = mustSucceed(t, run("builder", "inspect", "--bootstrap", "ci"))
	assert.Regexp(t, `Status: +running\n`, r.stdout)

	// A build on a stopped builder starts it first, as buildx.
	mustSucceed(t, run("builder", "stop", "ci"))
	out = t.TempDir()
	r = mustSucceed(t, run("--builder", "ci", "--progress=plain", "-o", out, ctx))
	assert.Contains(t, r.stderr, "[internal] booting buildkit on node ci0")
	assert.Equal(t, envMarker, readFile(t, filepath.Join(out, "m.txt")))
	r = mustSucceed(t, run("builder", "ls"))
	assert.Regexp(t, `\\_ ci0 +docker \(current engine\) +running`, r.stdout)

	r = mustSucceed(t, run("builder", "rm", "ci"))
	assert.Equal(t, "ci\n", r.stdout)
	assert.Empty(t, buildxLeftovers(t, d), "rm leaves no buildx_buildkit_* container or volume")
	r = run("--builder", "ci", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, `no builder named "ci"`)
}

// TestBuilderBuildxStore uses a builder that buildx's store holds, by
// name, and refuses one whose driver docker-build2 does not run.
func TestBuilderBuildxStore(t *testing.T) {
	requireE2E(t)
	sock := filepath.Join(t.TempDir(), "bk.sock")
	startBuildkitd(t, "unix://"+sock)
	cfg := t.TempDir()
	require.NoError(t, writeDockerConfig(cfg, filepath.Dir(world.plugin)))
	inst := filepath.Join(cfg, "buildx", "instances")
	require.NoError(t, os.MkdirAll(inst, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(inst, "bx"), []byte(`{"Name":"bx","Driver":"remote","Nodes":[{"Name":"bx0","Endpoint":"unix://`+sock+`","Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}],"Dynamic":false}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(inst, "kube"), []byte(`{"Name":"kube","Driver":"kubernetes","Nodes":[{"Name":"kube0","Endpoint":"kubernetes:///kube"}],"Dynamic":false}`), 0o600))
	env := withEnv("DOCKER_CONFIG=" + cfg)

	r := mustSucceed(t, docker(t, []string{"build2", "builder", "ls"}, env))
	assert.Regexp(t, `(?m)^bx +remote \(buildx\)`, r.stdout)
	assert.Regexp(t, `\\_ bx0 +unix://\S+ +running`, r.stdout)
	assert.Regexp(t, `(?m)^kube +kubernetes \(buildx\) +error: driver not supported`, r.stdout)

	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	out := t.TempDir()
	mustSucceed(t, docker(t, []string{"build2", "--builder", "bx", "-o", out, ctx}, env))
	assert.FileExists(t, filepath.Join(out, "Dockerfile"))

	r = docker(t, []string{"build2", "--builder", "kube", ctx}, env)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, `builder "kube" uses buildx's kubernetes driver, which docker-build2 does not run`)
	r = docker(t, []string{"build2", "builder", "rm", "bx"}, env)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "belongs to buildx")
	assert.FileExists(t, filepath.Join(inst, "bx"))
}
