package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBinary is the path hack/test exports in env (a test server it
// installed), or the test fails: a skipped backend is not a tested one.
func testBinary(t *testing.T, env, script string) string {
	t.Helper()
	requireE2E(t)
	p := os.Getenv(env)
	if p == "" {
		t.Fatalf("%s is not set: run the tests through make test (%s installs it)", env, script)
	}
	return p
}

// startServer runs a test server until the test ends, its output in a log
// file shown when the test fails.
func startServer(t *testing.T, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "server.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(name, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", filepath.Base(name), b)
		}
	})
}

func waitForTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
		require.True(t, time.Now().Before(deadline), "%s did not start listening", addr)
		time.Sleep(50 * time.Millisecond)
	}
}

// startS3 runs hack/s3server (gofakes3, in memory) and returns its
// endpoint URL.
func startS3(t *testing.T) string {
	t.Helper()
	bin := testBinary(t, "DOCKER_BUILD2_TEST_S3SERVER", "hack/test-s3server")
	addrFile := filepath.Join(t.TempDir(), "addr")
	startServer(t, bin, "-addr-file", addrFile)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			return "http://" + string(b)
		}
		require.True(t, time.Now().Before(deadline), "s3server did not start")
		time.Sleep(20 * time.Millisecond)
	}
}

// Azurite's well-known development account.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startAzurite runs azurite-blob in memory and returns the account URL.
func startAzurite(t *testing.T) string {
	t.Helper()
	bin := testBinary(t, "DOCKER_BUILD2_TEST_AZURITE", "hack/test-azurite")
	port, err := freePort()
	require.NoError(t, err)
	startServer(t, bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--inMemoryPersistence", "--skipApiVersionCheck", "--silent")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitForTCP(t, addr)
	return "http://" + addr + "/" + azuriteAccount
}

// cacheRoundTrip builds once exporting to cacheTo (mode=max), then in a
// fresh state dir importing from cacheFrom: with the last stage changed,
// the intermediate stage comes from the cache alone.
func cacheRoundTrip(t *testing.T, extra []string, cacheTo, cacheFrom string, env ...string) {
	t.Helper()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(cacheDockerfile)})
	run := func(args ...string) string {
		t.Helper()
		args = append(append([]string{"build2", "--root", t.TempDir(), "--progress=plain"}, extra...), args...)
		return mustSucceed(t, docker(t, args, withEnv(env...))).stderr
	}
	out := run("--cache-to", cacheTo, "-o", t.TempDir(), ctx)
	assert.True(t, ran(out, depsRan) && ran(out, finalRan), "first build runs every step:\n%s", out)

	out = run("--cache-from", cacheFrom, "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, depsRan) || ran(out, finalRan), "the imported cache serves every step:\n%s", out)
	assert.Contains(t, out, "CACHED")

	out = run("--cache-from", cacheFrom, "--build-arg", "FINAL=2", "-o", t.TempDir(), ctx)
	assert.False(t, ran(out, depsRan), "mode=max brings back the intermediate stage:\n%s", out)
	assert.True(t, ran(out, finalRan+"-2"), "the changed step runs:\n%s", out)
}

func TestS3Cache(t *testing.T) {
	endpoint := startS3(t)
	s3 := "type=s3,bucket=e2e-cache,region=us-east-1,endpoint_url=" + endpoint + ",use_path_style=true"
	t.Run("keys as attributes", func(t *testing.T) {
		keys := ",access_key_id=AKIDE2E,secret_access_key=e2e-secret,name=attrs"
		cacheRoundTrip(t, nil, s3+keys+",mode=max", s3+keys)
	})
	t.Run("keys from the environment", func(t *testing.T) {
		cacheRoundTrip(t, nil, s3+",name=env,mode=max", s3+",name=env",
			"AWS_ACCESS_KEY_ID=AKIDE2E", "AWS_SECRET_ACCESS_KEY=e2e-secret", "AWS_EC2_METADATA_DISABLED=true")
	})
	t.Run("remote buildkitd", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "buildkitd.sock")
		startBuildkitd(t, "unix://"+sock)
		keys := ",access_key_id=AKIDE2E,secret_access_key=e2e-secret,name=remote"
		cacheRoundTrip(t, []string{"--builder", "unix://" + sock}, s3+keys+",mode=max", s3+keys)
	})
}

func TestAzblobCache(t *testing.T) {
	account := startAzurite(t)
	az := "type=azblob,account_url=" + account + ",account_name=" + azuriteAccount + ",secret_access_key=" + azuriteKey + ",container=e2e-cache"
	cacheRoundTrip(t, nil, az+",mode=max", az)
}

func TestCacheBackendErrors(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\n")})
	for _, tc := range []struct{ spec, want string }{
		{"type=s3,bucket=b,region=r,use_path_style=yes", `use_path_style "yes" is not a boolean: use true or false`},
		{"type=azblob,account_url=127.0.0.1:10000", `account_url "127.0.0.1:10000" is not an http(s) URL`},
		{"type=gha,version=3", `version "3" is not valid: use 1 or 2`},
		{"type=s3,secret_access_key=LEAKCHECK-e2e,mode=all", `mode "all" is not valid: use min or max`},
	} {
		r := build2(t, "--cache-to", tc.spec, ctx)
		assert.Equal(t, 125, r.code, r.String())
		assert.Contains(t, r.stderr, "--cache-to")
		assert.Contains(t, r.stderr, tc.want)
		assert.NotContains(t, r.stderr, "LEAKCHECK")
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line:\n%s", r.stderr)
	}
}
