package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slsa02 is the part of an SLSA v0.2 provenance predicate checked here.
type slsa02 struct {
	BuildType  string `json:"buildType"`
	Invocation struct {
		ConfigSource struct {
			EntryPoint string `json:"entryPoint"`
		} `json:"configSource"`
	} `json:"invocation"`
	Materials   []struct{ URI string } `json:"materials"`
	BuildConfig json.RawMessage        `json:"buildConfig"`
	Metadata    json.RawMessage        `json:"metadata"`
}

// metadataProvenance reads buildx.build.provenance from a metadata file:
// present reports whether it was there.
func metadataProvenance(t *testing.T, path, key string) (p slsa02, present bool) {
	t.Helper()
	var md map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(readFile(t, path)), &md))
	v, ok := md[key]
	if !ok {
		return p, false
	}
	require.NoError(t, json.Unmarshal(v, &p), "%s is a JSON object: %s", key, v)
	return p, true
}

// TestMetadataProvenance: the metadata file carries the build's provenance
// as buildx.build.provenance (SLSA v0.2, as buildx writes it), without its
// build config by default, whole with BUILDX_METADATA_PROVENANCE=max, none
// when disabled; on the embedded builder and a remote one, for bake
// targets too. The embedded builder keeps nothing of the record it reads
// it from: a secret a step printed is nowhere in the state dir.
func TestMetadataProvenance(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	const value = "PROVENANCE-LEAKCHECK-7c2a"
	ctx := writeFiles(t, map[string]string{
		"Dockerfile": dockerfile("FROM {{BASE}}\nRUN --mount=type=secret,id=tok cat /run/secrets/tok && echo built > /out.txt\n"),
		"tok.txt":    value,
	})
	meta := filepath.Join(t.TempDir(), "meta.json")
	run := func(env ...string) {
		t.Helper()
		mustSucceed(t, docker(t, []string{
			"build2", "--root", state, "--progress=plain", "--no-cache", "--metadata-file", meta,
			"--secret", "id=tok,src=" + filepath.Join(ctx, "tok.txt"), "-o", t.TempDir(), ctx,
		}, withEnv(env...)))
	}

	run()
	p, ok := metadataProvenance(t, meta, "buildx.build.provenance")
	require.True(t, ok, "provenance by default: %s", readFile(t, meta))
	assert.Equal(t, "https://mobyproject.org/buildkit@v1", p.BuildType)
	assert.Equal(t, "Dockerfile", p.Invocation.ConfigSource.EntryPoint)
	require.NotEmpty(t, p.Materials, "the base image is a material")
	assert.Contains(t, p.Materials[0].URI, "pkg:docker/")
	assert.Empty(t, p.BuildConfig, "min: no build config")
	assert.Empty(t, p.Metadata, "min: no metadata")
	assertDirClean(t, state, value)

	run("BUILDX_METADATA_PROVENANCE=max")
	p, ok = metadataProvenance(t, meta, "buildx.build.provenance")
	require.True(t, ok)
	assert.Contains(t, string(p.BuildConfig), "llbDefinition", "max: the build config")
	assert.NotEmpty(t, p.Metadata)
	assertDirClean(t, state, value)

	run("BUILDX_METADATA_PROVENANCE=disabled")
	_, ok = metadataProvenance(t, meta, "buildx.build.provenance")
	assert.False(t, ok)

	// Bake writes it per target.
	dir := writeFiles(t, map[string]string{"docker-bake.hcl": "target \"default\" {\n  dockerfile-inline = \"FROM scratch\\nCOPY docker-bake.hcl /\\n\"\n  output = [\"type=cacheonly\"]\n}\n"})
	mustSucceed(t, docker(t, []string{"build2", "bake", "--root", state, "--metadata-file", meta}, withDir(dir)))
	var bm map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(readFile(t, meta)), &bm))
	require.Contains(t, bm["default"], "buildx.build.provenance")
	require.NoError(t, json.Unmarshal(bm["default"]["buildx.build.provenance"], &p))
	assert.Equal(t, "https://mobyproject.org/buildkit@v1", p.BuildType)

	// A remote builder's build history, as buildx reads it.
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	startBuildkitd(t, "unix://"+sock)
	plain := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo remote\n")})
	mustSucceed(t, docker(t, []string{"build2", "--root", state, "--builder", "unix://" + sock, "--metadata-file", meta, "-o", t.TempDir(), plain}))
	p, ok = metadataProvenance(t, meta, "buildx.build.provenance")
	require.True(t, ok, "provenance from the remote builder: %s", readFile(t, meta))
	assert.Equal(t, "https://mobyproject.org/buildkit@v1", p.BuildType)
}

// TestMetadataProvenanceSharedSolver: a build that shares the solver of
// another process, started without the build history, says that its
// metadata file has no provenance, and still succeeds.
func TestMetadataProvenanceSharedSolver(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	slow := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo owner-started && sleep 4\n")})
	owner, out := startBuild2(t, "--root", state, "--progress=plain", "--no-cache", "-o", "type=cacheonly", slow)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "owner-started") {
		require.True(t, time.Now().Before(deadline), "the first build did not start: %s", out.String())
		time.Sleep(50 * time.Millisecond)
	}
	meta := filepath.Join(t.TempDir(), "meta.json")
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo attached\n")})
	r := mustSucceed(t, build2(t, "--root", state, "--progress=plain", "--metadata-file", meta, "-o", t.TempDir(), ctx))
	assert.Contains(t, r.stderr, "shared the builder of another docker-build2 process")
	_, ok := metadataProvenance(t, meta, "buildx.build.provenance")
	assert.False(t, ok)
	assert.Contains(t, readFile(t, meta), "buildx.build.ref", "the rest of the metadata is there")
	require.NoError(t, owner.Wait(), out.String())
}
