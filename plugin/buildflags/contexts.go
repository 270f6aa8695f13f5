package buildflags

import (
	"fmt"
	"strings"

	"github.com/docker/buildx/util/ocilayout"

	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build"
)

// BuildContexts parses --build-context values, NAME=VALUE as buildx takes
// them: docker-image://REF, oci-layout://PATH[:TAG|@sha256:…], a Git or
// HTTP(S) URL, or a local directory.
func BuildContexts(specs []string) (map[string]build.NamedContext, error) {
	out := map[string]build.NamedContext{}
	for _, s := range specs {
		name, value, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(name) == "" || value == "" {
			return nil, fmt.Errorf("--build-context %q: use NAME=VALUE, e.g. base=docker-image://alpine or src=./dir", s)
		}
		if _, err := reference.ParseNormalizedNamed(name); err != nil && !validContextName(name) {
			return nil, fmt.Errorf("--build-context %q: %q is not a valid name: use lower-case letters, digits, '.', '_', '-' and '/'", s, name)
		}
		c, err := namedContext(value)
		if err != nil {
			return nil, fmt.Errorf("--build-context %q: %w", s, err)
		}
		out[name] = c
	}
	return out, nil
}

func validContextName(name string) bool {
	ok := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:", r)
	}
	for _, r := range name {
		if !ok(r) {
			return false
		}
	}
	return true
}

func namedContext(value string) (build.NamedContext, error) {
	switch {
	case strings.HasPrefix(value, "docker-image://"):
		ref := strings.TrimPrefix(value, "docker-image://")
		if _, err := reference.ParseNormalizedNamed(ref); err != nil {
			return build.NamedContext{}, fmt.Errorf("image %q: %w", ref, err)
		}
		return build.NamedContext{Kind: build.ContextImage, Value: ref}, nil
	case strings.HasPrefix(value, "oci-layout://"):
		// buildx's reading: a ':TAG' or '@DIGEST' suffix only when it is
		// one, else part of the directory's name.
		ref, _, err := ocilayout.Parse(value)
		if err != nil {
			return build.NamedContext{}, fmt.Errorf("oci-layout:// digest: %w", err)
		}
		if ref.Path == "" {
			return build.NamedContext{}, fmt.Errorf("oci-layout:// needs the layout's directory")
		}
		c := build.NamedContext{Kind: build.ContextOCILayout, Value: ref.Path}
		switch {
		case ref.Digest != "":
			c.Ref = ref.Digest.String()
		case ref.Tag != "latest":
			c.Ref = ref.Tag
		}
		return c, nil
	case strings.HasPrefix(value, "target:"):
		return build.NamedContext{}, fmt.Errorf("target: contexts are bake's: name a directory, docker-image://, oci-layout:// or a URL")
	case IsRemoteURL(value):
		if err := CheckGitURL(value); err != nil {
			return build.NamedContext{}, err
		}
		return build.NamedContext{Kind: build.ContextURL, Value: value}, nil
	}
	return build.NamedContext{Kind: build.ContextLocal, Value: strings.TrimPrefix(value, "cwd://")}, nil
}

// FormatBuildContext is the --build-context value of c.
func FormatBuildContext(name string, c build.NamedContext) string {
	switch c.Kind {
	case build.ContextImage:
		return name + "=docker-image://" + c.Value
	case build.ContextOCILayout:
		switch {
		case strings.HasPrefix(c.Ref, "sha256:"):
			return name + "=oci-layout://" + c.Value + "@" + c.Ref
		case c.Ref != "":
			return name + "=oci-layout://" + c.Value + ":" + c.Ref
		}
		return name + "=oci-layout://" + c.Value
	case build.ContextLocal:
		// A directory that reads as another kind (github.com/org/repo,
		// docker-image://…) keeps the cwd:// that made it local.
		if back, err := namedContext(c.Value); err != nil || back != c {
			return name + "=cwd://" + c.Value
		}
	}
	return name + "=" + c.Value
}
