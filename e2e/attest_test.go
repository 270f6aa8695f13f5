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

// attestation is one attestation manifest's in-toto statement, read back.
type attestation struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// attestations are the in-toto statements of repo:ref's attestation
// manifests, by predicate type; it checks how buildx marks them.
func (r *registry) attestations(t *testing.T, repo, ref string) map[string]attestation {
	t.Helper()
	m, _, err := r.getManifest(repo, ref)
	require.NoError(t, err)
	out := map[string]attestation{}
	if m.MediaType != mediaOCIIndex {
		return out
	}
	for _, d := range m.Manifests {
		if d.Annots["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		require.NotNil(t, d.Platform)
		assert.Equal(t, platform{OS: "unknown", Architecture: "unknown"}, *d.Platform)
		assert.NotEmpty(t, d.Annots["vnd.docker.reference.digest"])
		am, _, err := r.getManifest(repo, d.Digest)
		require.NoError(t, err)
		for _, l := range am.Layers {
			b, err := r.getBlob(repo, l.Digest)
			require.NoError(t, err)
			var a attestation
			require.NoError(t, json.Unmarshal(b, &a), string(b))
			out[a.PredicateType] = a
		}
	}
	return out
}

const provenanceV1 = "https://slsa.dev/provenance/v1"

// provenanceMode is the SLSA v1 predicate's buildDefinition mode buildx
// shows (min or max), from BuildKit's metadata.
func provenanceMode(t *testing.T, a attestation) string {
	t.Helper()
	var p struct {
		RunDetails struct {
			Metadata struct {
				BuildKitMetadata struct {
					Completeness map[string]any `json:"completeness"`
				} `json:"buildkit_metadata"`
			} `json:"metadata"`
		} `json:"runDetails"`
		BuildDefinition struct {
			InternalParameters struct {
				BuildConfig json.RawMessage `json:"buildConfig"`
			} `json:"internalParameters"`
		} `json:"buildDefinition"`
	}
	require.NoError(t, json.Unmarshal(a.Predicate, &p))
	if len(p.BuildDefinition.InternalParameters.BuildConfig) > 0 {
		return "max"
	}
	return "min"
}

func TestAttestProvenance(t *testing.T) {
	requireE2E(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM " + world.reg.host + "/library/busybox:latest\nRUN echo hi > /hi\n"})
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string // "" is no attestation
	}{
		{name: "default", want: "min"},
		{name: "max", args: []string{"--provenance=mode=max"}, want: "max"},
		{name: "attest", args: []string{"--attest", "type=provenance,mode=max"}, want: "max"},
		{name: "off", args: []string{"--provenance=false"}},
		{name: "no default", env: []string{"BUILDX_NO_DEFAULT_ATTESTATIONS=1"}},
		// Asked without a mode, BuildKit makes max, for buildx too.
		{name: "asked despite no default", args: []string{"--provenance=true"}, env: []string{"BUILDX_NO_DEFAULT_ATTESTATIONS=1"}, want: "max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "e2e/attest-" + strings.ReplaceAll(tc.name, " ", "-")
			args := append([]string{"build", "--progress=plain", "--push", "-t", world.reg.host + "/" + repo + ":1"}, tc.args...)
			mustSucceed(t, docker(t, append([]string{"build2"}, append(args, ctx)...), withEnv(tc.env...)))
			atts := world.reg.attestations(t, repo, "1")
			if tc.want == "" {
				assert.Empty(t, atts)
				m, _, err := world.reg.getManifest(repo, "1")
				require.NoError(t, err)
				assert.NotEqual(t, mediaOCIIndex, m.MediaType, "one platform and no attestation: no index")
				return
			}
			require.Contains(t, atts, provenanceV1)
			assert.Equal(t, tc.want, provenanceMode(t, atts[provenanceV1]))
		})
	}

	// The default provenance rides only on image outputs: a local output
	// gets no provenance file.
	out := t.TempDir()
	mustSucceed(t, build2(t, "--progress=plain", "-o", "type=local,dest="+out, ctx))
	_, err := os.Stat(filepath.Join(out, "provenance.json"))
	assert.True(t, os.IsNotExist(err), "no provenance.json in a local output by default")

	// imagetools inspect shows the provenance.
	res := mustSucceed(t, build2(t, "imagetools", "inspect", "--format", "{{json .Provenance}}", world.reg.host+"/e2e/attest-default:1"))
	assert.Contains(t, res.stdout, `"SLSA"`)
	assert.Contains(t, res.stdout, "buildDefinition")
}

// scannerScript implements BuildKit's SBOM scanner protocol: read
// $BUILDKIT_SCAN_SOURCE, write in-toto statements of SPDX documents into
// $BUILDKIT_SCAN_DESTINATION.
const scannerScript = `#!/bin/sh
set -e
files=$(cd "$BUILDKIT_SCAN_SOURCE" && find . -type f | wc -l)
cat > "$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json" <<EOF
{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],
 "predicate":{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"e2e-scan","dataLicense":"CC0-1.0",
 "creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: e2e-scanner"]},
 "comment":"files=$(echo $files)","packages":[{"name":"e2e-package","SPDXID":"SPDXRef-e2e","downloadLocation":"NOASSERTION"}]}}
EOF
`

