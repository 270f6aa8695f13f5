package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildContexts: every kind of --build-context buildx takes stands in
// for the stage, image or context of its name.
func TestBuildContexts(t *testing.T) {
	requireE2E(t)
	run := func(t *testing.T, contextFlag, dockerfileText string) string {
		t.Helper()
		ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfileText})
		out := t.TempDir()
		mustSucceed(t, build2(t, "--progress=plain", "--build-context", contextFlag, "-o", out, ctx))
		return out
	}
	t.Run("local directory", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"hello.txt": "from-a-local-context"})
		out := run(t, "src="+dir, "FROM scratch\nCOPY --from=src hello.txt /\n")
		assert.Equal(t, "from-a-local-context", readFile(t, filepath.Join(out, "hello.txt")))
	})
	t.Run("docker-image", func(t *testing.T) {
		out := run(t, "base=docker-image://"+base(), "FROM base\nRUN echo ran-on-the-named-image > /r.txt\nFROM scratch\nCOPY --from=0 /r.txt /\n")
		assert.Equal(t, "ran-on-the-named-image", readFile(t, filepath.Join(out, "r.txt")))
	})
	t.Run("oci-layout", func(t *testing.T) {
		img := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY layer.txt /\n", "layer.txt": "from-an-oci-layout"})
		tarball := filepath.Join(t.TempDir(), "img.tar")
		mustSucceed(t, build2(t, "-o", "type=oci,dest="+tarball, img))
		layout := t.TempDir()
		extract(t, tarball, layout)
		out := run(t, "base=oci-layout://"+layout, "FROM base\n")
		assert.Equal(t, "from-an-oci-layout", readFile(t, filepath.Join(out, "layer.txt")))
		// As buildx reads it: a suffix that is no tag or digest is part of
		// the directory's name; a tag picks the image.
		named := filepath.Join(t.TempDir(), "layout@v1")
		require.NoError(t, os.Mkdir(named, 0o755))
		extract(t, tarball, named)
		out = run(t, "base=oci-layout://"+named+":latest", "FROM base\n")
		assert.Equal(t, "from-an-oci-layout", readFile(t, filepath.Join(out, "layer.txt")))
	})
	t.Run("http download", func(t *testing.T) {
		// As with buildx, the named context of an HTTP URL that is not a
		// Git repository is the file downloaded, called "context".
		served := tarGz(t, map[string]string{"served.txt": "from-an-http-tarball"})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(served)
		}))
		t.Cleanup(srv.Close)
		out := run(t, "app="+srv.URL+"/app.tar.gz", "FROM scratch\nCOPY --from=app context /app.tar.gz\n")
		got, err := os.ReadFile(filepath.Join(out, "app.tar.gz"))
		require.NoError(t, err)
		assert.Equal(t, served, got)
	})
	t.Run("git", func(t *testing.T) {
		url := gitDaemon(t, map[string]string{"in-git.txt": "from-a-git-repository"})
		out := run(t, "repo="+url, "FROM scratch\nCOPY --from=repo in-git.txt /\n")
		assert.Equal(t, "from-a-git-repository", readFile(t, filepath.Join(out, "in-git.txt")))
	})
	t.Run("errors", func(t *testing.T) {
		ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\n"})
		for spec, want := range map[string]string{
			"nothing":                        "use NAME=VALUE",
			"src=/nonexistent/dir":           "no such directory",
			"base=oci-layout:///nonexistent": "no OCI layout there",
			"base=target:other":              "bake's",
		} {
			r := build2(t, "--build-context", spec, ctx)
			assert.Equal(t, 125, r.code, r.String())
			assert.Contains(t, r.stderr, "--build-context", spec)
			assert.Contains(t, r.stderr, want, spec)
			noCrash(t, r)
		}
	})
}

func extract(t *testing.T, tarball, dir string) {
	t.Helper()
	out, err := exec.Command("tar", "-xf", tarball, "-C", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// gitDaemon serves a repository holding files at git://127.0.0.1.
func gitDaemon(t *testing.T, files map[string]string) string {
	t.Helper()
	base := bareRepo(t, files, "main")
	port, err := freePort()
	require.NoError(t, err)
	daemon := exec.Command("git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--base-path="+base, base)
	require.NoError(t, daemon.Start())
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "git daemon did not start: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	return "git://" + addr + "/repo.git#main"
}
