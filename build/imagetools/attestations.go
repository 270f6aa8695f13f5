package imagetools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/util/attestation"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// In-toto predicate types inspect reads, as buildx does.
const (
	predicateSPDX     = "https://spdx.dev/Document"
	predicateSLSAPrev = "https://slsa.dev/provenance/"
)

// attestations are an image's SBOM and provenance, read from the
// attestation manifest that refers to it.
type attestations struct {
	sbom       SBOM
	provenance Provenance
}

// loadAttestations reads the attestation manifests of the index desc, by
// the platform of the image each refers to; an image with none (or a
// manifest, not an index) has none.
func (r *Resolver) loadAttestations(ctx context.Context, ref reference.Named, desc ocispecs.Descriptor) (map[string]attestations, error) {
	out := map[string]attestations{}
	if !images.IsIndexType(desc.MediaType) {
		return out, nil
	}
	dt, err := r.Fetch(ctx, ref, desc)
	if err != nil {
		return nil, err
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(dt, &idx); err != nil {
		return nil, err
	}
	platformOf := map[string]string{}
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Annotations[attestation.DockerAnnotationReferenceType] == "" {
			platformOf[d.Digest.String()] = platforms.Format(platforms.Normalize(*d.Platform))
		}
	}
	for _, d := range idx.Manifests {
		if d.Annotations[attestation.DockerAnnotationReferenceType] != attestation.DockerAnnotationReferenceTypeDefault {
			continue
		}
		p, ok := platformOf[d.Annotations[attestation.DockerAnnotationReferenceDigest]]
		if !ok {
			continue
		}
		a, err := r.readAttestation(ctx, ref, d)
		if err != nil {
			return nil, err
		}
		out[p] = a
	}
	return out, nil
}

// readAttestation reads one attestation manifest's in-toto statements:
// the first SPDX document is the SBOM, the others its additional ones; the
// SLSA predicate is the provenance.
func (r *Resolver) readAttestation(ctx context.Context, ref reference.Named, desc ocispecs.Descriptor) (attestations, error) {
	var a attestations
	dt, err := r.Fetch(ctx, ref, desc)
	if err != nil {
		return a, err
	}
	var m ocispecs.Manifest
	if err := json.Unmarshal(dt, &m); err != nil {
		return a, fmt.Errorf("attestation manifest %s: %w", desc.Digest, err)
	}
	for _, l := range m.Layers {
		typ := l.Annotations["in-toto.io/predicate-type"]
		if typ != predicateSPDX && !strings.HasPrefix(typ, predicateSLSAPrev) {
			continue
		}
		blob, err := r.Fetch(ctx, ref, l)
		if err != nil {
			return a, err
		}
		var stmt struct {
			Predicate any `json:"predicate"`
		}
		if err := json.Unmarshal(blob, &stmt); err != nil {
			return a, fmt.Errorf("attestation %s: %w", l.Digest, err)
		}
		switch {
		case typ == predicateSPDX && a.sbom.SPDX == nil:
			a.sbom.SPDX = stmt.Predicate
		case typ == predicateSPDX:
			a.sbom.AdditionalSPDXs = append(a.sbom.AdditionalSPDXs, stmt.Predicate)
		default:
			a.provenance.SLSA = stmt.Predicate
		}
	}
	return a, nil
}
