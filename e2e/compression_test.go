package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	mediaOCILayer     = "application/vnd.oci.image.layer.v1.tar"
	mediaOCILayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// isStream says whether blob is a stream of the layer media type mt: gzip
// and zstd by their magic numbers, a tar by the ustar magic of its first
// header.
func isStream(mt string, blob []byte) bool {
	switch mt {
	case mediaOCILayerGz:
		return bytes.HasPrefix(blob, []byte("\x1f\x8b"))
	case mediaOCILayerZstd:
		return bytes.HasPrefix(blob, []byte("\x28\xb5\x2f\xfd"))
	case mediaOCILayer:
		return len(blob) >= 262 && string(blob[257:262]) == "ustar"
	}
	return false
}

// TestPushCompression: compression, compression-level and
// force-compression of -o type=image,push=true and -o type=registry reach
// the exporter. The image is the busybox base (pulled, so its layer is
// already a gzip blob) and one RUN layer; each case has a state of its own,
// so no blob is left from another.
func TestPushCompression(t *testing.T) {
	requireE2E(t)
	// 224 KiB of text, so that an uncompressed gzip stream is plainly
	// bigger than a compressed one.
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN seq 1 40000 > /numbers.txt\n")})
	for _, tc := range []struct {
		name   string
		output string
		// layers are the media types of the base layer and the RUN layer.
		layers [2]string
		// minRunSize is the least size of the RUN layer's blob.
		minRunSize int64
	}{
		{
			name:   "image zstd",
			output: "type=image,push=true,compression=zstd",
			// Without force-compression, the base layer keeps its gzip blob.
			layers: [2]string{mediaOCILayerGz, mediaOCILayerZstd},
		},
		{
			name:   "registry zstd level",
			output: "type=registry,compression=zstd,compression-level=19",
			layers: [2]string{mediaOCILayerGz, mediaOCILayerZstd},
		},
		{
			name:   "image zstd forced",
			output: "type=image,push=true,compression=zstd,force-compression=true",
			layers: [2]string{mediaOCILayerZstd, mediaOCILayerZstd},
		},
		{
			name:   "registry uncompressed forced",
			output: "type=registry,compression=uncompressed,force-compression=true,oci-mediatypes=true",
			layers: [2]string{mediaOCILayer, mediaOCILayer},
		},
		{
			name:   "registry gzip level 0",
			output: "type=registry,compression=gzip,compression-level=0,oci-mediatypes=true",
			layers: [2]string{mediaOCILayerGz, mediaOCILayerGz},
			// Level 0 stores: the stream is the tar (seq's 224 KiB of
			// output) and a little more, where the default level makes
			// a fraction of that.
			minRunSize: 228_894,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "e2e/compression-" + strings.ReplaceAll(tc.name, " ", "-")
			ref := world.reg.host + "/" + repo + ":1"
			buildWithFreshState(t, "--provenance=false", "-o", tc.output+",name="+ref, ctx)
			m, _, err := world.reg.getManifest(repo, "1")
			require.NoError(t, err)
			assert.Equal(t, mediaOCIManifest, m.MediaType)
			require.Len(t, m.Layers, 2)
			for i, l := range m.Layers {
				assert.Equal(t, tc.layers[i], l.MediaType, "layer %d", i)
				blob, err := world.reg.getBlob(repo, l.Digest)
				require.NoError(t, err)
				assert.True(t, isStream(l.MediaType, blob), "layer %d is %s: starts with %x", i, l.MediaType, blob[:min(4, len(blob))])
			}
			assert.GreaterOrEqual(t, m.Layers[1].Size, tc.minRunSize, "the RUN layer's size")
		})
	}
}

