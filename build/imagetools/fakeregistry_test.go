package imagetools

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"
)

// fakeRegistry serves manifests and blobs for reading (GET and HEAD), by
// tag or digest, over plain HTTP.
type fakeRegistry struct {
	host    string
	content map[digest.Digest][]byte
	types   map[digest.Digest]string
	tags    map[string]digest.Digest // "repo:tag"
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{content: map[digest.Digest][]byte{}, types: map[digest.Digest]string{}, tags: map[string]digest.Digest{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")
	return f
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	if path == "" {
		return
	}
	i := strings.LastIndex(path, "/manifests/")
	kind := "manifests"
	if i < 0 {
		i = strings.LastIndex(path, "/blobs/")
		kind = "blobs"
	}
	if i < 0 || r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
		return
	}
	repo, ref := path[:i], path[i+len(kind)+2:]
	d, err := digest.Parse(ref)
	if err != nil {
		d = f.tags[repo+":"+ref]
	}
	dt, ok := f.content[d]
	if !ok {
		http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	if mt := f.types[d]; mt != "" {
		w.Header().Set("Content-Type", mt)
	}
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", strconv.Itoa(len(dt)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(dt)
	}
}

func (f *fakeRegistry) put(mt string, dt []byte) ocispecs.Descriptor {
	d := digest.FromBytes(dt)
	f.content[d] = dt
	f.types[d] = mt
	return ocispecs.Descriptor{MediaType: mt, Digest: d, Size: int64(len(dt))}
}

func (f *fakeRegistry) tag(repo, tag string, d ocispecs.Descriptor) { f.tags[repo+":"+tag] = d.Digest }

// image puts a one-layer image of platform p and returns its manifest.
func (f *fakeRegistry) image(t *testing.T, p ocispecs.Platform, mt string) ocispecs.Descriptor {
	t.Helper()
	cfg, err := json.Marshal(ocispecs.Image{Platform: p, Config: ocispecs.ImageConfig{Env: []string{"P=" + p.Architecture}}})
	require.NoError(t, err)
	cfgType, layerType := ocispecs.MediaTypeImageConfig, ocispecs.MediaTypeImageLayerGzip
	if mt != ocispecs.MediaTypeImageManifest {
		cfgType, layerType = "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	m, err := json.Marshal(ocispecs.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mt,
		Config:    f.put(cfgType, cfg),
		Layers:    []ocispecs.Descriptor{f.put(layerType, []byte("layer "+p.Architecture))},
	})
	require.NoError(t, err)
	return f.put(mt, m)
}

func (f *fakeRegistry) resolver() *Resolver {
	return New(docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts)), nil)
}
