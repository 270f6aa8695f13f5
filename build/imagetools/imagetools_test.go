package imagetools

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "golden file %s missing: run go test -update", p)
	assert.Equal(t, string(want), string(got), "%s differs: run go test -update if the change is intended", p)
}

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

func TestParseSource(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	for _, tc := range []struct {
		in      string
		ref     string
		desc    ocispecs.Descriptor
		wantErr string
	}{
		{in: "alpine", ref: "docker.io/library/alpine:latest"},
		{in: "reg.example:5000/a/b@" + d.String(), ref: "reg.example:5000/a/b@" + d.String()},
		{in: d.String(), desc: ocispecs.Descriptor{Digest: d}},
		{in: `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":3}`, desc: ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: d, Size: 3}},
		{in: "sha256:abc", wantErr: `source "sha256:abc"`},
		{in: "Not/A/Ref", wantErr: "use an image reference, a digest or a descriptor's JSON"},
		{in: `{"schemaVersion":2,"manifests":[]}`, wantErr: "a manifest or index (schemaVersion 2)"},
		{in: `{"mediaType":"x"}`, wantErr: "the descriptor has no digest"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSource(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			if tc.ref != "" {
				require.NotNil(t, s.Ref)
				assert.Equal(t, tc.ref, s.Ref.String())
			} else {
				assert.Nil(t, s.Ref)
			}
			assert.Equal(t, tc.desc, s.Desc)
		})
	}
}

func TestNewPlan(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	for _, tc := range []struct {
		name     string
		sources  []string
		tags     []string
		appendTo bool
		want     []string
		wantErr  string
	}{
		{name: "refs", sources: []string{"r.example/a:1", "r.example/b:2"}, tags: []string{"r.example/c"}, want: []string{"r.example/a:1", "r.example/b:2"}},
		{name: "digest in the tag's repository", sources: []string{d.String()}, tags: []string{"r.example/c:v1"}, want: []string{"r.example/c@" + d.String()}},
		{name: "digest in the source's repository", sources: []string{"r.example/c:v0", d.String()}, tags: []string{"r.example/c:v1"}, want: []string{"r.example/c:v0", "r.example/c@" + d.String()}},
		{name: "append", sources: []string{"r.example/c:new"}, tags: []string{"r.example/c:v1", "r.example/c:v2"}, appendTo: true, want: []string{"r.example/c:v1", "r.example/c:new"}},
		{name: "digest with two repositories", sources: []string{"r.example/a:1", d.String()}, tags: []string{"r.example/c"}, wantErr: "the references name several repositories (r.example/a, r.example/c): give it as REPOSITORY@" + d.String()},
		{name: "no repository", sources: []string{d.String()}, wantErr: "no repository: name one with --tag"},
		{name: "bad tag", sources: []string{"a"}, tags: []string{"UPPER"}, wantErr: `--tag "UPPER"`},
		{name: "digest tag", sources: []string{"a"}, tags: []string{"r.example/a@" + d.String()}, wantErr: "a tag, not a digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPlan(tc.sources, tc.tags, tc.appendTo)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, s := range p.Sources {
				got = append(got, s.Ref.String())
			}
			assert.Equal(t, tc.want, got)
			assert.Len(t, p.Tags, len(tc.tags))
		})
	}
}

// index decodes an image create made.
func index(t *testing.T, img *Image) ocispecs.Index {
	t.Helper()
	var idx ocispecs.Index
	require.NoError(t, json.Unmarshal(img.Data, &idx))
	assert.Equal(t, digest.FromBytes(img.Data), img.Desc.Digest)
	assert.Equal(t, int64(len(img.Data)), img.Desc.Size)
	return idx
}

