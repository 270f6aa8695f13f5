package buildflags

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/containerd/platforms"
	"github.com/docker-build2/docker-build2/build"
)

// AnnotationTypes are the --annotation types, in the order messages list
// them.
var AnnotationTypes = []string{build.AnnotationManifest, build.AnnotationIndex, build.AnnotationManifestDescriptor, build.AnnotationIndexDescriptor}

// annotationType is one type of an --annotation with its optional
// platform, as buildx reads it: "manifest", "manifest[linux/amd64]".
var annotationType = regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`)

const annotationUsage = "use KEY=VALUE or TYPE:KEY=VALUE, TYPE one of manifest, index, manifest-descriptor, index-descriptor (several comma separated; manifest[linux/amd64] for one platform's)"

// Annotations parses --annotation values as buildx does: "KEY=VALUE" (the
// manifests, BuildKit's default), "TYPE:KEY=VALUE" and "T1,T2:KEY=VALUE"
// for each type, and "manifest[PLATFORM]:KEY=VALUE" for the manifest of
// one platform. An empty value is skipped.
func Annotations(specs []string) ([]build.Annotation, error) {
	var out []build.Annotation
	for _, s := range specs {
		if s == "" {
			continue
		}
		as, err := annotation(s)
		if err != nil {
			return nil, fmt.Errorf("--annotation %q: %w", s, err)
		}
		out = append(out, as...)
	}
	return out, nil
}

func annotation(s string) ([]build.Annotation, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return nil, fmt.Errorf("no \"=\": %s", annotationUsage)
	}
	types, key, typed := strings.Cut(k, ":")
	if !typed {
		types, key = "", types
	}
	switch {
	case key == "":
		return nil, fmt.Errorf("the key is empty: %s", annotationUsage)
	case strings.ContainsFunc(key, unicode.IsSpace):
		return nil, fmt.Errorf("the key %q contains whitespace", key)
	}
	if !typed {
		return []build.Annotation{{Key: key, Value: v}}, nil
	}
	var out []build.Annotation
	for _, t := range strings.Split(types, ",") {
		a, err := annotationOf(t)
		if err != nil {
			return nil, err
		}
		a.Key, a.Value = key, v
		out = append(out, a)
	}
	return out, nil
}

// annotationOf reads one type with its optional platform.
func annotationOf(t string) (build.Annotation, error) {
	groups := annotationType.FindStringSubmatch(t)
	if groups == nil {
		return build.Annotation{}, fmt.Errorf("%q is not a type with an optional [platform]: %s", t, annotationUsage)
	}
	a := build.Annotation{Type: groups[1]}
	if !slices.Contains(AnnotationTypes, a.Type) {
		return a, fmt.Errorf("unknown type %q: use one of %s", a.Type, oneOf(AnnotationTypes))
	}
	if groups[2] == "" {
		return a, nil
	}
	if a.NeedsIndex() {
		return a, fmt.Errorf("type %s takes no platform: an image has one index, for all platforms", a.Type)
	}
	p, err := platforms.Parse(groups[2])
	if err != nil {
		return a, fmt.Errorf("platform %q: %w", groups[2], err)
	}
	a.Platform = platforms.FormatAll(platforms.Normalize(p))
	return a, nil
}

// FormatAnnotation is the --annotation value of a.
func FormatAnnotation(a build.Annotation) string {
	t := a.Type
	if a.Platform != "" {
		t += "[" + a.Platform + "]"
	}
	if t == "" {
		return a.Key + "=" + a.Value
	}
	return t + ":" + a.Key + "=" + a.Value
}

// CheckAnnotations checks annotations against the image the build makes,
// before it starts, as BuildKit would fail it once built: an index
// annotation needs an index (index is false for the image of one platform
// without BUILDKIT_MULTI_PLATFORM), and a platform's manifest annotation a
// platform the build has (when targets names them).
func CheckAnnotations(annotations []build.Annotation, targets []string, index bool) error {
	have := map[string]bool{}
	for _, t := range targets {
		if p, err := platforms.Parse(t); err == nil {
			have[platforms.FormatAll(platforms.Normalize(p))] = true
		}
	}
	for _, a := range annotations {
		switch {
		case a.NeedsIndex() && !index:
			return fmt.Errorf("--annotation %q: index annotations not supported for single platform export: an image of one platform has no index; build several --platform values, or set --build-arg BUILDKIT_MULTI_PLATFORM=1 for an index of one", FormatAnnotation(a))
		case a.Platform != "" && len(have) > 0 && !have[a.Platform]:
			return fmt.Errorf("--annotation %q: the build has no platform %s (--platform %s)", FormatAnnotation(a), a.Platform, strings.Join(targets, ","))
		}
	}
	return nil
}
