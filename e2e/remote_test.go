package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
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

// buildkitd is a real buildkitd of the same BuildKit version, built by
// bench/build-peers (hack/test exports its path).
func buildkitdBinary(t *testing.T) string {
	t.Helper()
	requireE2E(t)
	p := os.Getenv("DOCKER_BUILD2_TEST_BUILDKITD")
	if p == "" {
		t.Fatal("DOCKER_BUILD2_TEST_BUILDKITD is not set: run the tests through make test (bench/build-peers builds buildkitd)")
	}
	return p
}

// startBuildkitd runs buildkitd with its own root on addr and waits until
// it answers through docker build2's own connection check.
func startBuildkitd(t *testing.T, addr string, extra ...string) string {
	t.Helper()
	root := t.TempDir()
	args := append([]string{"--root", root, "--addr", addr, "--containerd-worker=false", "--oci-worker=true"}, extra...)
	cmd := exec.Command(buildkitdBinary(t), args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "buildkitd.log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
		_ = exec.Command("sh", "-c", "grep -o ' "+root+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if strings.HasPrefix(addr, "unix://") {
			if st, err := os.Stat(strings.TrimPrefix(addr, "unix://")); err == nil && st.Mode()&os.ModeSocket != 0 {
				return root
			}
		} else if c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tcp://"), time.Second); err == nil {
			_ = c.Close()
			return root
		}
		require.True(t, time.Now().Before(deadline), "buildkitd did not start")
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRemoteUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	root := startBuildkitd(t, "unix://"+sock)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo on-remote > /r.txt\n")})

	out := t.TempDir()
	r := mustSucceed(t, build2(t, "--builder", "unix://"+sock, "--progress=plain", "-o", out, ctx))
	assert.Equal(t, "on-remote", readFile(t, filepath.Join(out, "r.txt")))
	assert.Contains(t, r.stderr, "RUN echo on-remote")

	// BUILDKIT_HOST sets the default, as for buildctl.
	out = t.TempDir()
	mustSucceed(t, docker(t, []string{"build2", "-o", out, ctx}, withEnv("BUILDKIT_HOST=unix://"+sock)))
	assert.Equal(t, "on-remote", readFile(t, filepath.Join(out, "r.txt")))

	// Secrets travel over the session; the remote state dir keeps none,
	// not even what a step printed.
	const value = "REMOTE-LEAKCHECK-5d1e"
	sctx := writeFiles(t, map[string]string{
		"Dockerfile": dockerfile("FROM {{BASE}}\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n"),
		"tok.txt":    value,
	})
	r = mustSucceed(t, docker(t, []string{
		"build2", "--builder", "unix://" + sock, "--progress=plain", "--no-cache",
		"--secret", "id=tok,src=" + filepath.Join(sctx, "tok.txt"), "-o", t.TempDir(), sctx,
	}, withEnv("DOCKER_BUILD2_ROOT=/nonexistent-unused")))
	assert.NotContains(t, r.stderr, value, "masked on a remote builder too")
	assert.Contains(t, r.stderr, "***")
	assertDirClean(t, root, value)
}

func TestRemoteErrors(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	port, err := freePort()
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unreachable", []string{"--builder", fmt.Sprintf("tcp://127.0.0.1:%d", port)}, []string{fmt.Sprintf("tcp://127.0.0.1:%d", port), "cannot reach the BuildKit daemon"}},
		{"missing socket", []string{"--builder", "unix:///nonexistent/buildkitd.sock"}, []string{"unix:///nonexistent/buildkitd.sock"}},
		{"wrong scheme", []string{"--builder", "http://x"}, []string{`builder address "http://x"`, "tcp://"}},
		{"TLS on unix", []string{"--builder", "unix:///x.sock", "--tlscacert", "/x"}, []string{"TLS options apply to tcp:// addresses only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := build2(t, append(tc.args, ctx)...)
			assert.Equal(t, 1, r.code, r.String())
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w)
			}
			noCrash(t, r)
		})
	}
}

// tlsPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
func tlsPKI(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e buildkit CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	files := map[string]string{}
	write := func(name, typ string, b []byte) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
		files[name] = p
	}
	write("ca.pem", "CERTIFICATE", caDER)
	for i, who := range []string{"server", "client"} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: who},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if who == "server" {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		write(who+".pem", "CERTIFICATE", der)
		write(who+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	return files
}

func TestRemoteTCPWithTLS(t *testing.T) {
	pki := tlsPKI(t)
	port, err := freePort()
	require.NoError(t, err)
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	startBuildkitd(t, addr, "--tlscacert", pki["ca.pem"], "--tlscert", pki["server.pem"], "--tlskey", pki["server-key.pem"])
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo over-tls > /t.txt\n")})

	out := t.TempDir()
	mustSucceed(t, build2(t, "--builder", addr, "--tlscacert", pki["ca.pem"], "--tlscert", pki["client.pem"], "--tlskey", pki["client-key.pem"], "-o", out, ctx))
	assert.Equal(t, "over-tls", readFile(t, filepath.Join(out, "t.txt")))

	// A CA that did not sign the daemon's certificate: a TLS error naming
	// the address.
	other := tlsPKI(t)
	r := build2(t, "--builder", addr, "--tlscacert", other["ca.pem"], "--tlscert", pki["client.pem"], "--tlskey", pki["client-key.pem"], ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, addr)
	assert.Contains(t, r.stderr, "certificate")
}

// TestNamedBuilder: a builder of two buildkitd nodes, one platform each:
// ls and inspect show both, a one-platform build goes to the node that
// serves it, a down node is reported, rm and use work.
func TestNamedBuilder(t *testing.T) {
	requireArm64(t)
	dir := t.TempDir()
	amdSock, armSock := filepath.Join(dir, "amd.sock"), filepath.Join(dir, "arm.sock")
	amdRoot := startBuildkitd(t, "unix://"+amdSock)
	armRoot := startBuildkitd(t, "unix://"+armSock)
	cfg := aliasConfig(t)
	run := func(args ...string) result {
		t.Helper()
		return docker(t, append([]string{"build2"}, args...), cfg)
	}

	mustSucceed(t, run("builder", "create", "fleet", "--node", "amd=unix://"+amdSock, "--platform", "linux/amd64",
		"--node", "arm=unix://"+armSock, "--platform", "linux/arm64",
		"--node", "down=unix://"+filepath.Join(dir, "nothing.sock"), "--platform", "linux/s390x"))
	r := mustSucceed(t, run("builder", "ls"))
	assert.Regexp(t, `\\_ amd +unix://\S+amd.sock +running +linux/amd64`, r.stdout)
	assert.Regexp(t, `\\_ arm +unix://\S+arm.sock +running +linux/arm64`, r.stdout)
	assert.Regexp(t, `\\_ down +unix://\S+nothing.sock +error: `, r.stdout)
	r = mustSucceed(t, run("builder", "inspect", "fleet"))
	assert.Regexp(t, `Node: +arm\nEndpoint: +unix://\S+\nStatus: +running\nBuildKit version: +\S+\nPlatforms: +linux/arm64`, r.stdout)

	mustSucceed(t, run("builder", "use", "fleet"))
	r = mustSucceed(t, run("builder", "ls"))
	assert.Contains(t, r.stdout, "fleet *")
	const marker = "ran-on-the-arm-node"
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}} AS b\nRUN echo " + marker + " && uname -m > /m.txt\nFROM scratch\nCOPY --from=b /m.txt /\n")})
	out := t.TempDir()
	mustSucceed(t, run("--platform", "linux/arm64", "-o", out, ctx))
	assert.Equal(t, "aarch64", readFile(t, filepath.Join(out, "m.txt")))
	assert.True(t, dirContains(t, armRoot, marker), "the arm64 build ran on the arm node")
	assert.False(t, dirContains(t, amdRoot, marker), "and not on the amd node")

	r = run("--platform", "linux/s390x", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "nothing.sock")
	// A two-platform build is split across the nodes and merged.
	ref := world.reg.host + "/e2e/fleet:1"
	split := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nARG TARGETARCH\nRUN echo fleet-$TARGETARCH-$(uname -m) > /f.txt\n")})
	meta := filepath.Join(t.TempDir(), "meta.json")
	r = mustSucceed(t, run("--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", "--progress=plain", "--metadata-file", meta, split))
	assert.Contains(t, r.stderr, "building linux/arm64 on node arm")
	assert.Contains(t, r.stderr, "building linux/amd64 on node amd")
	idx, _, err := world.reg.getManifest("e2e/fleet", "1")
	require.NoError(t, err)
	// Both platforms, each with its default provenance: the nodes' own
	// indexes are flattened into one.
	require.Len(t, idx.Manifests, 4, "one index with both platforms and their attestations")
	got := map[string]string{}
	images := map[string]string{}
	attested := map[string]bool{}
	for _, d := range idx.Manifests {
		require.NotNil(t, d.Platform)
		if d.Annots["vnd.docker.reference.type"] == "attestation-manifest" {
			assert.Equal(t, "unknown", d.Platform.Architecture)
			m, _, err := world.reg.getManifest("e2e/fleet", d.Digest)
			require.NoError(t, err)
			require.NotEmpty(t, m.Layers)
			assert.Contains(t, m.Layers[0].Annots["in-toto.io/predicate-type"], "https://slsa.dev/provenance/")
			attested[d.Annots["vnd.docker.reference.digest"]] = true
			continue
		}
		images[d.Platform.Architecture] = d.Digest
		got[d.Platform.Architecture] = world.reg.image(t, "e2e/fleet", d.Digest).files["f.txt"]
	}
	assert.Equal(t, map[string]string{"amd64": "fleet-amd64-x86_64\n", "arm64": "fleet-arm64-aarch64\n"}, got)
	assert.True(t, attested[images["amd64"]] && attested[images["arm64"]], "each platform's image has its attestation: %v", attested)
	// The metadata file has each node's provenance, by platform.
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		_, ok := metadataProvenance(t, meta, "buildx.build.provenance/"+p)
		assert.True(t, ok, "provenance of %s: %s", p, readFile(t, meta))
	}
	mustSucceed(t, docker(t, []string{"build2", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", split}, cfg, withEnv("BUILDX_NO_DEFAULT_ATTESTATIONS=1")))
	idx, _, err = world.reg.getManifest("e2e/fleet", "1")
	require.NoError(t, err)
	require.Len(t, idx.Manifests, 2, "no attestations asked for: the two images alone")
	assert.True(t, dirContains(t, amdRoot, "fleet-amd64-x86_64"), "amd64 ran on the amd node")
	assert.True(t, dirContains(t, armRoot, "fleet-arm64-aarch64"), "arm64 ran on the arm node")

	// A platform only a down node serves: the error names the node.
	r = run("--platform", "linux/amd64,linux/s390x", "-t", ref, "--push", split)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "no reachable node serves linux/s390x")
	assert.Contains(t, r.stderr, "node down")
	assert.Contains(t, r.stderr, "nothing.sock")

	// The same as one OCI tarball.
	dest := filepath.Join(t.TempDir(), "fleet.tar")
	mustSucceed(t, run("--platform", "linux/amd64,linux/arm64", "-o", "type=oci,dest="+dest, split))
	f, err := os.Open(dest)
	require.NoError(t, err)
	entries := tarEntries(t, f)
	_ = f.Close()
	var oidx manifest
	require.NoError(t, json.Unmarshal(entries["index.json"], &oidx))
	require.Len(t, oidx.Manifests, 4, "two platforms and their provenance")
	for _, d := range oidx.Manifests {
		b, ok := entries["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
		require.True(t, ok, "manifest blob %s", d.Digest)
		var m manifest
		require.NoError(t, json.Unmarshal(b, &m))
		for _, l := range append(m.Layers, m.Config) {
			_, ok := entries["blobs/sha256/"+strings.TrimPrefix(l.Digest, "sha256:")]
			assert.True(t, ok, "blob %s", l.Digest)
		}
	}
	r = run("--builder", "nosuchbuilder", ctx)
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, `no builder named "nosuchbuilder"`)

	// A node that is down is passed over when another serves the platform.
	mustSucceed(t, run("builder", "create", "spare", "--node", "dead=unix://"+filepath.Join(dir, "dead.sock"), "--platform", "linux/arm64,linux/amd64",
		"--node", "arm=unix://"+armSock, "--platform", "linux/arm64", "--node", "amd=unix://"+amdSock, "--platform", "linux/amd64"))
	mustSucceed(t, run("--builder", "spare", "--platform", "linux/amd64,linux/arm64", "-o", "type=oci,dest="+filepath.Join(t.TempDir(), "x.tar"), split))
	mustSucceed(t, run("builder", "rm", "spare"))

	mustSucceed(t, run("builder", "use", "default"))
	mustSucceed(t, run("builder", "rm", "fleet"))
	r = mustSucceed(t, run("builder", "ls"))
	assert.NotContains(t, r.stdout, "fleet")
	assert.Contains(t, r.stdout, "default *")
}

func dirContains(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || found || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(decompress(t, b)), s) {
			found = true
		}
		return nil
	})
	return found
}