// pushScanner builds the offline scanner image (busybox and a script)
// and pushes it to the test registry.
func pushScanner(t *testing.T) string {
	t.Helper()
	ref := world.reg.host + "/e2e/scanner:1"
	ctx := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + world.reg.host + "/library/busybox:latest\nCOPY --chmod=755 scan.sh /scan.sh\nCMD [\"/scan.sh\"]\n",
		"scan.sh":    scannerScript,
	})
	mustSucceed(t, build2(t, "--progress=plain", "--provenance=false", "--push", "-t", ref, ctx))
	return ref
}

func TestAttestSBOM(t *testing.T) {
	requireE2E(t)
	scanner := pushScanner(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM " + world.reg.host + "/library/busybox:latest\nRUN echo hi > /hi\n"})
	ref := world.reg.host + "/e2e/attest-sbom:1"
	mustSucceed(t, build2(t, "--progress=plain", "--sbom", "generator="+scanner, "--push", "-t", ref, ctx))
	atts := world.reg.attestations(t, "e2e/attest-sbom", "1")
	require.Contains(t, atts, "https://spdx.dev/Document")
	assert.Contains(t, string(atts["https://spdx.dev/Document"].Predicate), "e2e-package")
	assert.Contains(t, atts, provenanceV1, "the default provenance too")

	res := mustSucceed(t, build2(t, "imagetools", "inspect", "--format", "{{json .SBOM}}", ref))
	assert.Contains(t, res.stdout, "e2e-package")
}

func TestBakeAttest(t *testing.T) {
	requireE2E(t)
	scanner := pushScanner(t)
	host := world.reg.host
	dir := writeFiles(t, map[string]string{
		"Dockerfile": "FROM " + host + "/library/busybox:latest\nRUN echo hi > /hi\n",
		"docker-bake.hcl": `target "a" {
  tags = ["` + host + `/e2e/bake-attest-a:1"]
  attest = ["type=sbom,generator=` + scanner + `", "type=provenance,mode=max"]
}
target "b" {
  tags = ["` + host + `/e2e/bake-attest-b:1"]
}
group "default" { targets = ["a", "b"] }
`,
	})
	mustSucceed(t, docker(t, []string{"build2", "bake", "--progress=plain", "--push"}, withDir(dir)))
	a := world.reg.attestations(t, "e2e/bake-attest-a", "1")
	assert.Contains(t, a, "https://spdx.dev/Document")
	require.Contains(t, a, provenanceV1)
	assert.Equal(t, "max", provenanceMode(t, a[provenanceV1]))
	b := world.reg.attestations(t, "e2e/bake-attest-b", "1")
	require.Contains(t, b, provenanceV1, "the default provenance")
	assert.Equal(t, "min", provenanceMode(t, b[provenanceV1]))

	// --provenance=false is --set *.attest=type=provenance,disabled=true.
	mustSucceed(t, docker(t, []string{"build2", "bake", "--progress=plain", "--push", "--provenance=false", "b"}, withDir(dir)))
	assert.Empty(t, world.reg.attestations(t, "e2e/bake-attest-b", "1"))
}

func TestAttestGit(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := writeFiles(t, map[string]string{"app/Dockerfile": "FROM " + world.reg.host + "/library/busybox:latest\nRUN echo hi > /hi\n"})
	gitCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	gitCmd("init", "-q")
	gitCmd("remote", "add", "origin", "https://example.com/e2e/app.git")
	gitCmd("add", ".")
	gitCmd("commit", "-qm", "app")
	sha := gitCmd("rev-parse", "HEAD")

	repo := "e2e/attest-git"
	ref := world.reg.host + "/" + repo + ":1"
	mustSucceed(t, docker(t, []string{"build2", "build", "--progress=plain", "--push", "--provenance=mode=max", "-t", ref, filepath.Join(dir, "app")}, withEnv("BUILDX_GIT_LABELS=1")))
	idx, _ := world.reg.index(t, repo, "1")
	var img pushedImage
	for _, d := range idx.Manifests {
		if d.Annots["vnd.docker.reference.type"] == "" {
			img = world.reg.image(t, repo, d.Digest)
		}
	}
	labels := img.config.Config.Labels
	assert.Equal(t, sha, labels["org.opencontainers.image.revision"])
	assert.Equal(t, "https://example.com/e2e/app.git", labels["org.opencontainers.image.source"])
	assert.Equal(t, "app/Dockerfile", labels["com.docker.image.source.entrypoint"])

	prov := world.reg.attestations(t, repo, "1")[provenanceV1]
	assert.Contains(t, string(prov.Predicate), sha)
	assert.Contains(t, string(prov.Predicate), "https://example.com/e2e/app.git")

	// BUILDX_GIT_INFO=0 leaves the source out of the provenance.
	mustSucceed(t, docker(t, []string{"build2", "build", "--progress=plain", "--push", "-t", ref, filepath.Join(dir, "app")}, withEnv("BUILDX_GIT_INFO=0")))
	prov = world.reg.attestations(t, repo, "1")[provenanceV1]
	assert.NotContains(t, string(prov.Predicate), "https://example.com/e2e/app.git")
}

// imageDescs are an index's images, without the attestation manifests
// the default provenance adds.
func imageDescs(ms []descriptor) []descriptor {
	var out []descriptor
	for _, d := range ms {
		if d.Annots["vnd.docker.reference.type"] != "attestation-manifest" {
			out = append(out, d)
		}
	}
	return out
}
