package imageindex

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tarFile struct {
	name string
	dt   []byte
}

// writeTar writes files as a tarball in dir and returns its path.
func writeTar(t *testing.T, dir, name string, files []tarFile) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.dt)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(f.dt)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o600))
	return p
}

func blobName(d digest.Digest) string { return "blobs/sha256/" + d.Encoded() }

// ociLayout is a one-platform OCI layout tarball: a layer, a config, a
// manifest and index.json listing it (annotated, as BuildKit's are).
type ociLayout struct {
	file     string
	manifest ocispecs.Descriptor
	blobs    map[string][]byte
}

func newLayout(t *testing.T, dir, name string, layer, config []byte, prefix string) ociLayout {
	t.Helper()
	layerDesc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	configDesc := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	mf, err := json.Marshal(ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispecs.Descriptor{layerDesc},
	})
	require.NoError(t, err)
	mfDesc := ocispecs.Descriptor{
		MediaType:   ocispecs.MediaTypeImageManifest,
		Digest:      digest.FromBytes(mf),
		Size:        int64(len(mf)),
		Annotations: map[string]string{ocispecs.AnnotationRefName: "latest", "io.containerd.image.name": "docker.io/library/x:latest"},
	}
	idx, err := json.Marshal(ocispecs.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispecs.MediaTypeImageIndex, Manifests: []ocispecs.Descriptor{mfDesc}})
	require.NoError(t, err)
	blobs := map[string][]byte{
		blobName(layerDesc.Digest):  layer,
		blobName(configDesc.Digest): config,
		blobName(mfDesc.Digest):     mf,
	}
	files := []tarFile{{prefix + ocispecs.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)}}
	for _, n := range []string{blobName(layerDesc.Digest), blobName(configDesc.Digest), blobName(mfDesc.Digest)} {
		files = append(files, tarFile{prefix + n, blobs[n]})
	}
	files = append(files, tarFile{prefix + "index.json", idx})
	return ociLayout{file: writeTar(t, dir, name, files), manifest: mfDesc, blobs: blobs}
}

// readTar lists a tarball's entries in order, with their contents.
func readTar(t *testing.T, r io.Reader) ([]string, map[string][]byte) {
	t.Helper()
	var names []string
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, files
		}
		require.NoError(t, err)
		dt, err := io.ReadAll(tr)
		require.NoError(t, err)
		names = append(names, h.Name)
		files[h.Name] = dt
	}
}

func TestMergeOCI(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "./"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			shared := []byte("the same base layer")
			amd := newLayout(t, dir, "amd64.tar", shared, []byte(`{"architecture":"amd64","os":"linux"}`), prefix)
			arm := newLayout(t, dir, "arm64.tar", shared, []byte(`{"architecture":"arm64","os":"linux"}`), prefix)
			amdP := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
			armP := ocispecs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}

			var out bytes.Buffer
			require.NoError(t, MergeOCI(&out, []Layout{{File: amd.file, Platform: amdP}, {File: arm.file, Platform: armP}}))
			names, files := readTar(t, &out)

			// Every blob once; the shared layer is not written twice.
			counts := map[string]int{}
			for _, n := range names {
				counts[n]++
			}
			for n, c := range counts {
				assert.Equal(t, 1, c, "%s written %d times", n, c)
			}
			want := map[string][]byte{}
			for _, l := range []ociLayout{amd, arm} {
				for n, dt := range l.blobs {
					want[prefix+n] = dt
				}
			}
			assert.Len(t, want, 5, "fixture: 2 manifests, 2 configs, 1 shared layer")
			for n, dt := range want {
				assert.Equal(t, dt, files[n], n)
			}
			assert.Len(t, names, 7, "5 blobs, oci-layout and index.json: %v", names)

			assert.JSONEq(t, `{"imageLayoutVersion":"1.0.0"}`, string(files[ocispecs.ImageLayoutFile]))
			require.Contains(t, files, "index.json")
			var idx ocispecs.Index
			require.NoError(t, json.Unmarshal(files["index.json"], &idx))
			assert.Equal(t, 2, idx.SchemaVersion)
			assert.Equal(t, ocispecs.MediaTypeImageIndex, idx.MediaType)
			require.Len(t, idx.Manifests, 2)
			for i, tc := range []struct {
				l ociLayout
				p ocispecs.Platform
			}{{amd, amdP}, {arm, armP}} {
				m := idx.Manifests[i]
				assert.Equal(t, tc.l.manifest.Digest, m.Digest)
				assert.Equal(t, tc.l.manifest.Size, m.Size)
				assert.Equal(t, ocispecs.MediaTypeImageManifest, m.MediaType)
				require.NotNil(t, m.Platform)
				assert.Equal(t, tc.p, *m.Platform)
				assert.Nil(t, m.Annotations, "a node's image name annotations do not carry over")
			}
			assert.Nil(t, idx.Annotations)
		})
	}
}

func TestMergeOCIErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := newLayout(t, dir, "good.tar", []byte("layer"), []byte(`{}`), "")
	noIndex := writeTar(t, dir, "no-index.tar", []tarFile{
		{ocispecs.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"blobs/sha256/" + digest.FromString("x").Encoded(), []byte("x")},
	})
	badIndex := writeTar(t, dir, "bad-index.tar", []tarFile{{"index.json", []byte("{not json")}})
	notTar := filepath.Join(dir, "not.tar")
	require.NoError(t, os.WriteFile(notTar, bytes.Repeat([]byte("garbage!"), 200), 0o600))

	for _, tc := range []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"no index.json", []string{good.file, noIndex}, "a node's OCI tarball has no index.json"},
		{"index.json not JSON", []string{badIndex}, "reading a node's index.json"},
		{"not a tarball", []string{notTar}, "reading a node's OCI tarball"},
		{"missing file", []string{filepath.Join(dir, "missing.tar")}, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var layouts []Layout
			for _, f := range tc.files {
				layouts = append(layouts, Layout{File: f, Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}})
			}
			err := MergeOCI(io.Discard, layouts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	descs := []ocispecs.Descriptor{
		{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("a"), Size: 1, Platform: &ocispecs.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("b"), Size: 2, Platform: &ocispecs.Platform{OS: "linux", Architecture: "arm64"}},
	}
	dt, err := Index(descs)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(dt, &raw))
	assert.InDelta(t, 2, raw["schemaVersion"], 0)
	assert.Equal(t, ocispecs.MediaTypeImageIndex, raw["mediaType"])
	var idx ocispecs.Index
	require.NoError(t, json.Unmarshal(dt, &idx))
	assert.Equal(t, descs, idx.Manifests)
	assert.NotContains(t, raw, "annotations")
}

func TestWithCredentials(t *testing.T) {
	t.Parallel()
	failed := errors.New("bad config")
	base := func(host string) ([]docker.RegistryHost, error) {
		if host == "broken.example" {
			return nil, failed
		}
		return []docker.RegistryHost{{Host: "mirror.example"}, {Host: host}}, nil
	}
	hosts := WithCredentials(base, func(string) (string, string, error) { return "user", "secret", nil })
	rs, err := hosts("reg.example")
	require.NoError(t, err)
	require.Len(t, rs, 2)
	for _, r := range rs {
		assert.NotNil(t, r.Authorizer, r.Host)
	}
	assert.Equal(t, "reg.example", rs[1].Host, "the hosts themselves are kept")
	_, err = hosts("broken.example")
	require.ErrorIs(t, err, failed)
}
