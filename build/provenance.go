package build

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/content/proxy"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	provenancetypes "github.com/moby/buildkit/solver/llbsolver/provenance/types"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// MetadataProvenance is how much of a build's provenance its metadata file
// carries as buildx.build.provenance, as buildx's
// BUILDX_METADATA_PROVENANCE sets it.
type MetadataProvenance string

// The MetadataProvenance values. The zero value writes none.
const (
	// MetadataProvenanceMin is the provenance without its build config
	// and metadata: buildx's default.
	MetadataProvenanceMin MetadataProvenance = "min"
	// MetadataProvenanceMax is the whole provenance.
	MetadataProvenanceMax MetadataProvenance = "max"
	// MetadataProvenanceDisabled writes none.
	MetadataProvenanceDisabled MetadataProvenance = "disabled"
)

// ParseMetadataProvenance reads a BUILDX_METADATA_PROVENANCE value as
// buildx does: min, max, disabled or a false boolean; anything else is
// min.
func ParseMetadataProvenance(v string) MetadataProvenance {
	switch v {
	case "min", "max", "disabled":
		return MetadataProvenance(v)
	}
	if on, err := strconv.ParseBool(v); err == nil && !on {
		return MetadataProvenanceDisabled
	}
	return MetadataProvenanceMin
}

// MetadataProvenanceKey is the metadata key of a build's provenance; a
// build of several platforms has one per platform, the key followed by
// "/" and the platform.
const MetadataProvenanceKey = "buildx.build.provenance"

// wantsProvenance reports whether opts's metadata file carries the build's
// provenance: read from the builder's build history, as buildx does.
func wantsProvenance(opts Options) bool {
	return opts.RecordRef != "" && opts.Call == "" && opts.MetadataProvenance.Enabled()
}

// Enabled reports whether m puts the build's provenance into its metadata
// file ("" is none asked for).
func (m MetadataProvenance) Enabled() bool {
	return m != "" && m != MetadataProvenanceDisabled
}

// historyProvenance reads the provenance BuildKit recorded in its build
// history for the build ref: the metadata keys and their values, the
// predicate in SLSA v0.2 form, base64-encoded, as buildx writes them.
// BuildKit records a provenance for every build in its history (mode=max),
// whatever attestations the build's outputs carry. found reports whether
// the history holds the build: one that is off holds none.
func historyProvenance(ctx context.Context, c *client.Client, ref string, mode MetadataProvenance) (_ map[string]string, found bool, _ error) {
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{Ref: ref, EarlyExit: true})
	if err != nil {
		return nil, found, fmt.Errorf("reading the build's provenance from the build history: %w", err)
	}
	store := proxy.NewContentStore(c.ContentClient())
	out := map[string]string{}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, found, nil
		}
		if err != nil {
			return nil, found, fmt.Errorf("reading the build's provenance from the build history: %w", err)
		}
		if ev.Record == nil {
			continue
		}
		found = true
		results := ev.Record.Results
		if len(results) == 0 && ev.Record.Result != nil {
			results = map[string]*controlapi.BuildResultInfo{"": ev.Record.Result}
		}
		for platform, res := range results {
			desc, predicateType := provenanceOf(res)
			if desc == nil {
				continue
			}
			dt, err := content.ReadBlob(ctx, store, *desc)
			if err != nil {
				return nil, found, fmt.Errorf("reading the build's provenance %s from the build history: %w", desc.Digest, err)
			}
			v, err := encodeProvenance(dt, predicateType, mode)
			if err != nil {
				return nil, found, err
			}
			key := MetadataProvenanceKey
			if platform != "" {
				key += "/" + platform
			}
			out[key] = v
		}
	}
}

// provenanceOf is the SLSA provenance among a history result's
// attestations, and its predicate type.
func provenanceOf(res *controlapi.BuildResultInfo) (*ocispecs.Descriptor, string) {
	for _, a := range res.Attestations {
		pt := a.Annotations["in-toto.io/predicate-type"]
		if a.MediaType == "application/vnd.in-toto+json" && strings.HasPrefix(pt, "https://slsa.dev/provenance/") {
			return &ocispecs.Descriptor{Digest: digest.Digest(a.Digest), Size: a.Size, MediaType: a.MediaType, Annotations: a.Annotations}, pt
		}
	}
	return nil, ""
}

// encodeProvenance is a provenance predicate (SLSA v1 or v0.2) as the
// metadata carries it: SLSA v0.2, without build config and metadata in
// min mode, JSON, base64-encoded.
func encodeProvenance(dt []byte, predicateType string, mode MetadataProvenance) (string, error) {
	var pred *provenancetypes.ProvenancePredicateSLSA02
	if predicateType == "https://slsa.dev/provenance/v1" {
		var v1 *provenancetypes.ProvenancePredicateSLSA1
		if err := json.Unmarshal(dt, &v1); err != nil {
			return "", fmt.Errorf("decoding the build's provenance: %w", err)
		}
		pred = v1.ConvertToSLSA02()
	} else if err := json.Unmarshal(dt, &pred); err != nil {
		return "", fmt.Errorf("decoding the build's provenance: %w", err)
	}
	if pred == nil {
		return "", errors.New("decoding the build's provenance: empty predicate")
	}
	if mode != MetadataProvenanceMax {
		pred.BuildConfig = nil
		pred.Metadata = nil
	}
	out, err := json.Marshal(pred)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// forgetHistory deletes the build ref from the builder's build history.
func forgetHistory(ctx context.Context, c *client.Client, ref string) error {
	_, err := c.ControlClient().UpdateBuildHistory(ctx, &controlapi.UpdateBuildHistoryRequest{Ref: ref, Delete: true})
	return err
}