func TestCreate(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	amd := f.image(t, amd64, ocispecs.MediaTypeImageManifest)
	arm := f.image(t, arm64, ocispecs.MediaTypeImageManifest)
	f.tag("app", "amd64", amd)
	f.tag("app", "arm64", arm)
	ref := func(tag string) string { return f.host + "/app:" + tag }
	r := f.resolver()
	create := func(t *testing.T, sources []string, o CreateOptions) *Image {
		t.Helper()
		p, err := NewPlan(sources, []string{ref("out")}, false)
		require.NoError(t, err)
		img, err := r.Create(t.Context(), p, o)
		require.NoError(t, err)
		return img
	}

	t.Run("two images", func(t *testing.T) {
		t.Parallel()
		img := create(t, []string{ref("amd64"), ref("arm64")}, CreateOptions{PreferIndex: true})
		idx := index(t, img)
		assert.Equal(t, ocispecs.MediaTypeImageIndex, idx.MediaType)
		require.Len(t, idx.Manifests, 2)
		assert.Equal(t, amd.Digest, idx.Manifests[0].Digest)
		assert.Equal(t, &amd64, idx.Manifests[0].Platform, "read from the configuration")
		assert.Equal(t, &arm64, idx.Manifests[1].Platform)
		assert.Nil(t, idx.Annotations)
		assert.Len(t, img.manifests, 2)
	})
	t.Run("annotations", func(t *testing.T) {
		t.Parallel()
		img := create(t, []string{ref("amd64"), arm.Digest.String()}, CreateOptions{Annotations: []Annotation{
			{Index: true, Key: "org.example.i", Value: "i"},
			{Key: "org.example.all", Value: "a"},
			{Platform: "linux/arm64", Key: "org.example.arm", Value: "b"},
		}})
		idx := index(t, img)
		assert.Equal(t, map[string]string{"org.example.i": "i"}, idx.Annotations)
		assert.Equal(t, map[string]string{"org.example.all": "a"}, idx.Manifests[0].Annotations)
		assert.Equal(t, map[string]string{"org.example.all": "a", "org.example.arm": "b"}, idx.Manifests[1].Annotations)
	})
	t.Run("an index and an image", func(t *testing.T) {
		t.Parallel()
		multi := create(t, []string{ref("amd64"), ref("arm64")}, CreateOptions{PreferIndex: true})
		d := f.put(multi.Desc.MediaType, multi.Data)
		f.tag("app", "multi", d)
		other := f.image(t, ocispecs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, ocispecs.MediaTypeImageManifest)
		img := create(t, []string{ref("multi"), other.Digest.String(), ref("amd64")}, CreateOptions{})
		idx := index(t, img)
		require.Len(t, idx.Manifests, 3, "amd64 once")
		assert.Equal(t, "v7", idx.Manifests[2].Platform.Variant)

		// One index as a source is copied as it is.
		same := create(t, []string{ref("multi")}, CreateOptions{PreferIndex: true})
		assert.Equal(t, multi.Data, same.Data)
		assert.Equal(t, d.Digest, same.Desc.Digest)
	})
	t.Run("prefer-index", func(t *testing.T) {
		t.Parallel()
		img := create(t, []string{ref("amd64")}, CreateOptions{PreferIndex: true})
		assert.Len(t, index(t, img).Manifests, 1)
		img = create(t, []string{ref("amd64")}, CreateOptions{})
		assert.Equal(t, amd.Digest, img.Desc.Digest, "a carbon copy")
		assert.Equal(t, f.content[amd.Digest], img.Data)
	})
	t.Run("platform", func(t *testing.T) {
		t.Parallel()
		img := create(t, []string{ref("amd64"), ref("arm64")}, CreateOptions{Platforms: []ocispecs.Platform{arm64}})
		idx := index(t, img)
		require.Len(t, idx.Manifests, 1)
		assert.Equal(t, arm.Digest, idx.Manifests[0].Digest)
		require.Len(t, img.manifests, 1)

		p, err := NewPlan([]string{ref("amd64"), ref("arm64")}, nil, false)
		require.NoError(t, err)
		_, err = r.Create(t.Context(), p, CreateOptions{Platforms: []ocispecs.Platform{{OS: "windows", Architecture: "amd64"}}})
		require.ErrorContains(t, err, "--platform: none of the manifests")
	})
	t.Run("docker manifests make a manifest list", func(t *testing.T) {
		t.Parallel()
		a := f.image(t, amd64, images.MediaTypeDockerSchema2Manifest)
		b := f.image(t, arm64, images.MediaTypeDockerSchema2Manifest)
		img := create(t, []string{f.host + "/app@" + a.Digest.String(), b.Digest.String()}, CreateOptions{Annotations: []Annotation{{Index: true, Key: "k", Value: "v"}}})
		idx := index(t, img)
		assert.Equal(t, images.MediaTypeDockerSchema2ManifestList, idx.MediaType)
		assert.Nil(t, idx.Annotations, "a manifest list has none")
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		p, err := NewPlan([]string{ref("nope")}, nil, false)
		require.NoError(t, err)
		_, err = r.Create(t.Context(), p, CreateOptions{})
		require.ErrorContains(t, err, ref("nope")+": not found: check the name, or push the image first")
	})
}

