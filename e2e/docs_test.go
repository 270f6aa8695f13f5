package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docBlock is a ```console block of a Markdown file and the "## " section
// it is in.
type docBlock struct{ section, script string }

// consoleBlocks returns the ```console blocks of a Markdown file.
func consoleBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var blocks []docBlock
	var cur *strings.Builder
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		case cur == nil && strings.TrimSpace(line) == "```console":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, docBlock{section: section, script: cur.String()})
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	require.NoError(t, sc.Err())
	return blocks
}

// rootlessSection is the docs/ci.md section whose jobs run in the CI image
// as its unprivileged user: TestCIImage runs them there.
const rootlessSection = "Rootless, in an unprivileged CI container"

// TestCIRecipes runs every console block of docs/ci.md as a job script,
// against the local registry, so the recipes cannot drift.
func TestCIRecipes(t *testing.T) {
	requireArm64(t)
	ca, cert, key := selfSignedCA(t)
	tlsHost := startTLSRegistry(t, cert, key)
	blocks := consoleBlocks(t, filepath.Join("..", "docs", "ci.md"))
	require.GreaterOrEqual(t, len(blocks), 8, "docs/ci.md has its recipes")
	for i, b := range blocks {
		if b.section == rootlessSection {
			continue
		}
		script := b.script
		t.Run(fmt.Sprintf("block%d", i+1), func(t *testing.T) {
			project := writeFiles(t, map[string]string{"Dockerfile": "FROM alpine AS b\nARG HTTP_PROXY\nRUN echo built > /b.txt && uname -m >> /b.txt\nFROM scratch\nCOPY --from=b /b.txt /\n"})
			// The plugin installed where make install puts it, so a recipe
			// may write its own config.json.
			cfgDir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(cfgDir, "cli-plugins"), 0o755))
			require.NoError(t, os.Symlink(world.plugin, filepath.Join(cfgDir, "cli-plugins", "docker-build2")))
			mirror := filepath.Join(t.TempDir(), "daemon.json")
			require.NoError(t, os.WriteFile(mirror, []byte(`{"registry-mirrors":["http://`+world.reg.host+`"]}`), 0o644))
			cmd := exec.Command("bash", "-eo", "pipefail", "-c", script)
			cmd.Dir = project
			env := append(baseEnv(),
				"PATH="+filepath.Dir(world.docker)+":"+os.Getenv("PATH"),
				"DOCKER_CONFIG="+cfgDir,
				"DOCKER_BUILD2_DAEMON_CONFIG="+mirror,
				"CI_REGISTRY="+world.reg.host,
				"CI_REGISTRY_IMAGE="+world.reg.host+"/ci/app",
				"CI_REGISTRY_USER=ci",
				"CI_REGISTRY_PASSWORD=not-checked-by-the-test-registry",
				"CI_DEPENDENCY_PROXY_SERVER="+world.reg.host,
				"CI_COMMIT_SHORT_SHA=abc1234",
				"CI_PROJECT_DIR="+project,
				"CI_MIRROR_URL=http://"+world.reg.host,
				"CI_HTTP_PROXY=http://127.0.0.1:3128",
				"CI_TLS_REGISTRY="+tlsHost,
				"CI_CA_FILE="+ca,
				"CERTS_DIR="+filepath.Join(t.TempDir(), "certs.d"),
			)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "docs/ci.md block %d:\n%s\n--- output\n%s", i+1, script, out)
		})
	}

	// What the recipes pushed is in the registries.
	for _, tag := range []string{"abc1234", "latest", "buildcache", "mirrored", "proxied"} {
		_, _, err := world.reg.getManifest("ci/app", tag)
		require.NoError(t, err, "ci/app:%s", tag)
	}
	release, _, err := world.reg.getManifest("ci/app", "abc1234-release")
	require.NoError(t, err, "the release recipe merged the per-architecture digests")
	var arches []string
	for _, m := range release.Manifests {
		if m.Platform != nil && m.Platform.Architecture != "unknown" {
			arches = append(arches, m.Platform.Architecture)
		}
	}
	require.ElementsMatch(t, []string{"amd64", "arm64"}, arches, "the release image has both architectures")
	idx, _, err := world.reg.getManifest("ci/app", "abc1234-multi")
	require.NoError(t, err)
	require.Len(t, imageDescs(idx.Manifests), 2, "the multi-platform recipe pushed two platforms")
	cl := tlsClient(t, ca)
	req, err := http.NewRequest(http.MethodGet, "https://"+tlsHost+"/v2/app/manifests/abc1234", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", mediaOCIManifest+", "+mediaOCIIndex)
	resp, err := cl.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "the custom-CA recipe pushed to the TLS registry")
}

func tlsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}
