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

func requireArm64(t *testing.T) {
	t.Helper()
	requireE2E(t)
	if busyboxArm64() == "" {
		t.Fatal("DOCKER_BUILD2_TEST_BUSYBOX_ARM64 is not set: run the tests through make test (hack/test-emulators prepares QEMU and an arm64 busybox)")
	}
}

const platformDockerfile = `FROM --platform=$BUILDPLATFORM {{BASE}} AS cross
ARG TARGETPLATFORM
ARG BUILDPLATFORM
ARG TARGETARCH
RUN echo "built on $BUILDPLATFORM for $TARGETPLATFORM ($TARGETARCH)" > /cross.txt

FROM {{BASE}}
COPY --from=cross /cross.txt /
RUN uname -m > /uname.txt
`

func TestMultiPlatformPush(t *testing.T) {
	requireArm64(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(platformDockerfile)})
	ref := world.reg.host + "/e2e/multi:1"
	r := mustSucceed(t, build2(t, "--progress=plain", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push", ctx))
	noCrash(t, r)

	idx, _, err := world.reg.getManifest("e2e/multi", "1")
	require.NoError(t, err)
	require.Len(t, imageDescs(idx.Manifests), 2, "an index with both platforms (and their provenance)")
	seen := map[string]string{}
	for _, d := range imageDescs(idx.Manifests) {
		require.NotNil(t, d.Platform)
		img := world.reg.image(t, "e2e/multi", d.Digest)
		arch := img.config.Architecture
		assert.Equal(t, d.Platform.Architecture, arch, "config architecture")
		seen[arch] = img.files["uname.txt"]
		assert.Equal(t, "built on linux/amd64 for linux/"+arch+" ("+arch+")\n", img.files["cross.txt"])
	}
	assert.Equal(t, map[string]string{"amd64": "x86_64\n", "arm64": "aarch64\n"}, seen)
}

func TestForeignPlatformOCI(t *testing.T) {
	requireArm64(t)
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile(platformDockerfile)})
	dest := filepath.Join(t.TempDir(), "app-arm64.tar")
	mustSucceed(t, build2(t, "--platform", "linux/arm64", "-o", "type=oci,dest="+dest, ctx))
	f, err := os.Open(dest)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	entries := tarEntries(t, f)
	var idx manifest
	require.NoError(t, json.Unmarshal(entries["index.json"], &idx))
	require.Len(t, idx.Manifests, 1)
	blob := func(d string) []byte { return entries["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var m manifest
	require.NoError(t, json.Unmarshal(blob(idx.Manifests[0].Digest), &m))
	var cfg imageConfig
	require.NoError(t, json.Unmarshal(blob(m.Config.Digest), &cfg))
	assert.Equal(t, "arm64", cfg.Architecture)
	found := false
	for _, l := range m.Layers {
		fs, err := layerFiles(blob(l.Digest))
		require.NoError(t, err)
		if v, ok := fs["uname.txt"]; ok {
			assert.Equal(t, "aarch64\n", v)
			found = true
		}
	}
	assert.True(t, found, "uname.txt in a layer")
}
