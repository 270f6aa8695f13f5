package imagetools

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source is one image create merges: a reference, a digest in the
// repository of the other references, or a descriptor (from -f). Desc
// holds what is known of it; Ref is where it is read from.
type Source struct {
	Ref  reference.Named
	Desc ocispecs.Descriptor
	// arg is the source as given, for messages.
	arg string
}

// ParseSource reads a source as buildx does: a digest ("sha256:…"), an
// image reference, or the JSON of an OCI content descriptor.
func ParseSource(s string) (Source, error) {
	src, err := parseSource(s)
	if err != nil {
		return Source{}, fmt.Errorf("source %q: %w: use an image reference, a digest or a descriptor's JSON", short(s), err)
	}
	src.arg = s
	return src, nil
}

func parseSource(s string) (Source, error) {
	if d, err := digest.Parse(s); err == nil {
		return Source{Desc: ocispecs.Descriptor{Digest: d}}, nil
	} else if strings.HasPrefix(s, "sha256") {
		return Source{}, err
	}
	ref, err := ParseRef(s)
	if err == nil {
		return Source{Ref: ref}, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return Source{}, err
	}
	var parsed struct {
		SchemaVersion int `json:"schemaVersion"`
		ocispecs.Descriptor
	}
	if err := json.Unmarshal([]byte(s), &parsed); err != nil {
		return Source{}, err
	}
	switch {
	case parsed.SchemaVersion != 0:
		return Source{}, fmt.Errorf("a manifest or index (schemaVersion %d), not a content descriptor", parsed.SchemaVersion)
	case parsed.Digest == "":
		return Source{}, errors.New("the descriptor has no digest")
	}
	if err := parsed.Digest.Validate(); err != nil {
		return Source{}, fmt.Errorf("the descriptor's digest: %w", err)
	}
	return Source{Desc: parsed.Descriptor}, nil
}

// short is s for a message: a descriptor's JSON on one line, cut.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Plan is what create does, read from its flags before any I/O.
type Plan struct {
	// Sources are the images merged, in order.
	Sources []Source
	// Tags are the references the result is pushed to; none for a dry run.
	Tags []reference.Named
}

// NewPlan checks create's sources and tags and gives every source its
// repository as buildx does: a digest or descriptor without a reference
// is in the one repository the references name (an error when they name
// several). With appendTo, the first tag's current image is the first
// source.
func NewPlan(sources, tags []string, appendTo bool) (Plan, error) {
	var p Plan
	var err error
	if p.Tags, err = parseTags(tags); err != nil {
		return Plan{}, err
	}
	if appendTo && len(tags) > 0 {
		sources = append([]string{tags[0]}, sources...)
	}
	for _, s := range sources {
		src, err := ParseSource(s)
		if err != nil {
			return Plan{}, err
		}
		p.Sources = append(p.Sources, src)
	}
	repos := map[string]bool{}
	for _, t := range p.Tags {
		repos[t.Name()] = true
	}
	var first reference.Named
	for _, s := range p.Sources {
		if s.Ref != nil {
			repos[s.Ref.Name()] = true
			if first == nil {
				first = s.Ref
			}
		}
	}
	if len(repos) == 0 {
		return Plan{}, errors.New("no repository: name one with --tag or give a source by reference")
	}
	if first == nil && len(p.Tags) > 0 {
		first = p.Tags[0]
	}
	if err := p.inferRepositories(repos, first); err != nil {
		return Plan{}, err
	}
	return p, nil
}

func parseTags(tags []string) ([]reference.Named, error) {
	var out []reference.Named
	for _, t := range tags {
		ref, err := ParseRef(t)
		if err != nil {
			return nil, fmt.Errorf("--tag %q: %w", t, err)
		}
		if _, ok := ref.(reference.Digested); ok {
			return nil, fmt.Errorf("--tag %q: a tag, not a digest, names the image pushed", t)
		}
		out = append(out, ref)
	}
	return out, nil
}

// inferRepositories puts each source without a reference in first's
// repository, the only one of repos.
func (p *Plan) inferRepositories(repos map[string]bool, first reference.Named) error {
	for i, s := range p.Sources {
		if s.Ref != nil {
			continue
		}
		if len(repos) > 1 {
			names := make([]string, 0, len(repos))
			for r := range repos {
				names = append(names, r)
			}
			slices.Sort(names)
			return fmt.Errorf("source %q: the references name several repositories (%s): give it as REPOSITORY@%s", short(s.arg), strings.Join(names, ", "), s.Desc.Digest)
		}
		repo := reference.TrimNamed(first)
		if s.Desc.MediaType == "" {
			d, err := reference.WithDigest(repo, s.Desc.Digest)
			if err != nil {
				return fmt.Errorf("source %q: %w", short(s.arg), err)
			}
			p.Sources[i].Ref = d
		} else {
			p.Sources[i].Ref = repo
		}
	}
	return nil
}

// resolveNeeded reports whether create reads s's descriptor from the
// registry: a descriptor given in full (from -f) is used as it is.
func (s Source) resolveNeeded() bool {
	return s.Desc.MediaType == ""
}
