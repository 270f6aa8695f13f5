package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// getRaw fetches a manifest's bytes by digest.
func (r *registry) getRaw(repo, dgst string) ([]byte, error) {
	_, b, err := r.getManifest(repo, dgst)
	return b, err
}

// getManifest fetches repo:ref, accepting OCI and Docker media types.
func (r *registry) getManifest(repo, ref string) (*manifest, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+r.host+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", strings.Join([]string{
		mediaOCIManifest, mediaOCIIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET manifest %s:%s: %s", repo, ref, resp.Status)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	return &m, b, nil
}

func (r *registry) getBlob(repo, dgst string) ([]byte, error) {
	resp, err := http.Get("http://" + r.host + "/v2/" + repo + "/blobs/" + dgst)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET blob %s@%s: %s", repo, dgst, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != dgst {
		return nil, fmt.Errorf("blob %s has digest %s", dgst, got)
	}
	return b, nil
}

// layerFiles returns the regular files of a (possibly gzip) layer tar.
func layerFiles(layer []byte) (map[string]string, error) {
	var rd io.Reader = bytes.NewReader(layer)
	if len(layer) > 2 && layer[0] == 0x1f && layer[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(layer))
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	out := map[string]string{}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(h.Name, "./")] = string(b)
	}
}

// pushedImage is an image read back from the registry: its manifest, its
// config and the regular files of all its layers (later layers win).
type pushedImage struct {
	manifest *manifest
	config   imageConfig
	files    map[string]string
}

func (r *registry) image(t *testing.T, repo, ref string) pushedImage {
	t.Helper()
	m, _, err := r.getManifest(repo, ref)
	require.NoError(t, err)
	if m.MediaType == mediaOCIIndex {
		// One platform with the default provenance: the image and its
		// attestation manifest.
		var imgs []descriptor
		for _, d := range m.Manifests {
			if d.Annots["vnd.docker.reference.type"] == "" {
				imgs = append(imgs, d)
			}
		}
		require.Len(t, imgs, 1, "an index of one image and attestations")
		m, _, err = r.getManifest(repo, imgs[0].Digest)
		require.NoError(t, err)
	}
	cfgBlob, err := r.getBlob(repo, m.Config.Digest)
	require.NoError(t, err)
	img := pushedImage{manifest: m, files: map[string]string{}}
	require.NoError(t, json.Unmarshal(cfgBlob, &img.config))
	for _, l := range m.Layers {
		b, err := r.getBlob(repo, l.Digest)
		require.NoError(t, err)
		fs, err := layerFiles(b)
		require.NoError(t, err)
		maps.Copy(img.files, fs)
	}
	return img
}
