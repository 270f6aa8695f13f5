package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dockerd is a real Docker engine (Debian's docker.io, 20.10) started for
// the tests with its own data, exec root and socket, and no bridge,
// iptables or ip_forward changes on the host.
type dockerd struct {
	host string // unix:///…/docker.sock
	cmd  *exec.Cmd
	dir  string
}

var (
	engineOnce sync.Once
	engine     *dockerd
	engineErr  error
)

// requireEngine starts the shared engine on first use.
func requireEngine(t *testing.T) *dockerd {
	t.Helper()
	requireE2E(t)
	engineOnce.Do(func() {
		engine, engineErr = startDockerd(filepath.Join(world.tmp, "d"))
	})
	require.NoError(t, engineErr, "starting dockerd")
	return engine
}

func startDockerd(dir string) (*dockerd, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd is not installed (apt-get install docker.io): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := `{"bridge":"none","iptables":false,"ip6tables":false,"ip-forward":false,"ip-masq":false,"storage-driver":"overlay2"}`
	cfgPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "docker.sock")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "x"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--config-file", cfgPath,
		"-H", "unix://"+sock,
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &dockerd{host: "unix://" + sock, cmd: cmd, dir: dir}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(world.docker, "-H", d.host, "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			return nil, fmt.Errorf("dockerd did not start: %w: %s\n%s", err, out, log)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *dockerd) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

func stopEngine() {
	if engine != nil {
		engine.stop()
	}
}

// withEngine points the docker CLI at the test engine.
func withEngine(d *dockerd) runOpt { return withEnv("DOCKER_HOST=" + d.host) }

func TestLoadIntoEngine(t *testing.T) {
	d := requireEngine(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo loaded-into-engine > /loaded.txt\nCMD [\"cat\", \"/loaded.txt\"]\n")})
	r := mustSucceed(t, docker(t, []string{"build2", "--progress=plain", "-t", "e2e-load:1", "-t", "e2e-load:latest", ctx}, withEngine(d)))
	assert.NotContains(t, r.stderr, "only remain in the build cache")

	r = mustSucceed(t, docker(t, []string{"image", "inspect", "--format", "{{json .RepoTags}}", "e2e-load:1"}, withEngine(d)))
	var tags []string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &tags))
	assert.ElementsMatch(t, []string{"e2e-load:1", "e2e-load:latest"}, tags)

	r = mustSucceed(t, docker(t, []string{"run", "--rm", "--network", "none", "e2e-load:1"}, withEngine(d)))
	assert.Equal(t, "loaded-into-engine\n", r.stdout)

	// --load says the same explicitly, alongside another output.
	out := t.TempDir()
	mustSucceed(t, docker(t, []string{"build2", "--load", "-t", "e2e-load:2", "-o", "type=local,dest=" + out, ctx}, withEngine(d)))
	assert.FileExists(t, filepath.Join(out, "loaded.txt"))
	mustSucceed(t, docker(t, []string{"image", "inspect", "e2e-load:2"}, withEngine(d)))
}

func TestLoadMultiPlatform(t *testing.T) {
	d := requireEngine(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nENV A=1\n"})
	for _, extra := range [][]string{nil, {"--load"}} {
		args := append([]string{"build2", "--platform", "linux/amd64,linux/arm64", "-t", "e2e-multi:1"}, extra...)
		r := docker(t, append(args, ctx), withEngine(d))
		assert.Equal(t, 1, r.code, r.String())
		assert.Contains(t, r.stderr, "a multi-platform image (linux/amd64, linux/arm64) cannot be loaded into the Docker engine")
		assert.Contains(t, r.stderr, "--push")
		noCrash(t, r)
	}
}

func TestLoadWithoutEngine(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nENV A=1\n"})
	r := build2(t, "--load", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "loading the image into Docker: no engine answers at unix:///nonexistent/docker.sock")
}

// aliasConfig is a DOCKER_CONFIG of its own with the plugin, for tests that
// install the builder alias.
func aliasConfig(t *testing.T) runOpt {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, writeDockerConfig(dir, filepath.Dir(world.plugin)))
	return withEnv("DOCKER_CONFIG=" + dir)
}

func TestBuilderAlias(t *testing.T) {
	d := requireEngine(t)
	cfg := aliasConfig(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo via-alias > /alias.txt\n")})

	r := mustSucceed(t, docker(t, []string{"build2", "install"}, cfg))
	assert.Contains(t, r.stdout, "docker build now uses docker-build2")
	r = mustSucceed(t, docker(t, []string{"build2", "install"}, cfg))
	assert.Contains(t, r.stdout, "already uses docker-build2")

	// docker build, with and without DOCKER_BUILDKIT=1, and docker image
	// build reach the plugin: BuildKit's progress, the image in the engine.
	for i, args := range [][]string{
		{"build", "--progress=plain", "-t", "e2e-alias:1", ctx},
		{"image", "build", "--progress=plain", "-t", "e2e-alias:2", ctx},
	} {
		for _, env := range []string{"DOCKER_BUILDKIT=1", "DOCKER_BUILDKIT="} {
			r = mustSucceed(t, docker(t, args, cfg, withEngine(d), withEnv(env)))
			assert.Contains(t, r.stderr, "[internal] load build definition from Dockerfile", "%v %s", args, env)
			mustSucceed(t, docker(t, []string{"image", "inspect", fmt.Sprintf("e2e-alias:%d", i+1)}, withEngine(d)))
		}
	}

	// docker builder du / prune reach the plugin's du and prune.
	r = mustSucceed(t, docker(t, []string{"builder", "du"}, cfg))
	assert.Contains(t, r.stdout, "Total:")
	r = mustSucceed(t, docker(t, []string{"builder", "prune", "-f", "--filter", "until=1000h"}, cfg))
	assert.Contains(t, r.stdout, "Total:")
	// docker bake reaches the plugin's bake.
	r = docker(t, []string{"bake"}, cfg)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "no bake definition found")

	r = mustSucceed(t, docker(t, []string{"build2", "uninstall"}, cfg))
	assert.Contains(t, r.stdout, "default builder again")
	// Without the alias and without buildx, DOCKER_BUILDKIT=1 docker build
	// is the CLI's own error again.
	r = docker(t, []string{"build", ctx}, cfg, withEngine(d), withEnv("DOCKER_BUILDKIT=1"))
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "buildx")
}

