// Package imageindex puts the per-platform images of a build split across
// nodes back together: the OCI image index a push names (imagetools
// pushes it), or one OCI layout tarball holding every platform; and the
// registry credentials those pushes use.
//
// Imports: containerd's image types and registry hosts, the OCI image
// spec and the standard library; no project package.
package imageindex

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Index returns the JSON of an OCI image index listing descs.
func Index(descs []ocispecs.Descriptor) ([]byte, error) {
	return json.Marshal(ocispecs.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispecs.MediaTypeImageIndex,
		Manifests: descs,
	})
}

// WithCredentials gives every host of hosts an authorizer that asks creds
// for a host's user name and secret (an identity token when the name is
// empty).
func WithCredentials(hosts docker.RegistryHosts, creds func(host string) (string, string, error)) docker.RegistryHosts {
	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(creds))
	return func(host string) ([]docker.RegistryHost, error) {
		rs, err := hosts(host)
		for i := range rs {
			rs[i].Authorizer = auth
		}
		return rs, err
	}
}

// Layout is one platform's OCI layout tarball.
type Layout struct {
	File     string
	Platform ocispecs.Platform
}

// MergeOCI writes one OCI layout tarball holding every layout: all blobs
// once, and an index listing each platform's manifests.
func MergeOCI(w io.Writer, layouts []Layout) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	var manifests []ocispecs.Descriptor
	for _, l := range layouts {
		var idx ocispecs.Index
		small, err := copyLayout(tw, l.File, seen, func(i ocispecs.Index) { idx = i })
		if err != nil {
			return err
		}
		for _, d := range idx.Manifests {
			if !images.IsIndexType(d.MediaType) {
				p := l.Platform
				d.Platform = &p
				d.Annotations = nil
				manifests = append(manifests, d)
				continue
			}
			// A platform's image with attestations is an index of its own:
			// its manifests join the merged index as they are.
			dt, ok := small[d.Digest]
			if !ok {
				return fmt.Errorf("a node's OCI tarball lacks its index %s", d.Digest)
			}
			nested, err := Manifests(dt, l.Platform)
			if err != nil {
				return err
			}
			manifests = append(manifests, nested...)
		}
	}
	idx, err := Index(manifests)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		name string
		dt   []byte
	}{{ocispecs.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", idx}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.dt)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.dt); err != nil {
			return err
		}
	}
	return tw.Close()
}

// maxSmallBlob bounds the blobs copyLayout keeps in memory: manifests and
// indexes are a few KiB.
const maxSmallBlob = 1 << 20

// copyLayout copies the blobs of the OCI layout tarball file to tw, those
// not seen yet, and calls onIndex with its index.json. It returns the
// small blobs by digest, the indexes among them.
func copyLayout(tw *tar.Writer, file string, seen map[string]bool, onIndex func(ocispecs.Index)) (map[digest.Digest][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	gotIndex := false
	small := map[digest.Digest][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if !gotIndex {
				return nil, errors.New("a node's OCI tarball has no index.json")
			}
			return small, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading a node's OCI tarball: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "index.json":
			var idx ocispecs.Index
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, fmt.Errorf("reading a node's index.json: %w", err)
			}
			gotIndex = true
			onIndex(idx)
		case name == ocispecs.ImageLayoutFile || seen[name]:
		default:
			seen[name] = true
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			var r io.Reader = tr
			var buf bytes.Buffer
			if h.Size <= maxSmallBlob {
				r = io.TeeReader(tr, &buf)
			}
			if _, err := io.Copy(tw, r); err != nil {
				return nil, err
			}
			if alg, enc, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && buf.Len() > 0 {
				small[digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)] = buf.Bytes()
			}
		}
	}
}

// Manifests are the manifests the image index dt lists, for a merged
// index: an image manifest without a platform gets platform; attestation
// manifests keep theirs (unknown/unknown) and their annotations.
func Manifests(dt []byte, platform ocispecs.Platform) ([]ocispecs.Descriptor, error) {
	var idx ocispecs.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return nil, fmt.Errorf("reading a node's image index: %w", err)
	}
	out := make([]ocispecs.Descriptor, 0, len(idx.Manifests))
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			p := platform
			d.Platform = &p
		}
		out = append(out, d)
	}
	return out, nil
}
