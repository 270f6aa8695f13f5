// Package e2e drives docker-build2 through the real docker CLI: a plugin
// binary in a temporary DOCKER_CONFIG, a real OCI registry on 127.0.0.1 and
// base images made offline from busybox-static.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// world is what every test shares; set up once in TestMain.
type testWorld struct {
	docker    string // the docker CLI
	plugin    string // the docker-build2 binary
	configDir string // DOCKER_CONFIG with the plugin installed
	stateDir  string // shared --root of the embedded builder
	reg       *registry
	tmp       string
}

var world *testWorld

func enabled() bool { return os.Getenv("DOCKER_BUILD2_E2E") == "1" }

func TestMain(m *testing.M) {
	if !enabled() {
		fmt.Fprintln(os.Stderr, "e2e: skipped: set DOCKER_BUILD2_E2E=1 (make test does)")
		os.Exit(m.Run())
	}
	w, err := setupWorld()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: setting up:", err)
		os.Exit(1)
	}
	world = w
	code := m.Run()
	stopEngine()
	w.teardown()
	os.Exit(code)
}

func requireE2E(t *testing.T) {
	t.Helper()
	if !enabled() {
		t.Skip("e2e: set DOCKER_BUILD2_E2E=1 (make test does)")
	}
}

func setupWorld() (_ *testWorld, retErr error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the e2e tests run builds with runc and need root")
	}
	tmp, err := os.MkdirTemp("", "docker-build2-e2e-")
	if err != nil {
		return nil, err
	}
	w := &testWorld{tmp: tmp}
	defer func() {
		if retErr != nil {
			w.teardown()
		}
	}()
	if w.docker, err = findDocker(); err != nil {
		return nil, err
	}
	pluginDir := filepath.Join(tmp, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		return nil, err
	}
	w.plugin = filepath.Join(pluginDir, "docker-build2")
	if bin := os.Getenv("DOCKER_BUILD2_BIN"); bin != "" {
		dt, err := os.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("DOCKER_BUILD2_BIN: %w", err)
		}
		if err := os.WriteFile(w.plugin, dt, 0o755); err != nil {
			return nil, err
		}
	} else {
		cmd := exec.Command("go", "build", "-o", w.plugin, "./cmd/docker-build2")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the plugin: %w\n%s", err, out)
		}
	}
	w.configDir = filepath.Join(tmp, "config")
	if err := writeDockerConfig(w.configDir, pluginDir); err != nil {
		return nil, err
	}
	w.stateDir = filepath.Join(tmp, "state")
	if w.reg, err = startRegistry(filepath.Join(tmp, "registry")); err != nil {
		return nil, err
	}
	if err := pushBusybox(w.reg, "library/busybox:latest", "library/alpine:latest"); err != nil {
		return nil, fmt.Errorf("pushing the busybox base image: %w", err)
	}
	return w, nil
}

func (w *testWorld) teardown() {
	if w.reg != nil {
		w.reg.stop()
	}
	// Unmount whatever a crashed build may have left, then remove.
	_ = exec.Command("sh", "-c", "grep -o ' "+w.tmp+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").Run()
	_ = os.RemoveAll(w.tmp)
}

// findDocker prefers the docker CLI v28 in /usr/local/bin over Debian's
// older docker.io client.
func findDocker() (string, error) {
	if v := os.Getenv("DOCKER_CLI"); v != "" {
		return v, nil
	}
	for _, p := range []string{"/usr/local/bin/docker", "/usr/bin/docker"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("docker")
}

func writeDockerConfig(dir, pluginDir string, extra ...map[string]any) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg := map[string]any{"cliPluginsExtraDirs": []string{pluginDir}}
	for _, e := range extra {
		for k, v := range e {
			cfg[k] = v
		}
	}
	dt, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), dt, 0o600)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

type runOpt func(*exec.Cmd)

func withStdin(s string) runOpt {
	return func(c *exec.Cmd) { c.Stdin = strings.NewReader(s) }
}

func withStdinBytes(b []byte) runOpt {
	return func(c *exec.Cmd) { c.Stdin = bytes.NewReader(b) }
}

func withDir(dir string) runOpt {
	return func(c *exec.Cmd) { c.Dir = dir }
}

func withEnv(kv ...string) runOpt {
	return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) }
}

// baseEnv isolates the docker CLI: its own config dir, no engine, plain
// progress, no colour, the shared state dir.
func baseEnv() []string {
	env := []string{
		"DOCKER_CONFIG=" + world.configDir,
		"DOCKER_HOST=unix:///nonexistent/docker.sock",
		"DOCKER_BUILD2_ROOT=" + world.stateDir,
		"DOCKER_BUILD2_DAEMON_CONFIG=/nonexistent/daemon.json",
		"BUILDKIT_PROGRESS=plain",
		"NO_COLOR=1",
		"HOME=" + os.Getenv("HOME"),
		"PATH=" + os.Getenv("PATH"),
	}
	return env
}

// runCmd runs name with args and the isolated environment.
func runCmd(t *testing.T, name string, args []string, opts ...runOpt) result {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(t.Context(), 5*time.Minute, fmt.Errorf("command timed out: %s %v", name, args))
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = baseEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	for _, o := range opts {
		o(cmd)
	}
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		exitErr := &exec.ExitError{}
		if ok := asExitError(err, &exitErr); !ok {
			t.Fatalf("running %s %v: %v", name, args, err)
		}
		res.code = exitErr.ExitCode()
	}
	return res
}

func asExitError(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError) //nolint:errorlint // exec returns it unwrapped
	if ok {
		*target = e
	}
	return ok
}

// docker runs the docker CLI.
func docker(t *testing.T, args []string, opts ...runOpt) result {
	t.Helper()
	return runCmd(t, world.docker, args, opts...)
}

// build2 runs `docker build2 ARGS`.
func build2(t *testing.T, args ...string) result {
	t.Helper()
	return docker(t, append([]string{"build2"}, args...))
}

func waitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeSocket != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s did not appear", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mustSucceed fails the test with the command's output unless it exited 0.
func mustSucceed(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// noCrash checks that output has no Go panic or stack trace.
func noCrash(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("stderr looks like a crash (%q):\n%s", s, r.stderr)
		}
	}
}

// writeFiles writes a build context and returns its directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	dt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(dt))
}
