package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/sourcemeta"
	"github.com/moby/buildkit/frontend/dockerui"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/solver/pb"
	spb "github.com/moby/buildkit/sourcepolicy/pb"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/sirupsen/logrus"
)

// EvalOptions are a policy eval: the source, and either the policy that
// judges it or, with Print, the input a policy would get.
type EvalOptions struct {
	// Source is docker-image://REF, a Git or HTTP(S) URL, or a local path
	// (the local context).
	Source string
	// Print prints the input instead of evaluating the policy; Fields
	// are the unresolved fields to resolve for it (image.labels …).
	Print  bool
	Fields []string
	// Policy is the policy file (Dockerfile.rego for the Dockerfile
	// named "Dockerfile"), PolicyName the name in input.env.filename.
	Policy     []byte
	PolicyFile string
	PolicyName string
	// Verifier checks signatures; nil checks none.
	Verifier buildxpolicy.PolicyVerifierProvider
	// Log receives the policy's log lines (debug).
	Log func(string)
}

// EvalResult is a policy eval's outcome: the input (JSON) with Print,
// and the notes about fields (invalid or left unresolved).
type EvalResult struct {
	Input      []byte
	Invalid    []string
	Unresolved []string
}

// maxAttempts bounds the rounds of metadata resolution, as buildx does.
const maxAttempts = 5

// Eval evaluates o on r's builder. A denied source is an error with the
// policy's messages ("policy denied: …").
func Eval(ctx context.Context, r *Resolver, o EvalOptions) (*EvalResult, error) {
	src, err := ParseSource(o.Source)
	if err != nil {
		return nil, err
	}
	if o.Print {
		return printInput(ctx, r, src, o)
	}
	logf := func(_ logrus.Level, msg string) {
		if o.Log != nil {
			o.Log(msg)
		}
	}
	p := buildxpolicy.NewPolicy(buildxpolicy.Opt{
		Files:            []buildxpolicy.File{{Filename: filepath.Base(o.PolicyFile), Data: o.Policy}},
		Env:              buildxpolicy.Env{Filename: filepath.Base(o.PolicyName)},
		Log:              logf,
		FS:               cwdFS,
		VerifierProvider: o.Verifier,
		DefaultPlatform:  &r.Platform,
		SourceResolver:   r.meta,
	})
	req := &gwpb.ResolveSourceMetaResponse{Source: src}
	platform := &pb.Platform{OS: r.Platform.OS, Architecture: r.Platform.Architecture, Variant: r.Platform.Variant}
	for range maxAttempts - 1 {
		decision, next, err := p.CheckPolicy(ctx, &policysession.CheckPolicyRequest{Platform: platform, Source: req})
		if err != nil {
			return nil, err
		}
		if next == nil {
			return &EvalResult{}, decisionError(decision)
		}
		target := src
		if next.Source != nil {
			target = next.Source
		}
		resp, err := r.meta.ResolveSourceMetadata(ctx, target, sourcemeta.ToResolverOpt(next, &r.Platform))
		if err != nil {
			return nil, err
		}
		req = sourcemeta.ToGatewayMetaResponse(resp)
	}
	return nil, errors.New("maximum attempts reached for resolving policy metadata")
}

func cwdFS() (fs.StatFS, func() error, error) {
	root, err := os.OpenRoot(".")
	if err != nil {
		return nil, nil, err
	}
	return root.FS().(fs.StatFS), root.Close, nil
}

// printInput is the input of src, with the Fields asked for resolved.
func printInput(ctx context.Context, r *Resolver, src *pb.SourceOp, o EvalOptions) (*EvalResult, error) {
	platform := &pb.Platform{OS: r.Platform.OS, Architecture: r.Platform.Architecture, Variant: r.Platform.Variant}
	resp := &gwpb.ResolveSourceMetaResponse{Source: src}
	input, err := buildxpolicy.SourceToInput(ctx, o.Verifier, resp, &r.Platform, nil)
	if err != nil {
		return nil, err
	}
	var (
		last, unknowns, invalid []string
		reloaded                = map[string]bool{}
	)
	for attempts := maxAttempts; ; {
		attempts--
		if attempts <= 0 {
			return nil, errors.New("maximum attempts reached for resolving source metadata")
		}
		unknowns = trimInput(input.Unknowns())
		if last != nil && slices.Equal(unknowns, last) {
			break
		}
		last = slices.Clone(unknowns)
		var reload []string
		reload, invalid = selectFields(o.Fields, unknowns)
		if len(reload) == 0 {
			break
		}
		for _, f := range reload {
			reloaded[f] = true
		}
		retry, next, err := buildxpolicy.ResolveInputUnknowns(ctx, &input, resp.Source, reload, platform, &r.Platform, r.meta, o.Verifier, nil)
		if err != nil {
			return nil, err
		}
		if next != nil {
			meta, err := r.meta.ResolveSourceMetadata(ctx, next.Source, sourcemeta.ToResolverOpt(next, &r.Platform))
			if err != nil {
				return nil, err
			}
			resp = sourcemeta.ToGatewayMetaResponse(meta)
			if input, err = buildxpolicy.SourceToInput(ctx, o.Verifier, resp, &r.Platform, nil); err != nil {
				return nil, err
			}
			continue
		}
		if !retry {
			break
		}
	}
	res := &EvalResult{Unresolved: summarize(unknowns, o.Fields)}
	for _, f := range invalid {
		if !reloaded[f] {
			res.Invalid = append(res.Invalid, f)
		}
	}
	sanitize(&input)
	dt, err := json.MarshalIndent(input, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to marshal policy input: %w", err)
	}
	res.Input = dt
	return res, nil
}