// TestPushReproducibleLayerAsBuildkitd: a reproducible build (a
// SOURCE_DATE_EPOCH, as a build argument or as the exporter's attribute;
// rewrite-timestamp) is compressed by BuildKit's own gzip, so that its
// layer has the digest a buildkitd of the same version gives it.
func TestPushReproducibleLayerAsBuildkitd(t *testing.T) {
	requireE2E(t)
	var data strings.Builder
	for i := 0; data.Len() < 3<<20; i++ {
		fmt.Fprintf(&data, "%d reproducible\n", i)
	}
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY data /\n", "data": data.String()})
	sock := filepath.Join(t.TempDir(), "buildkitd.sock")
	startBuildkitd(t, "unix://"+sock)
	layer := func(repo string) string {
		img := world.reg.image(t, repo, "1")
		require.Len(t, img.manifest.Layers, 1)
		return img.manifest.Layers[0].Digest
	}
	push := func(repo, attrs string, extra ...string) string {
		args := append([]string{"--provenance=false"}, extra...)
		return buildWithFreshState(t, append(args, "-o", "type=image,push=true,name="+world.reg.host+"/"+repo+":1"+attrs, ctx)...)
	}
	epoch := []string{"--build-arg", "SOURCE_DATE_EPOCH=1700000000"}
	push("e2e/repro-bkd", "", append(epoch, "--builder", "unix://"+sock)...)
	push("e2e/repro-bkd-rewrite", ",rewrite-timestamp=true", append(epoch, "--builder", "unix://"+sock)...)
	for _, c := range []struct {
		repo, attrs string
		args        []string
		want        string
	}{
		{"e2e/repro-arg", "", epoch, "e2e/repro-bkd"},
		{"e2e/repro-attr", ",source-date-epoch=1700000000", nil, "e2e/repro-bkd"},
		{"e2e/repro-rewrite", ",rewrite-timestamp=true", epoch, "e2e/repro-bkd-rewrite"},
	} {
		out := push(c.repo, c.attrs, c.args...)
		assert.NotContains(t, out, "compressing layers", c.repo)
		assert.Equal(t, layer(c.want), layer(c.repo), "%s: the layer's digest on the embedded builder and on buildkitd", c.repo)
	}
	// Without an epoch, the layer is compressed on every CPU: other bytes.
	out := push("e2e/repro-none", "")
	assert.Contains(t, out, "compressing layers")
	assert.NotEqual(t, layer("e2e/repro-bkd"), layer("e2e/repro-none"))
}

// TestPushGzipLayerStable: the default (gzip) layer of a file of several
// MiB, compressed in blocks on every CPU before BuildKit's exporter runs,
// is the same bytes from two new states, and decompresses to the file and
// to the diff ID the config names.
func TestPushGzipLayerStable(t *testing.T) {
	requireE2E(t)
	r := rand.New(rand.NewPCG(3, 4))
	var data strings.Builder
	for i := 0; data.Len() < 3<<20; i++ {
		if i%3 == 0 {
			for range 20_000 {
				data.WriteByte(byte(r.Uint32()))
			}
			continue
		}
		for k := range 5_000 {
			fmt.Fprintf(&data, "%d\n", i*5_000+k)
		}
	}
	ctx := writeFiles(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY data /\n", "data": data.String()})
	var layers []string
	for i := range 2 {
		repo := fmt.Sprintf("e2e/gzip-stable-%d", i)
		out := buildWithFreshState(t, "--provenance=false", "-o", "type=image,push=true,name="+world.reg.host+"/"+repo+":1", ctx)
		assert.Contains(t, out, "compressing layers", "the layer is compressed before BuildKit's exporter runs")
		img := world.reg.image(t, repo, "1")
		require.Len(t, img.manifest.Layers, 1)
		assert.Equal(t, data.String(), img.files["data"])
		blob, err := world.reg.getBlob(repo, img.manifest.Layers[0].Digest)
		require.NoError(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		tarball, err := io.ReadAll(zr)
		require.NoError(t, err)
		assert.Equal(t, []string{digestOf(tarball)}, img.config.RootFS.DiffIDs)
		layers = append(layers, img.manifest.Layers[0].Digest)
	}
	assert.Equal(t, layers[0], layers[1], "the layer's digest from two new states")
}