func TestFilterPlatformsKeepsAttestations(t *testing.T) {
	t.Parallel()
	amd := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("amd"), Size: 1, Platform: &amd64}
	arm := ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("arm"), Size: 1, Platform: &arm64}
	att := func(subject ocispecs.Descriptor) ocispecs.Descriptor {
		return ocispecs.Descriptor{
			MediaType: ocispecs.MediaTypeImageManifest, Digest: digest.FromString("att" + subject.Digest.String()), Size: 1,
			Platform:    &ocispecs.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": subject.Digest.String()},
		}
	}
	descs := []ocispecs.Descriptor{amd, arm, att(amd), att(arm)}
	dt, err := json.Marshal(ocispecs.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispecs.MediaTypeImageIndex, Manifests: descs})
	require.NoError(t, err)
	img := &Image{Data: dt, Desc: ocispecs.Descriptor{MediaType: ocispecs.MediaTypeImageIndex}}
	for _, d := range descs {
		img.manifests = append(img.manifests, fromSource{d, &Source{}})
	}
	out, err := filterPlatforms(img, []ocispecs.Platform{arm64})
	require.NoError(t, err)
	idx := index(t, out)
	require.Len(t, idx.Manifests, 2)
	assert.Equal(t, arm.Digest, idx.Manifests[0].Digest)
	assert.Equal(t, att(arm).Digest, idx.Manifests[1].Digest, "the attestation of the platform kept")
	assert.Len(t, out.manifests, 2)
}

func TestInspect(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	amd := f.image(t, amd64, ocispecs.MediaTypeImageManifest)
	arm := f.image(t, arm64, ocispecs.MediaTypeImageManifest)
	arm.Platform = &arm64
	arm.Annotations = map[string]string{"org.example.b": "2", "org.example.a": "1"}
	amd.Platform = &amd64
	dt, err := json.MarshalIndent(ocispecs.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispecs.MediaTypeImageIndex, Manifests: []ocispecs.Descriptor{amd, arm}}, "", "  ")
	require.NoError(t, err)
	f.tag("app", "multi", f.put(ocispecs.MediaTypeImageIndex, dt))
	f.tag("app", "amd64", amd)
	r := f.resolver()
	// The golden files name the registry reg.example, not the fake's port.
	norm := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(f.host), []byte("reg.example")) }

	for _, tc := range []struct {
		golden, name, format string
	}{
		{"inspect-index.golden", "multi", ""},
		{"inspect-manifest.golden", "amd64", ""},
		{"inspect-index-manifest-format.golden", "multi", "{{ .Manifest }}"},
		{"inspect-index-json.golden", "multi", "{{json .Manifest}}"},
		{"inspect-index-image.golden", "multi", "{{json .Image}}"},
		{"inspect-manifest-format.golden", "amd64", "{{.Name}} {{json .Manifest}} {{(index .Image.Config.Env 0)}} {{json .Provenance}} {{json .SBOM}}"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			in, err := r.Inspect(t.Context(), f.host+"/app:"+tc.name)
			require.NoError(t, err)
			var out bytes.Buffer
			if tc.format == "" {
				require.NoError(t, in.Print(&out))
			} else {
				tpl, err := ParseFormat(tc.format)
				require.NoError(t, err)
				require.NoError(t, in.PrintFormat(t.Context(), &out, tpl))
			}
			golden(t, tc.golden, norm(out.Bytes()))
		})
	}
	t.Run("raw", func(t *testing.T) {
		t.Parallel()
		in, err := r.Inspect(t.Context(), f.host+"/app:multi")
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, in.PrintRaw(&out))
		assert.Equal(t, dt, out.Bytes())
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		_, err := r.Inspect(t.Context(), f.host+"/app:nope")
		require.ErrorContains(t, err, "not found")
	})
}
