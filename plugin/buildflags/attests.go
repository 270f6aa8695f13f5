package buildflags

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	csvvalue "github.com/tonistiigi/go-csvvalue"
)

// Attestation types BuildKit makes.
const (
	AttestProvenance = "provenance"
	AttestSBOM       = "sbom"
)

// DefaultProvenance is the attestation buildx asks for when none is given
// about provenance: a minimal SLSA provenance that only image outputs
// (image, registry, and oci/docker ones of several platforms) carry.
const DefaultProvenance = "mode=min,inline-only=true"

// Attest is one --attest value, as buildx reads it: a type, whether it is
// turned off, and the generator's parameters.
type Attest struct {
	Type     string
	Disabled bool
	// Attrs are the other keys, as given (generator=IMAGE, mode=max …).
	Attrs map[string]string
}

// UnmarshalText parses "type=TYPE[,disabled=BOOL][,KEY=VALUE…]".
func (a *Attest) UnmarshalText(text []byte) error {
	fields, err := csvvalue.Fields(string(text), nil)
	if err != nil {
		return fmt.Errorf("%q: %w", text, err)
	}
	*a = Attest{Attrs: map[string]string{}}
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return fmt.Errorf("%q: %q is not KEY=VALUE", text, field)
		}
		switch strings.TrimSpace(strings.ToLower(key)) {
		case "type":
			a.Type = value
		case "disabled":
			if a.Disabled, err = strconv.ParseBool(value); err != nil {
				return fmt.Errorf("%q: disabled=%s: not a boolean", text, value)
			}
		default:
			a.Attrs[key] = value
		}
	}
	return a.validate(string(text))
}

func (a *Attest) validate(text string) error {
	switch a.Type {
	case "":
		return fmt.Errorf("%q: attestation type not specified: give type=sbom or type=provenance", text)
	case AttestSBOM:
	case AttestProvenance:
		if m, ok := a.Attrs["mode"]; ok && m != "min" && m != "max" {
			return fmt.Errorf("%q: mode=%s: provenance mode is min or max", text, m)
		}
	default:
		return fmt.Errorf("%q: unknown attestation type %q: use sbom or provenance", text, a.Type)
	}
	return nil
}

// String is the spec back, as buildx writes it: type first, the other
// keys sorted.
func (a *Attest) String() string {
	fields := []string{"type=" + a.Type}
	if a.Disabled {
		fields = append(fields, "disabled=true")
	}
	for _, k := range slices.Sorted(maps.Keys(a.Attrs)) {
		fields = append(fields, csvField(k+"="+a.Attrs[k]))
	}
	return strings.Join(fields, ",")
}

// csvField quotes f as a CSV field when it needs it.
func csvField(f string) string {
	if strings.ContainsAny(f, ",\"\n\r") {
		return `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
	}
	return f
}

// CanonicalAttest is buildx's CanonicalizeAttest: a --sbom or --provenance
// value as an --attest spec. "true"/"false" (any ParseBool form) turn the
// type on or off; anything else is its parameters.
func CanonicalAttest(typ, in string) string {
	if in == "" {
		return ""
	}
	if b, err := strconv.ParseBool(in); err == nil {
		return fmt.Sprintf("type=%s,disabled=%t", typ, !b)
	}
	return fmt.Sprintf("type=%s,%s", typ, in)
}

// Attests turns --attest values, then --provenance and --sbom (which
// come after them, as in buildx), into BuildKit's frontend attributes'
// values by type: "attest:TYPE" is the value. A type given twice takes the
// last; a type turned off is absent. Unless provenance is mentioned at
// all, or noDefault is set ($BUILDX_NO_DEFAULT_ATTESTATIONS), provenance
// is DefaultProvenance.
func Attests(attests []string, sbom, provenance string, noDefault bool) (map[string]string, error) {
	type flagged struct{ flag, spec string }
	var in []flagged
	for _, s := range attests {
		in = append(in, flagged{"--attest", s})
	}
	if provenance != "" {
		in = append(in, flagged{"--provenance", CanonicalAttest(AttestProvenance, provenance)})
	}
	if sbom != "" {
		in = append(in, flagged{"--sbom", CanonicalAttest(AttestSBOM, sbom)})
	}
	byType := map[string]*Attest{}
	for _, f := range in {
		var a Attest
		if err := a.UnmarshalText([]byte(f.spec)); err != nil {
			return nil, fmt.Errorf("%s: %w", f.flag, err)
		}
		byType[a.Type] = &a
	}
	out := map[string]string{}
	for typ, a := range byType {
		if !a.Disabled {
			out[typ] = a.String()
		}
	}
	if _, ok := byType[AttestProvenance]; !ok && !noDefault {
		out[AttestProvenance] = DefaultProvenance
	}
	return out, nil
}
