package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfSignedCA returns the CA, and a server certificate and key for
// 127.0.0.1 signed by it.
func selfSignedCA(t *testing.T) (string, string, string) {
	t.Helper()
	pki := tlsPKI(t)
	return pki["ca.pem"], pki["server.pem"], pki["server-key.pem"]
}

// startTLSRegistry runs a registry that speaks only HTTPS.
func startTLSRegistry(t *testing.T, cert, key string) string {
	t.Helper()
	dir := t.TempDir()
	port, err := freePort()
	require.NoError(t, err)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  tls:\n    certificate: %s\n    key: %s\n",
		filepath.Join(dir, "data"), host, cert, key)
	cfgPath := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			_ = c.Close()
			return host
		}
		require.True(t, time.Now().Before(deadline), "TLS registry did not start: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRegistryTLS(t *testing.T) {
	requireE2E(t)
	ca, cert, key := selfSignedCA(t)
	host := startTLSRegistry(t, cert, key)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	ref := host + "/e2e/tls:1"

	// A certs.d entry without the CA: TLS with the system roots, which do
	// not trust the registry's certificate.
	certs := t.TempDir()
	hostDir := filepath.Join(certs, host)
	require.NoError(t, os.MkdirAll(hostDir, 0o755))
	r := docker(t, []string{"build2", "--progress=plain", "-t", ref, "--push", ctx}, withEnv("DOCKER_BUILD2_CERTS_DIR="+certs))
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "x509")
	assert.Contains(t, r.stderr, host)

	// With the CA as <certs>/<host>/ca.crt, as docker reads it.
	caPEM, err := os.ReadFile(ca)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(hostDir, "ca.crt"), caPEM, 0o644))
	mustSucceed(t, docker(t, []string{"build2", "--progress=plain", "-t", ref, "--push", ctx}, withEnv("DOCKER_BUILD2_CERTS_DIR="+certs)))
	pull := writeFiles(t, map[string]string{"Dockerfile": "FROM " + ref + "\n"})
	out := t.TempDir()
	mustSucceed(t, docker(t, []string{"build2", "--pull", "-o", out, pull}, withEnv("DOCKER_BUILD2_CERTS_DIR="+certs)))
	assert.FileExists(t, filepath.Join(out, "Dockerfile"))
}

func TestImageNotFound(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM " + world.reg.host + "/e2e/does-not-exist:7\n"})
	r := build2(t, "--progress=plain", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, world.reg.host+"/e2e/does-not-exist:7")
	assert.Contains(t, r.stderr, "not found")
	noCrash(t, r)
}
