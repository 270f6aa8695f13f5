package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// itIndex is an image index read back from the registry.
type itIndex struct {
	MediaType   string            `json:"mediaType"`
	Manifests   []descriptor      `json:"manifests"`
	Annotations map[string]string `json:"annotations"`
}

func (r *registry) index(t *testing.T, repo, ref string) (itIndex, []byte) {
	t.Helper()
	_, raw, err := r.getManifest(repo, ref)
	require.NoError(t, err)
	var idx itIndex
	require.NoError(t, json.Unmarshal(raw, &idx))
	return idx, raw
}

func platformsOf(idx itIndex) []string {
	var out []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			out = append(out, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	return out
}

// pushPlatforms builds one image per platform and pushes each to
// repo:<arch>, as CI runners of one platform each would.
func pushPlatforms(t *testing.T, repo string, plats ...string) {
	t.Helper()
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\nCOPY f /f\n", "f": "same on every platform\n"})
	for _, p := range plats {
		tag := strings.ReplaceAll(strings.TrimPrefix(p, "linux/"), "/", "")
		// No default provenance: each push is one manifest, as the
		// expectations below count them (TestAttest* covers attestations).
		mustSucceed(t, build2(t, "--progress=plain", "--provenance=false", "--platform", p, "--push", "-t", world.reg.host+"/"+repo+":"+tag, ctx))
	}
}

func TestImagetoolsCreate(t *testing.T) {
	requireE2E(t)
	host := world.reg.host
	pushPlatforms(t, "e2e/it-app", "linux/amd64", "linux/arm64", "linux/arm/v7")
	app := host + "/e2e/it-app"
	annotations := []string{"--annotation", "index:org.example.built-by=ci", "--annotation", "manifest-descriptor[linux/arm64]:org.example.arm=yes"}

	// --dry-run prints the index and pushes nothing.
	args := append([]string{"imagetools", "create", "--dry-run"}, annotations...)
	dry := mustSucceed(t, build2(t, append(args, app+":amd64", app+":arm64")...))
	_, _, err := world.reg.getManifest("e2e/it-app", "multi")
	require.Error(t, err, "a dry run pushes nothing")

	args = append([]string{"imagetools", "create", "--progress=plain", "-t", app + ":multi", "-t", app + ":multi2"}, annotations...)
	r := mustSucceed(t, build2(t, append(args, app+":amd64", app+":arm64")...))
	assert.Contains(t, r.stderr, "pushing "+app)
	idx, raw := world.reg.index(t, "e2e/it-app", "multi")
	assert.Equal(t, dry.stdout, string(raw)+"\n", "the dry run prints what is pushed")
	assert.Equal(t, mediaOCIIndex, idx.MediaType)
	assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, platformsOf(idx))
	assert.Equal(t, map[string]string{"org.example.built-by": "ci"}, idx.Annotations)
	assert.Empty(t, idx.Manifests[0].Annots)
	assert.Equal(t, map[string]string{"org.example.arm": "yes"}, idx.Manifests[1].Annots)
	_, raw2 := world.reg.index(t, "e2e/it-app", "multi2")
	assert.Equal(t, raw, raw2, "every -t")

	// Into another repository: manifests and blobs come along.
	other := host + "/e2e/it-other"
	mustSucceed(t, build2(t, "imagetools", "create", "-t", other+":1", app+":multi"))
	oidx, oraw := world.reg.index(t, "e2e/it-other", "1")
	assert.Equal(t, raw, oraw, "one index as the source is copied as it is")
	for _, m := range oidx.Manifests {
		img := world.reg.image(t, "e2e/it-other", m.Digest)
		assert.Equal(t, "same on every platform\n", img.files["f"])
	}

	// --append adds to what the tag has; a digest source is in the
	// repository of the references.
	_, armRaw, err := world.reg.getManifest("e2e/it-app", "armv7")
	require.NoError(t, err)
	mustSucceed(t, build2(t, "imagetools", "create", "--append", "-t", app+":multi", digestOf(armRaw)))
	idx, _ = world.reg.index(t, "e2e/it-app", "multi")
	assert.Equal(t, []string{"linux/amd64", "linux/arm64", "linux/arm"}, platformsOf(idx))

	// --platform keeps the platforms asked for; -f reads a descriptor.
	desc, err := json.Marshal(idx.Manifests[0])
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "desc.json")
	require.NoError(t, os.WriteFile(file, desc, 0o644))
	mustSucceed(t, build2(t, "imagetools", "create", "-t", app+":filtered", "--platform", "linux/arm64,linux/arm/v7", app+":multi"))
	fidx, _ := world.reg.index(t, "e2e/it-app", "filtered")
	assert.Equal(t, []string{"linux/arm64", "linux/arm"}, platformsOf(fidx))
	mustSucceed(t, build2(t, "imagetools", "create", "-t", app+":fromfile", "-f", file, app+":arm64"))
	ffidx, _ := world.reg.index(t, "e2e/it-app", "fromfile")
	assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, platformsOf(ffidx))
}