func TestLegacyBuilder(t *testing.T) {
	d := requireEngine(t)
	ctx := writeFiles(t, map[string]string{
		"Dockerfile":    dockerfile("FROM {{BASE}}\nARG V\nCOPY . /ctx/\nRUN echo legacy-$V > /legacy.txt\n"),
		".dockerignore": "ignored.txt\n",
		"ignored.txt":   "x",
		"kept.txt":      "y",
	})
	run := func(tag string, env ...string) {
		t.Helper()
		r := mustSucceed(t, docker(t, []string{"build2", "--network", "none", "--build-arg", "V=1", "-t", tag, ctx}, withEngine(d), withEnv(env...)))
		assert.Contains(t, r.stdout, "Step 1/4 : FROM "+base(), "the engine's legacy builder ran")
		assert.Contains(t, r.stdout, "Successfully tagged "+tag)
		r = mustSucceed(t, docker(t, []string{"run", "--rm", "--network", "none", tag, "sh", "-c", "cat /legacy.txt; ls /ctx"}, withEngine(d)))
		assert.Contains(t, r.stdout, "legacy-1")
		assert.Contains(t, r.stdout, "kept.txt")
		assert.NotContains(t, r.stdout, "ignored.txt")
	}
	t.Run("DOCKER_BUILDKIT=0", func(t *testing.T) { run("e2e-legacy:env", "DOCKER_BUILDKIT=0") })

	dj := filepath.Join(t.TempDir(), "daemon.json")
	require.NoError(t, os.WriteFile(dj, []byte(`{"features":{"buildkit":false}}`), 0o644))
	t.Run("features.buildkit=false", func(t *testing.T) { run("e2e-legacy:daemonjson", "DOCKER_BUILD2_DAEMON_CONFIG="+dj) })
	t.Run("env beats daemon.json", func(t *testing.T) {
		r := mustSucceed(t, docker(t, []string{"build2", "--progress=plain", "-o", t.TempDir(), ctx}, withEngine(d),
			withEnv("DOCKER_BUILD2_DAEMON_CONFIG="+dj, "DOCKER_BUILDKIT=1")))
		assert.Contains(t, r.stderr, "[internal] load build definition")
	})
	t.Run("BuildKit-only flag refused", func(t *testing.T) {
		r := docker(t, []string{"build2", "--secret", "id=x,env=HOME", ctx}, withEngine(d), withEnv("DOCKER_BUILDKIT=0"))
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "--secret needs BuildKit, which is off (DOCKER_BUILDKIT=0)")
	})
	t.Run("no engine", func(t *testing.T) {
		r := build2WithEnv(t, []string{ctx}, "DOCKER_BUILDKIT=0")
		assert.Equal(t, 1, r.code, r.String())
		assert.Contains(t, r.stderr, "no Docker engine answers")
		assert.Contains(t, r.stderr, "DOCKER_BUILDKIT=1")
	})
	t.Run("bad DOCKER_BUILDKIT", func(t *testing.T) {
		r := build2WithEnv(t, []string{ctx}, "DOCKER_BUILDKIT=maybe")
		assert.NotEqual(t, 0, r.code, r.String())
		assert.Contains(t, r.stderr, "DOCKER_BUILDKIT environment variable expects boolean value")
	})
}

func build2WithEnv(t *testing.T, args []string, env ...string) result {
	t.Helper()
	return docker(t, append([]string{"build2"}, args...), withEnv(env...))
}

// TestRegistryMirror: "FROM alpine" resolves through registry-mirrors of
// daemon.json to the local registry, where the busybox image is pushed as
// library/alpine.
func TestRegistryMirror(t *testing.T) {
	requireE2E(t)
	dj := filepath.Join(t.TempDir(), "daemon.json")
	cfg := fmt.Sprintf(`{"registry-mirrors":["http://%s"],"log-level":"warn"}`, world.reg.host)
	require.NoError(t, os.WriteFile(dj, []byte(cfg), 0o644))
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM alpine AS a\nRUN echo from-mirror > /m.txt\nFROM scratch\nCOPY --from=a /m.txt /\n"})
	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--daemon-config", dj, "--progress=plain", "--pull", "-o", out, ctx))
	assert.Contains(t, r.stderr, "docker.io/library/alpine")
	assert.Equal(t, "from-mirror", readFile(t, filepath.Join(out, "m.txt")))

	// Without the mirror there is no network: a clear resolve error.
	r = build2(t, "--pull", "-o", t.TempDir(), ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "docker.io/library/alpine")

	// daemon.json errors name the file and position or key.
	require.NoError(t, os.WriteFile(dj, []byte("{\n \"registry-mirrors\": [\"http://x\",]\n}"), 0o644))
	r = build2(t, "--daemon-config", dj, ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, dj+":2:")
	require.NoError(t, os.WriteFile(dj, []byte(`{"builder":{"gc":{"enabled":"yes"}}}`), 0o644))
	r = build2(t, "--daemon-config", dj, ctx)
	assert.Contains(t, r.stderr, `key "builder.gc.enabled"`)
}