func trimInput(in []string) []string {
	out := make([]string, 0, len(in))
	for _, u := range in {
		out = append(out, strings.TrimPrefix(u, "input."))
	}
	return out
}

// selectFields are the unknowns to resolve for the fields asked for, and
// the fields that name no unknown.
func selectFields(fields, unknowns []string) (reload, invalid []string) {
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			reload = append(reload, f)
		}
	}
	for _, field := range fields {
		switch {
		case slices.Contains(unknowns, field):
			add(field)
		case strings.HasPrefix(field, "image.provenance.materials["):
			added := false
			if slices.Contains(unknowns, "image.provenance") {
				add("image.provenance")
				added = true
			}
			if a := unknownAncestor(field, unknowns); a != "" {
				add(a)
				added = true
			}
			if !added {
				invalid = append(invalid, field)
			}
		default:
			invalid = append(invalid, field)
		}
	}
	slices.Sort(reload)
	return reload, invalid
}

// unknownAncestor is the longest unknown that field lies under.
func unknownAncestor(field string, unknowns []string) string {
	var best string
	for _, u := range unknowns {
		if field == u {
			return u
		}
		if (strings.HasPrefix(field, u+".") || strings.HasPrefix(field, u+"[")) && len(u) > len(best) {
			best = u
		}
	}
	return best
}

// summarize names the unresolved fields as buildx reports them: those
// asked for, or each unknown's top two levels.
func summarize(unknowns, requested []string) []string {
	out := map[string]bool{}
	for _, u := range unknowns {
		if len(requested) > 0 {
			continue
		}
		if base, _, ok := strings.Cut(u, ".materials["); ok {
			out[base+".materials"] = true
			continue
		}
		parts := strings.Split(u, ".")
		if len(parts) > 1 {
			u = strings.Join(parts[:2], ".")
		}
		out[u] = true
	}
	for _, f := range requested {
		if slices.Contains(unknowns, f) {
			out[f] = true
		} else if a := unknownAncestor(f, unknowns); a != "" {
			out[a] = true
		}
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sanitize drops what --print does not show: the evaluation depth.
func sanitize(inp *buildxpolicy.Input) {
	inp.Env.Depth = 0
	if inp.Image == nil || inp.Image.Provenance == nil {
		return
	}
	for i := range inp.Image.Provenance.Materials {
		sanitize(&inp.Image.Provenance.Materials[i])
	}
}

func decisionError(d *policysession.DecisionResponse) error {
	if d == nil {
		return errors.New("policy returned no decision")
	}
	switch d.Action {
	case spb.PolicyAction_ALLOW, spb.PolicyAction_CONVERT:
		return nil
	case spb.PolicyAction_DENY:
		var msgs []string
		for _, m := range d.DenyMessages {
			if m.GetMessage() != "" {
				msgs = append(msgs, m.GetMessage())
			}
		}
		if len(msgs) == 0 {
			return errors.New("policy denied")
		}
		return fmt.Errorf("policy denied: %s", strings.Join(msgs, "; "))
	}
	return fmt.Errorf("unknown policy action %s", d.Action)
}

// ParseSource reads a policy eval's source as buildx does:
// docker-image://REF, git:// or a Git HTTP(S) URL, another HTTP(S) URL,
// else a local path (the local context).
func ParseSource(in string) (*pb.SourceOp, error) {
	if ref, ok := strings.CutPrefix(in, "docker-image://"); ok {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			return nil, fmt.Errorf("failed to parse image source reference: %w", err)
		}
		return &pb.SourceOp{Identifier: "docker-image://" + reference.TagNameOnly(named).String()}, nil
	}
	if strings.HasPrefix(in, "git://") {
		_, ok, err := dockerui.DetectGitContext(in, nil)
		if !ok {
			return nil, fmt.Errorf("invalid git context %s", in)
		}
		if err != nil {
			return nil, err
		}
		return &pb.SourceOp{Identifier: in}, nil
	}
	if strings.HasPrefix(in, "http://") || strings.HasPrefix(in, "https://") {
		_, ok, err := dockerui.DetectGitContext(in, nil)
		if ok {
			return &pb.SourceOp{Identifier: "git://" + in, Attrs: map[string]string{"git.fullurl": in}}, nil
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			return nil, err
		}
		return &pb.SourceOp{Identifier: in}, nil
	}
	if _, err := os.Stat(in); err != nil {
		return nil, fmt.Errorf("invalid local path %s: %w", in, err)
	}
	return &pb.SourceOp{Identifier: "local://context"}, nil
}