func TestImagetoolsCreateAcrossRegistries(t *testing.T) {
	requireE2E(t)
	pushPlatforms(t, "e2e/it-cross", "linux/amd64", "linux/arm64")
	reg2, err := startRegistry(filepath.Join(t.TempDir(), "registry2"))
	require.NoError(t, err)
	t.Cleanup(reg2.stop)
	src := world.reg.host + "/e2e/it-cross"
	mustSucceed(t, build2(t, "imagetools", "create", "-t", reg2.host+"/moved/app:1", src+":amd64", src+":arm64"))
	idx, _ := reg2.index(t, "moved/app", "1")
	require.Equal(t, []string{"linux/amd64", "linux/arm64"}, platformsOf(idx))
	for _, m := range idx.Manifests {
		img := reg2.image(t, "moved/app", m.Digest)
		assert.Equal(t, "same on every platform\n", img.files["f"], "the layers were copied")
	}
}

func TestImagetoolsInspect(t *testing.T) {
	requireE2E(t)
	pushPlatforms(t, "e2e/it-inspect", "linux/amd64", "linux/arm64")
	ref := world.reg.host + "/e2e/it-inspect"
	mustSucceed(t, build2(t, "imagetools", "create", "--annotation", "manifest-descriptor:org.example.k=v", "-t", ref+":multi", ref+":amd64", ref+":arm64"))
	idx, raw := world.reg.index(t, "e2e/it-inspect", "multi")

	r := mustSucceed(t, build2(t, "imagetools", "inspect", ref+":multi"))
	want := "Name:      " + ref + ":multi\n" +
		"MediaType: application/vnd.oci.image.index.v1+json\n" +
		"Digest:    " + digestOf(raw) + "\n" +
		"           \n" +
		"Manifests: \n" +
		"  Name:        " + ref + ":multi@" + idx.Manifests[0].Digest + "\n" +
		"  MediaType:   application/vnd.oci.image.manifest.v1+json\n" +
		"  Platform:    linux/amd64\n" +
		"  Annotations: \n" +
		"    org.example.k: v\n" +
		"               \n" +
		"  Name:        " + ref + ":multi@" + idx.Manifests[1].Digest + "\n" +
		"  MediaType:   application/vnd.oci.image.manifest.v1+json\n" +
		"  Platform:    linux/arm64\n" +
		"  Annotations: \n" +
		"    org.example.k: v\n"
	assert.Equal(t, want, r.stdout)
	assert.Empty(t, r.stderr)

	r = mustSucceed(t, build2(t, "imagetools", "inspect", "--raw", ref+":multi"))
	assert.Equal(t, string(raw), r.stdout, "as stored, no newline added")

	r = mustSucceed(t, build2(t, "imagetools", "inspect", "--format", "{{json .Manifest}}", ref+":multi"))
	var m struct {
		Digest    string       `json:"digest"`
		Size      int          `json:"size"`
		Manifests []descriptor `json:"manifests"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), r.stdout)
	assert.Equal(t, digestOf(raw), m.Digest)
	assert.Equal(t, len(raw), m.Size)
	assert.Len(t, m.Manifests, 2)

	r = mustSucceed(t, build2(t, "imagetools", "inspect", "--format", "{{json .Image}}", ref+":multi"))
	var images map[string]imageConfig
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &images), r.stdout)
	assert.Equal(t, "arm64", images["linux/arm64"].Architecture)
	assert.Equal(t, "amd64", images["linux/amd64"].Architecture)

	r = mustSucceed(t, build2(t, "imagetools", "inspect", "--format", "{{.Name}} {{.Image.Architecture}} {{json .Provenance}}", ref+":arm64"))
	assert.Equal(t, ref+":arm64 arm64 {}", r.stdout, "as buildx, no newline added")

	r = mustSucceed(t, build2(t, "imagetools", "inspect", ref+":amd64"))
	assert.Equal(t, 3, strings.Count(r.stdout, "\n"), "a manifest: name, media type and digest: %s", r.stdout)
}

func TestImagetoolsErrors(t *testing.T) {
	requireE2E(t)
	ref := world.reg.host + "/e2e/it-missing"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create", ref + ":a"}, 125, "no --tag: set --tag to push the image, or --dry-run to print it"},
		{[]string{"create", "--dry-run", "--annotation", "k=v", ref + ":a"}, 125, `--annotation "k=v": create cannot annotate a manifest`},
		{[]string{"create", "--dry-run", "--platform", "linux/x/y/z", ref + ":a"}, 125, `--platform "linux/x/y/z"`},
		{[]string{"inspect", "--raw", "--format", "{{.Name}}", ref}, 125, "--format and --raw cannot be used together"},
		{[]string{"create", "-t", ref + ":b", ref + ":a"}, 1, ref + ":a: not found: check the name, or push the image first"},
		{[]string{"inspect", ref + ":a"}, 1, ref + ":a: not found"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := build2(t, append([]string{"imagetools"}, tc.args...)...)
			assert.Equal(t, tc.code, r.code, r.String())
			assert.Contains(t, r.stderr, tc.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line: %s", r.stderr)
			noCrash(t, r)
		})
	}
}

func TestImagetoolsTLS(t *testing.T) {
	requireE2E(t)
	ca, cert, key := selfSignedCA(t)
	host := startTLSRegistry(t, cert, key)
	certs := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(certs, host), 0o755))
	caPEM, err := os.ReadFile(ca)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(certs, host, "ca.crt"), caPEM, 0o644))
	env := withEnv("DOCKER_BUILD2_CERTS_DIR=" + certs)
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	for _, p := range []string{"amd64", "arm64"} {
		mustSucceed(t, docker(t, []string{"build2", "--provenance=false", "--platform", "linux/" + p, "-t", host + "/e2e/tls:" + p, "--push", ctx}, env))
	}
	mustSucceed(t, docker(t, []string{"build2", "imagetools", "create", "-t", host + "/e2e/tls:multi", host + "/e2e/tls:amd64", host + "/e2e/tls:arm64"}, env))
	r := mustSucceed(t, docker(t, []string{"build2", "imagetools", "inspect", host + "/e2e/tls:multi"}, env))
	assert.Contains(t, r.stdout, "Platform:  linux/arm64")

	// A certs.d entry without the CA: TLS with the system roots fails.
	noCA := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(noCA, host), 0o755))
	r = docker(t, []string{"build2", "imagetools", "inspect", host + "/e2e/tls:multi"}, withEnv("DOCKER_BUILD2_CERTS_DIR="+noCA))
	assert.Equal(t, 1, r.code, r.String())
	assert.Contains(t, r.stderr, "x509")
}
