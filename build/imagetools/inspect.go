package imagetools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Inspection is an image read from a registry for inspect.
type Inspection struct {
	// Name is the reference as given; Ref is it normalized.
	Name string
	Ref  reference.Named
	// Raw is the manifest or index as stored; Desc its descriptor.
	Raw  []byte
	Desc ocispecs.Descriptor

	index ocispecs.Index
	r     *Resolver
}

// Inspect reads the manifest or index name names.
func (r *Resolver) Inspect(ctx context.Context, name string) (*Inspection, error) {
	ref, err := ParseRef(name)
	if err != nil {
		return nil, err
	}
	dt, desc, err := r.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	in := &Inspection{Name: name, Ref: ref, Raw: dt, Desc: desc, r: r}
	if err := json.Unmarshal(dt, &in.index); err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return in, nil
}

// PrintRaw writes the manifest or index as stored, with no newline added,
// so that its digest is the one the registry has.
func (in *Inspection) PrintRaw(w io.Writer) error {
	_, err := w.Write(in.Raw)
	return err
}

// Print writes the human view of buildx: name, media type, digest and, for
// an index, each manifest with its platform.
func (in *Inspection) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	_, _ = fmt.Fprintf(tw, "Name:\t%s\n", in.Ref)
	_, _ = fmt.Fprintf(tw, "MediaType:\t%s\n", in.Desc.MediaType)
	_, _ = fmt.Fprintf(tw, "Digest:\t%s\n", in.Desc.Digest)
	if err := tw.Flush(); err != nil {
		return err
	}
	if !images.IsIndexType(in.Desc.MediaType) {
		return nil
	}
	return in.printManifests(w)
}

const pfx = "  "

func (in *Inspection) printManifests(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	_, _ = fmt.Fprintf(tw, "\t\n")
	_, _ = fmt.Fprintf(tw, "Manifests:\t\n")
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i, m := range in.index.Manifests {
		if i != 0 {
			_, _ = fmt.Fprintf(tw, "\t\n")
		}
		name := in.Ref.String()
		if d, err := reference.WithDigest(in.Ref, m.Digest); err == nil {
			name = d.String()
		}
		_, _ = fmt.Fprintf(tw, "%sName:\t%s\n", pfx, name)
		_, _ = fmt.Fprintf(tw, "%sMediaType:\t%s\n", pfx, m.MediaType)
		p := m.Platform
		if p == nil {
			continue
		}
		_, _ = fmt.Fprintf(tw, "%sPlatform:\t%s\n", pfx, platforms.Format(*p))
		if p.OSVersion != "" {
			_, _ = fmt.Fprintf(tw, "%sOSVersion:\t%s\n", pfx, p.OSVersion)
		}
		if len(p.OSFeatures) > 0 {
			_, _ = fmt.Fprintf(tw, "%sOSFeatures:\t%s\n", pfx, strings.Join(p.OSFeatures, ", "))
		}
		if len(m.URLs) > 0 {
			_, _ = fmt.Fprintf(tw, "%sURLs:\t%s\n", pfx, strings.Join(m.URLs, ", "))
		}
		if len(m.Annotations) > 0 {
			_, _ = fmt.Fprintf(tw, "%sAnnotations:\t\n", pfx)
			if err := tw.Flush(); err != nil {
				return err
			}
			aw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
			keys := make([]string, 0, len(m.Annotations))
			for k := range m.Annotations {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				_, _ = fmt.Fprintf(aw, "%s%s:\t%s\n", pfx+pfx, k, m.Annotations[k])
			}
			if err := aw.Flush(); err != nil {
				return err
			}
		}
	}
	return tw.Flush()
}

var wholeManifest = regexp.MustCompile(`^\{\{\s*\.Manifest\s*\}\}$`)

// ParseFormat parses a --format template, with buildx's json function.
func ParseFormat(format string) (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"json": func(v any) string {
			b, _ := json.MarshalIndent(v, "", "  ")
			return string(b)
		},
	}).Parse(format)
}

