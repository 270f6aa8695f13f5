package imagetools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/util/attestation"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Annotation is one --annotation of create: on the index, or on the
// descriptors of its manifests (of one platform, when Platform is set).
type Annotation struct {
	// Index is true for the index itself, false for the manifest
	// descriptors it lists.
	Index bool
	// Platform limits a descriptor annotation to that platform's
	// manifests (normalized, "linux/arm/v7"); "" is all of them.
	Platform string
	Key      string
	Value    string
}

// CreateOptions are create's choices beyond its sources.
type CreateOptions struct {
	Annotations []Annotation
	// PreferIndex makes an index of a single source that is a manifest;
	// false copies it as it is.
	PreferIndex bool
	// Platforms keeps only the manifests of these platforms; none keeps all.
	Platforms []ocispecs.Platform
}

// Image is the image create makes: its manifest or index, and the
// manifests it lists with the source each comes from.
type Image struct {
	Data []byte
	Desc ocispecs.Descriptor
	// manifests are copied into each target repository before the image
	// is pushed.
	manifests []fromSource
}

type fromSource struct {
	desc ocispecs.Descriptor
	src  *Source
}

// Create reads the sources of p and merges them into one image, pushing
// nothing: Push does.
func (r *Resolver) Create(ctx context.Context, p Plan, o CreateOptions) (*Image, error) {
	srcs := make([]*Source, len(p.Sources))
	dts := make([][]byte, len(p.Sources))
	eg, ctx := errgroup.WithContext(ctx)
	for i := range p.Sources {
		s := p.Sources[i]
		srcs[i] = &s
		eg.Go(func() error {
			dt, err := r.readSource(ctx, &s)
			if err != nil {
				if errors.Is(err, cerrdefs.ErrNotFound) {
					return err
				}
				return fmt.Errorf("source %s: %w", s.Ref, err)
			}
			dts[i] = dt
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	img, err := combine(srcs, dts, o)
	if err != nil {
		return nil, err
	}
	return filterPlatforms(img, o.Platforms)
}

// readSource fills in s's descriptor (media type, size, platform) and
// returns its manifest or index.
func (r *Resolver) readSource(ctx context.Context, s *Source) ([]byte, error) {
	if s.resolveNeeded() {
		dt, desc, err := r.Get(ctx, s.Ref)
		if err != nil {
			return nil, err
		}
		s.Desc, err = mergeDesc(desc, s.Desc)
		if err != nil {
			return nil, err
		}
		return r.withPlatform(ctx, s, dt)
	}
	dt, err := r.Fetch(ctx, s.Ref, s.Desc)
	if err != nil {
		return nil, err
	}
	return r.withPlatform(ctx, s, dt)
}

func (r *Resolver) withPlatform(ctx context.Context, s *Source, dt []byte) ([]byte, error) {
	if s.Desc.MediaType == "" {
		mt, err := detectMediaType(dt)
		if err != nil {
			return nil, err
		}
		s.Desc.MediaType = mt
	}
	switch s.Desc.MediaType {
	case images.MediaTypeDockerSchema2Manifest, ocispecs.MediaTypeImageManifest:
		p := ocispecs.Platform{}
		if s.Desc.Platform != nil {
			p = *s.Desc.Platform
		}
		if p.OS == "" || p.Architecture == "" {
			cp, err := r.configPlatform(ctx, s, dt)
			if err != nil {
				return nil, err
			}
			if p.Architecture == "" {
				p.Architecture = cp.Architecture
				if p.Variant == "" {
					p.Variant = cp.Variant
				}
			}
			if p.OS == "" {
				p.OS = cp.OS
			}
		}
		s.Desc.Platform = &p
	case images.MediaTypeDockerSchema1Manifest:
		return nil, errors.New("schema1 manifests cannot be in an index: push the image again with a current docker")
	}
	return dt, nil
}

// configPlatform is the platform a manifest's image configuration names.
func (r *Resolver) configPlatform(ctx context.Context, s *Source, dt []byte) (ocispecs.Platform, error) {
	var m ocispecs.Manifest
	if err := json.Unmarshal(dt, &m); err != nil {
		return ocispecs.Platform{}, fmt.Errorf("reading manifest %s: %w", s.Desc.Digest, err)
	}
	cfg, err := r.Fetch(ctx, s.Ref, m.Config)
	if err != nil {
		return ocispecs.Platform{}, err
	}
	var p ocispecs.Platform
	if err := json.Unmarshal(cfg, &p); err != nil {
		return ocispecs.Platform{}, fmt.Errorf("reading configuration %s: %w", m.Config.Digest, err)
	}
	return platforms.Normalize(p), nil
}

// mergeDesc is the resolved descriptor d1 with what the source's own
// descriptor d2 sets (from -f), as buildx merges them.
func mergeDesc(d1, d2 ocispecs.Descriptor) (ocispecs.Descriptor, error) {
	if d2.Size != 0 && d1.Size != d2.Size {
		return ocispecs.Descriptor{}, fmt.Errorf("%s has %d bytes in the registry, the descriptor says %d", d1.Digest, d1.Size, d2.Size)
	}
	if d2.MediaType != "" {
		d1.MediaType = d2.MediaType
	}
	if len(d2.Annotations) != 0 {
		d1.Annotations = d2.Annotations
	}
	if d2.Platform != nil {
		d1.Platform = d2.Platform
	}
	return d1, nil
}

// combine merges the sources into one index, or keeps a single source as
// it is (an index, or a manifest without PreferIndex) when nothing is
// annotated.
func combine(srcs []*Source, dts [][]byte, o CreateOptions) (*Image, error) {
	if len(srcs) == 1 && len(o.Annotations) == 0 && (images.IsIndexType(srcs[0].Desc.MediaType) || !o.PreferIndex) {
		return asIs(srcs[0], dts[0])
	}
	var l list
	for i, src := range srcs {
		if !images.IsIndexType(src.Desc.MediaType) {
			l.add(src.Desc, src)
			continue
		}
		var idx ocispecs.Index
		if err := json.Unmarshal(dts[i], &idx); err != nil {
			return nil, fmt.Errorf("reading index %s: %w", src.Desc.Digest, err)
		}
		for _, d := range idx.Manifests {
			l.add(d, src)
		}
	}
	mt := images.MediaTypeDockerSchema2ManifestList
	for _, d := range l.descs {
		if !strings.HasPrefix(d.MediaType, "application/vnd.docker.") {
			mt = ocispecs.MediaTypeImageIndex
		}
	}
	indexAnn := map[string]string{}
	// A Docker manifest list has no annotations; buildx drops them too.
	if mt == ocispecs.MediaTypeImageIndex {
		indexAnn = l.annotate(o.Annotations)
	}
	dt, err := json.MarshalIndent(ocispecs.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   mt,
		Manifests:   l.descs,
		Annotations: indexAnn,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	img := &Image{Data: dt, Desc: ocispecs.Descriptor{MediaType: mt, Size: int64(len(dt)), Digest: digest.FromBytes(dt)}}
	for i, d := range l.descs {
		img.manifests = append(img.manifests, fromSource{d, l.from[i]})
	}
	return img, nil
}

// asIs is a single source copied as it is.
func asIs(src *Source, dt []byte) (*Image, error) {
	img := &Image{Data: dt, Desc: src.Desc}
	if !images.IsIndexType(src.Desc.MediaType) {
		img.manifests = []fromSource{{src.Desc, src}}
		return img, nil
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return nil, fmt.Errorf("reading index %s: %w", src.Desc.Digest, err)
	}
	for _, d := range idx.Manifests {
		img.manifests = append(img.manifests, fromSource{d, src})
	}
	return img, nil
}

// list is the manifests of the index being made, each once, with the
// source it is copied from.
type list struct {
	at    map[digest.Digest]int
	descs []ocispecs.Descriptor
	from  []*Source
}

// add lists d, or merges it into the descriptor of the same digest as
// buildx does: the later platform and annotations win.
func (l *list) add(d ocispecs.Descriptor, src *Source) {
	if l.at == nil {
		l.at = map[digest.Digest]int{}
	}
	i, ok := l.at[d.Digest]
	if !ok {
		l.at[d.Digest] = len(l.descs)
		l.descs = append(l.descs, d)
		l.from = append(l.from, src)
		return
	}
	old := l.descs[i]
	if old.MediaType == "" {
		old.MediaType = d.MediaType
	}
	if d.Platform != nil {
		old.Platform = d.Platform
	}
	if old.Annotations == nil {
		old.Annotations = map[string]string{}
	}
	maps.Copy(old.Annotations, d.Annotations)
	l.descs[i] = old
	l.from[i] = src
}

// annotate sets the descriptor annotations and returns the index's.
func (l *list) annotate(as []Annotation) map[string]string {
	index := map[string]string{}
	for _, a := range as {
		if a.Index {
			index[a.Key] = a.Value
			continue
		}
		for i := range l.descs {
			d := &l.descs[i]
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			if a.Platform == "" || d.Platform != nil && a.Platform == platforms.FormatAll(platforms.Normalize(*d.Platform)) {
				d.Annotations[a.Key] = a.Value
			}
		}
	}
	return index
}

// filterPlatforms keeps the manifests of plats, and the attestations of
// those manifests.
func filterPlatforms(img *Image, plats []ocispecs.Platform) (*Image, error) {
	if len(plats) == 0 {
		return img, nil
	}
	match := platforms.Any(plats...)
	if !images.IsIndexType(img.Desc.MediaType) {
		if img.Desc.Platform == nil || !match.Match(*img.Desc.Platform) {
			return nil, fmt.Errorf("--platform: the image is of platform %s only", platformName(img.Desc.Platform))
		}
		return img, nil
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(img.Data, &idx); err != nil {
		return nil, err
	}
	byDigest := map[digest.Digest]ocispecs.Descriptor{}
	for _, m := range idx.Manifests {
		byDigest[m.Digest] = m
	}
	keep := func(m ocispecs.Descriptor) bool {
		if m.Annotations[attestation.DockerAnnotationReferenceType] == attestation.DockerAnnotationReferenceTypeDefault {
			if subject, ok := byDigest[digest.Digest(m.Annotations[attestation.DockerAnnotationReferenceDigest])]; ok {
				return subject.Platform == nil || match.Match(*subject.Platform)
			}
		}
		return m.Platform == nil || match.Match(*m.Platform)
	}
	var kept []ocispecs.Descriptor
	var manifests []fromSource
	for i, m := range idx.Manifests {
		if keep(m) {
			kept = append(kept, m)
			manifests = append(manifests, img.manifests[i])
		}
	}
	if len(kept) == 0 {
		return nil, errors.New("--platform: none of the manifests is of the platforms asked for")
	}
	if len(kept) == len(idx.Manifests) {
		return img, nil
	}
	idx.Manifests = kept
	dt, err := json.MarshalIndent(&idx, "", "  ")
	if err != nil {
		return nil, err
	}
	return &Image{
		Data:      dt,
		Desc:      ocispecs.Descriptor{MediaType: img.Desc.MediaType, Size: int64(len(dt)), Digest: digest.FromBytes(dt), Annotations: img.Desc.Annotations},
		manifests: manifests,
	}, nil
}

// detectMediaType reads the media type of a manifest or index that does
// not say it, as buildx does.
func detectMediaType(dt []byte) (string, error) {
	var m struct {
		MediaType string          `json:"mediaType"`
		Config    json.RawMessage `json:"config"`
		FSLayers  []string        `json:"fsLayers"`
	}
	if err := json.Unmarshal(dt, &m); err != nil {
		return "", err
	}
	switch {
	case m.MediaType != "":
		return m.MediaType, nil
	case m.Config != nil:
		return images.MediaTypeDockerSchema2Manifest, nil
	case len(m.FSLayers) > 0:
		return images.MediaTypeDockerSchema1Manifest, nil
	}
	return images.MediaTypeDockerSchema2ManifestList, nil
}

func platformName(p *ocispecs.Platform) string {
	if p == nil {
		return "unknown"
	}
	return platforms.Format(*p)
}
