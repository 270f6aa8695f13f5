package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOutputDefaults: outputs as buildx completes them. A tarball (tar,
// oci) without dest goes to stdout; an image output needs a name only to
// push; an index annotation fits a single-platform push, whose default
// provenance makes an index.
func TestOutputDefaults(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo out > /o.txt\n")})
	run := func(args ...string) result {
		t.Helper()
		return mustSucceed(t, build2(t, append([]string{"--root", state}, append(args, ctx)...)...))
	}

	r := run("-o", "type=tar")
	assert.Equal(t, "out\n", string(tarEntries(t, strings.NewReader(r.stdout))["o.txt"]), "a tar of the files on stdout")
	r = run("-o", "type=oci")
	_, ok := tarEntries(t, strings.NewReader(r.stdout))["index.json"]
	assert.True(t, ok, "an OCI layout tarball on stdout")

	meta := filepath.Join(t.TempDir(), "meta.json")
	run("-o", "type=image", "--metadata-file", meta)
	var md map[string]any
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &md))
	assert.Contains(t, md["containerimage.digest"], "sha256:", "an unnamed image is built all the same")
	r = build2(t, "--root", state, "-o", "type=image,push=true", ctx)
	assert.Equal(t, 125, r.code, r.String())
	assert.Contains(t, r.stderr, "type=image,push=true needs name=REF or -t/--tag")

	const repo = "e2e/index-annotation"
	run("--annotation", "index:org.opencontainers.image.description=one platform", "-t", world.reg.host+"/"+repo+":1", "--push")
	_, raw, err := world.reg.getManifest(repo, "1")
	require.NoError(t, err)
	var idx struct {
		MediaType   string            `json:"mediaType"`
		Annotations map[string]string `json:"annotations"`
	}
	require.NoError(t, json.Unmarshal(raw, &idx))
	assert.Equal(t, mediaOCIIndex, idx.MediaType)
	assert.Equal(t, "one platform", idx.Annotations["org.opencontainers.image.description"])
	r = build2(t, "--root", state, "--provenance=false", "--annotation", "index:a=b", "-t", world.reg.host+"/"+repo+":2", "--push", ctx)
	assert.Equal(t, 125, r.code, "no attestation, no index: %s", r.String())
	assert.Contains(t, r.stderr, "index annotations not supported for single platform export")
}

// TestUsageOnBuilder: du and prune work on the builder --builder names, a
// BuildKit daemon here, as buildx's.
func TestUsageOnBuilder(t *testing.T) {
	requireE2E(t)
	sock := "unix://" + filepath.Join(t.TempDir(), "buildkitd.sock")
	startBuildkitd(t, sock)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo usage-on-builder > /u.txt\n")})
	mustSucceed(t, build2(t, "--builder", sock, "-o", t.TempDir(), ctx))

	r := mustSucceed(t, build2(t, "du", "--builder", sock, "--verbose"))
	assert.Contains(t, r.stdout, "echo usage-on-builder", "the daemon's cache records")
	r = mustSucceed(t, docker(t, []string{"build2", "du"}, withEnv("BUILDX_BUILDER="+sock)))
	assert.Contains(t, r.stdout, "Total:", "BUILDX_BUILDER picks it too")
	assert.NotContains(t, r.stdout, "Images:", "a daemon keeps no images of its own")

	mustSucceed(t, build2(t, "prune", "--builder", sock, "--all", "--force"))
	r = mustSucceed(t, build2(t, "du", "--builder", sock, "--verbose"))
	assert.NotContains(t, r.stdout, "echo usage-on-builder", "pruned")
}