// PrintFormat executes tpl with buildx's fields: .Name (as given),
// .Manifest (the descriptor of a manifest, or the index with its digest
// and size), .Image (the configuration; a map by platform when there are
// several), .SBOM and .Provenance ({{.Manifest}} alone is the human view).
func (in *Inspection) PrintFormat(ctx context.Context, w io.Writer, tpl *template.Template) error {
	if wholeManifest.MatchString(strings.TrimSpace(tpl.Root.String())) {
		return in.Print(w)
	}
	configs := map[string]*ocispecs.Image{}
	if err := in.r.loadConfigs(ctx, in.Ref, in.Desc, configs); err != nil {
		return err
	}
	atts, err := in.r.loadAttestations(ctx, in.Ref, in.Desc)
	if err != nil {
		return err
	}
	var mfst any = in.Desc
	if images.IsIndexType(in.Desc.MediaType) {
		mfst = indexView{
			SchemaVersion: in.index.SchemaVersion,
			MediaType:     in.index.MediaType,
			Digest:        in.Desc.Digest,
			Size:          in.Desc.Size,
			Manifests:     in.index.Manifests,
			Annotations:   in.index.Annotations,
		}
	}
	if len(configs) > 1 {
		return tpl.Execute(w, Fields{Name: in.Name, Manifest: mfst, Image: configs, atts: atts})
	}
	var img *ocispecs.Image
	var att attestations
	for p, c := range configs {
		img, att = c, atts[p]
	}
	return tpl.Execute(w, Field{Name: in.Name, Manifest: mfst, Image: img, att: att})
}

type indexView struct {
	SchemaVersion int                   `json:"schemaVersion"`
	MediaType     string                `json:"mediaType,omitempty"`
	Digest        digest.Digest         `json:"digest"`
	Size          int64                 `json:"size"`
	Manifests     []ocispecs.Descriptor `json:"manifests"`
	Annotations   map[string]string     `json:"annotations,omitempty"`
}

// Field is what --format reads of an image of one platform.
type Field struct {
	Name     string          `json:"name,omitempty"`
	Manifest any             `json:"manifest,omitempty"`
	Image    *ocispecs.Image `json:"image,omitempty"`

	att attestations
}

// SBOM is the image's SBOM, from its attestation manifest.
func (f Field) SBOM() (SBOM, error) { return f.att.sbom, nil }

// Provenance is the image's SLSA provenance, from its attestation
// manifest.
func (f Field) Provenance() (Provenance, error) { return f.att.provenance, nil }

// Fields is what --format reads of an image of several platforms, each
// map keyed by platform ("linux/arm64").
type Fields struct {
	Name     string                     `json:"name,omitempty"`
	Manifest any                        `json:"manifest,omitempty"`
	Image    map[string]*ocispecs.Image `json:"image,omitempty"`

	atts map[string]attestations
}

// SBOM is each platform's SBOM.
func (f Fields) SBOM() (map[string]SBOM, error) {
	out := map[string]SBOM{}
	for p := range f.Image {
		out[p] = f.atts[p].sbom
	}
	return out, nil
}

// Provenance is each platform's provenance.
func (f Fields) Provenance() (map[string]Provenance, error) {
	out := map[string]Provenance{}
	for p := range f.Image {
		out[p] = f.atts[p].provenance
	}
	return out, nil
}

// SBOM is buildx's view of an SPDX SBOM attestation.
type SBOM struct {
	SPDX            any   `json:",omitempty"`
	AdditionalSPDXs []any `json:",omitempty"`
}

// Provenance is buildx's view of a SLSA provenance attestation.
type Provenance struct {
	SLSA any `json:",omitempty"`
}

// loadConfigs reads the configuration of every image desc holds, by
// platform; attestation manifests are skipped.
func (r *Resolver) loadConfigs(ctx context.Context, ref reference.Named, desc ocispecs.Descriptor, out map[string]*ocispecs.Image) error {
	dt, err := r.Fetch(ctx, ref, desc)
	if err != nil {
		return err
	}
	switch desc.MediaType {
	case images.MediaTypeDockerSchema2ManifestList, ocispecs.MediaTypeImageIndex:
		var idx ocispecs.Index
		if err := json.Unmarshal(dt, &idx); err != nil {
			return err
		}
		for _, d := range idx.Manifests {
			if d.Annotations["vnd.docker.reference.digest"] != "" || d.Annotations["com.docker.reference.digest"] != "" {
				continue
			}
			if err := r.loadConfigs(ctx, ref, d, out); err != nil {
				return err
			}
		}
	case images.MediaTypeDockerSchema2Manifest, ocispecs.MediaTypeImageManifest:
		var m ocispecs.Manifest
		if err := json.Unmarshal(dt, &m); err != nil {
			return err
		}
		cfg, err := r.Fetch(ctx, ref, m.Config)
		if err != nil {
			return err
		}
		var img ocispecs.Image
		if err := json.Unmarshal(cfg, &img); err != nil {
			return err
		}
		p := desc.Platform
		if p == nil {
			p = &img.Platform
		}
		out[platforms.Format(platforms.Normalize(*p))] = &img
	}
	return nil
}
