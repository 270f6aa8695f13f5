package build

import (
	"context"
	"fmt"
	"regexp"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
)

// Syntax returns the frontend image a Dockerfile names with its
// "# syntax=" directive, or "" when it names none.
func Syntax(dockerfile []byte) string {
	ref, _, _, ok := parser.DetectSyntax(dockerfile)
	if !ok {
		return ""
	}
	return ref
}

// builtinCovered matches the docker/dockerfile tags whose syntax the
// built-in Dockerfile frontend implements: the stable 1.x channel (no
// labs, no upstream/master images).
var builtinCovered = regexp.MustCompile(`^1(\.\d+){0,2}$`)

// BuiltinCovers reports whether ref is docker/dockerfile at a stable 1.x tag,
// which the built-in frontend of this BuildKit can stand in for.
func BuiltinCovers(ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	if reference.FamiliarName(named) != "docker/dockerfile" {
		return false
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		_, digested := named.(reference.Digested)
		return !digested // no tag means latest, the stable channel
	}
	return builtinCovered.MatchString(tagged.Tag())
}

// resolveImage checks that the builder can resolve ref (pulling its config
// through the session's registry credentials).
func resolveImage(ctx context.Context, c *client.Client, ref string, sess []session.Attachable) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("%q is not an image reference: %w", ref, err)
	}
	ref = reference.TagNameOnly(named).String()
	_, err = c.Build(ctx, client.SolveOpt{Session: sess, Internal: true}, "", func(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
		_, _, _, err := c.ResolveImageConfig(ctx, ref, sourceresolver.Opt{ImageOpt: &sourceresolver.ResolveImageOpt{ResolveMode: "default"}})
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", ref, err)
		}
		return nil, nil
	}, nil)
	return err
}
