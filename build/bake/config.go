package bake

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/docker/buildx/bake/hclparser"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// config is a parsed definition before targets are resolved: what the
// files declare, merged. Its types are what hclparser decodes into; the
// field tags and the merge rules are buildx's (bake.Config, bake.Target).
type config struct {
	Groups  []*group  `json:"group" hcl:"group,block" cty:"group"`
	Targets []*target `json:"target" hcl:"target,block" cty:"target"`
}

type group struct {
	Name        string   `json:"-" hcl:"name,label" cty:"name"`
	Description string   `json:"description,omitempty" hcl:"description,optional" cty:"description"`
	Targets     []string `json:"targets" hcl:"targets" cty:"targets"`
}

type target struct {
	Name             string             `hcl:"name,label" cty:"name"`
	Description      string             `hcl:"description,optional" cty:"description"`
	Inherits         []string           `hcl:"inherits,optional" cty:"inherits"`
	Annotations      []string           `hcl:"annotations,optional" cty:"annotations"`
	Attest           attestList         `hcl:"attest,optional" cty:"attest"`
	Context          *string            `hcl:"context,optional" cty:"context"`
	Contexts         map[string]string  `hcl:"contexts,optional" cty:"contexts"`
	Dockerfile       *string            `hcl:"dockerfile,optional" cty:"dockerfile"`
	DockerfileInline *string            `hcl:"dockerfile-inline,optional" cty:"dockerfile-inline"`
	Args             map[string]*string `hcl:"args,optional" cty:"args"`
	Labels           map[string]*string `hcl:"labels,optional" cty:"labels"`
	Tags             []string           `hcl:"tags,optional" cty:"tags"`
	CacheFrom        cacheList          `hcl:"cache-from,optional" cty:"cache-from"`
	CacheTo          cacheList          `hcl:"cache-to,optional" cty:"cache-to"`
	Target           *string            `hcl:"target,optional" cty:"target"`
	Secrets          secretList         `hcl:"secret,optional" cty:"secret"`
	SSH              sshList            `hcl:"ssh,optional" cty:"ssh"`
	Platforms        []string           `hcl:"platforms,optional" cty:"platforms"`
	Outputs          outputList         `hcl:"output,optional" cty:"output"`
	Pull             *bool              `hcl:"pull,optional" cty:"pull"`
	NoCache          *bool              `hcl:"no-cache,optional" cty:"no-cache"`
	NetworkMode      *string            `hcl:"network,optional" cty:"network"`
	NoCacheFilter    []string           `hcl:"no-cache-filter,optional" cty:"no-cache-filter"`
	ShmSize          *string            `hcl:"shm-size,optional" cty:"shm-size"`
	Ulimits          []string           `hcl:"ulimits,optional" cty:"ulimits"`
	Call             *string            `hcl:"call,optional" cty:"call"`
	Entitlements     []string           `hcl:"entitlements,optional" cty:"entitlements"`
	ExtraHosts       map[string]*string `hcl:"extra-hosts,optional" cty:"extra-hosts"`
	Policy           policyList         `hcl:"policy,optional" cty:"policy"`
}

var (
	_ hclparser.WithEvalContexts = &target{}
	_ hclparser.WithGetName      = &target{}
	_ hclparser.WithEvalContexts = &group{}
	_ hclparser.WithGetName      = &group{}
)

var targetNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func validateTargetName(name string) error {
	if !targetNamePattern.MatchString(name) {
		return errors.New(`only "[a-zA-Z0-9_-]+" are allowed`)
	}
	return nil
}

// merge folds t2 into t as buildx's Target.Merge does: scalars and tags,
// platforms, outputs, cache-to and shm-size are replaced; maps are merged
// key by key; the other lists are appended.
func (t *target) merge(t2 *target) {
	setIf(&t.Context, t2.Context)
	setIf(&t.Dockerfile, t2.Dockerfile)
	setIf(&t.DockerfileInline, t2.DockerfileInline)
	t.Args = mergeValues(t.Args, t2.Args)
	for k, v := range t2.Contexts {
		if t.Contexts == nil {
			t.Contexts = map[string]string{}
		}
		t.Contexts[k] = v
	}
	t.Labels = mergeValues(t.Labels, t2.Labels)
	if t2.Tags != nil {
		t.Tags = t2.Tags
	}
	setIf(&t.Target, t2.Target)
	setIf(&t.Call, t2.Call)
	appendIf(&t.Annotations, t2.Annotations)
	if t2.Attest != nil {
		t.Attest = t.Attest.merge(t2.Attest)
	}
	if t2.Secrets != nil {
		t.Secrets = t.Secrets.merge(t2.Secrets)
	}
	if t2.SSH != nil {
		t.SSH = t.SSH.merge(t2.SSH)
	}
	if t2.Platforms != nil {
		t.Platforms = t2.Platforms
	}
	if t2.CacheFrom != nil {
		t.CacheFrom = t.CacheFrom.merge(t2.CacheFrom)
	}
	if t2.CacheTo != nil {
		t.CacheTo = t2.CacheTo
	}
	if t2.Outputs != nil {
		t.Outputs = t2.Outputs
	}
	setIf(&t.Pull, t2.Pull)
	setIf(&t.NoCache, t2.NoCache)
	setIf(&t.NetworkMode, t2.NetworkMode)
	appendIf(&t.NoCacheFilter, t2.NoCacheFilter)
	setIf(&t.ShmSize, t2.ShmSize)
	appendIf(&t.Ulimits, t2.Ulimits)
	appendIf(&t.Policy, t2.Policy)
	if t2.Description != "" {
		t.Description = t2.Description
	}
	appendIf(&t.Entitlements, t2.Entitlements)
	t.ExtraHosts = mergeValues(t.ExtraHosts, t2.ExtraHosts)
	t.Inherits = slices.Concat(t.Inherits, t2.Inherits)
}

// Merge is what hclparser calls when a block is declared twice.
func (t *target) Merge(t2 *target) { t.merge(t2) }

// appendIf appends src to *dst unless src is nil (unset).
func appendIf[S ~[]E, E any](dst *S, src S) {
	if src != nil {
		*dst = slices.Concat(*dst, src)
	}
}

func setIf[T any](dst **T, src *T) {
	if src != nil {
		*dst = src
	}
}

// mergeValues sets the non-nil values of m2 in m; a nil value (an arg
// declared without a value) does not unset one inherited.
func mergeValues(m, m2 map[string]*string) map[string]*string {
	for k, v := range m2 {
		if v == nil {
			continue
		}
		if m == nil {
			m = map[string]*string{}
		}
		m[k] = v
	}
	return m
}

// normalize removes duplicates and empty entries as buildx's
// Target.normalize does; network "host" implies the network.host
// entitlement.
func (t *target) normalize() {
	t.Annotations = removeDupes(t.Annotations)
	t.Attest = t.Attest.normalize()
	t.Tags = removeDupes(t.Tags)
	t.Secrets = t.Secrets.normalize()
	t.SSH = t.SSH.normalize()
	t.Platforms = removeDupes(t.Platforms)
	t.CacheFrom = t.CacheFrom.normalize()
	t.CacheTo = t.CacheTo.normalize()
	t.Outputs = t.Outputs.normalize()
	t.NoCacheFilter = removeDupes(t.NoCacheFilter)
	t.Ulimits = removeDupes(t.Ulimits)
	if t.NetworkMode != nil && *t.NetworkMode == "host" {
		t.Entitlements = append(t.Entitlements, "network.host")
	}
	t.Entitlements = removeDupes(t.Entitlements)
	maps.DeleteFunc(t.Contexts, func(_, v string) bool { return v == "" })
	if len(t.Contexts) == 0 {
		t.Contexts = nil
	}
}

// removeDupes keeps the first of equal strings and drops empty ones, as
// buildx's removeDupesStr (in a copy: s may be shared with the target it
// was inherited from).
func removeDupes(s []string) []string {
	if s == nil {
		return nil
	}
	s = slices.Clone(s)
	i := 0
	seen := make(map[string]struct{}, len(s))
	for _, v := range s {
		if _, ok := seen[v]; ok || v == "" {
			continue
		}
		seen[v] = struct{}{}
		s[i] = v
		i++
	}
	return s[:i]
}

// dedup keeps the first of equal strings; nil stays nil.
func dedup(s []string) []string {
	if len(s) == 0 {
		return s
	}
	var res []string
	seen := map[string]struct{}{}
	for _, v := range s {
		if _, ok := seen[v]; !ok {
			res = append(res, v)
			seen[v] = struct{}{}
		}
	}
	return res
}

// GetEvalContexts expands a target's matrix into one evaluation context
// per combination, as buildx does.
func (t *target) GetEvalContexts(ectx *hcl.EvalContext, block *hcl.Block, loadDeps func(hcl.Expression) hcl.Diagnostics) ([]*hcl.EvalContext, error) {
	content, _, diags := block.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "matrix"}, {Name: "resources"},
	}})
	if diags.HasErrors() {
		return nil, diags
	}
	// buildx's attributes this package does not carry: an error rather
	// than a build without them (HCL ignores unknown attributes here).
	for _, name := range []string{"resources"} {
		if a, ok := content.Attributes[name]; ok {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("%s is not supported by docker build2 bake: remove it from target %q", name, block.Labels[0]),
				Subject:  a.NameRange.Ptr(),
			}}
		}
	}
	attr, ok := content.Attributes["matrix"]
	if !ok {
		return []*hcl.EvalContext{ectx}, nil
	}
	if diags := loadDeps(attr.Expr); diags.HasErrors() {
		return nil, diags
	}
	value, diags := attr.Expr.Value(ectx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !value.Type().IsMapType() && !value.Type().IsObjectType() {
		return nil, errors.New("matrix must be a map")
	}
	// Keys in sorted order: buildx ranges over a Go map, so its order of
	// the expansions (in the group named by the label) varies run to run.
	matrix := value.AsValueMap()
	ectxs := []*hcl.EvalContext{ectx}
	for _, k := range slices.Sorted(maps.Keys(matrix)) {
		expr := matrix[k]
		if !expr.CanIterateElements() {
			return nil, errors.New("matrix values must be a list")
		}
		var next []*hcl.EvalContext
		for _, v := range expr.AsValueSlice() {
			for _, e := range ectxs {
				e2 := ectx.NewChild()
				e2.Variables = map[string]cty.Value{}
				if e != ectx {
					maps.Copy(e2.Variables, e.Variables)
				}
				e2.Variables[k] = v
				next = append(next, e2)
			}
		}
		ectxs = next
	}
	return ectxs, nil
}

// GetName is a target's name: its label, or its name attribute evaluated
// in a matrix combination.
func (t *target) GetName(ectx *hcl.EvalContext, block *hcl.Block, loadDeps func(hcl.Expression) hcl.Diagnostics) (string, error) {
	content, _, diags := block.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "matrix"}}})
	if diags != nil {
		return "", diags
	}
	attr, ok := content.Attributes["name"]
	if !ok {
		return block.Labels[0], nil
	}
	if _, ok := content.Attributes["matrix"]; !ok {
		return "", errors.New("name requires matrix")
	}
	if diags := loadDeps(attr.Expr); diags.HasErrors() {
		return "", diags
	}
	value, diags := attr.Expr.Value(ectx)
	if diags != nil {
		return "", diags
	}
	value, err := convert.Convert(value, cty.String)
	if err != nil {
		return "", err
	}
	return value.AsString(), nil
}

// GetEvalContexts rejects a matrix on a group.
func (g *group) GetEvalContexts(ectx *hcl.EvalContext, block *hcl.Block, _ func(hcl.Expression) hcl.Diagnostics) ([]*hcl.EvalContext, error) {
	content, _, diags := block.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "matrix"}}})
	if diags.HasErrors() {
		return nil, diags
	}
	if _, ok := content.Attributes["matrix"]; ok {
		return nil, errors.New("matrix is not supported for groups")
	}
	return []*hcl.EvalContext{ectx}, nil
}

// GetName is a group's label; name and matrix are targets' only.
func (g *group) GetName(_ *hcl.EvalContext, block *hcl.Block, _ func(hcl.Expression) hcl.Diagnostics) (string, error) {
	content, _, diags := block.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "matrix"}}})
	if diags != nil {
		return "", diags
	}
	if _, ok := content.Attributes["name"]; ok {
		return "", errors.New("name is not supported for groups")
	}
	if _, ok := content.Attributes["matrix"]; ok {
		return "", errors.New("matrix is not supported for groups")
	}
	return block.Labels[0], nil
}

// mergeConfig adds c2's groups and targets to c1 as buildx's mergeConfig
// does (a target declared in both is merged, in c1's place).
func mergeConfig(c1, c2 config) config {
	if c1.Groups == nil {
		c1.Groups = []*group{}
	}
	for _, g2 := range c2.Groups {
		i := slices.IndexFunc(c1.Groups, func(g *group) bool { return g.Name == g2.Name })
		if i < 0 {
			c1.Groups = append(c1.Groups, g2)
			continue
		}
		g1 := c1.Groups[i]
		for _, t2 := range g2.Targets {
			if !slices.Contains(g1.Targets, t2) {
				g1.Targets = append(g1.Targets, t2)
			}
		}
		c1.Groups = append(c1.Groups, g1)
	}
	if c1.Targets == nil {
		c1.Targets = []*target{}
	}
	for _, t2 := range c2.Targets {
		if i := slices.IndexFunc(c1.Targets, func(t *target) bool { return t.Name == t2.Name }); i >= 0 {
			c1.Targets[i].merge(t2)
			t2 = c1.Targets[i]
		}
		c1.Targets = append(c1.Targets, t2)
	}
	return c1
}

// dedupeConfig merges targets declared more than once and dedupes group
// members, as buildx's dedupeConfig.
func dedupeConfig(c config) config {
	c2 := c
	c2.Groups = make([]*group, 0, len(c.Groups))
	for _, g := range c.Groups {
		g1 := *g
		g1.Targets = dedup(g1.Targets)
		c2.Groups = append(c2.Groups, &g1)
	}
	c2.Targets = make([]*target, 0, len(c.Targets))
	seen := map[string]*target{}
	for _, t := range c.Targets {
		if t2, ok := seen[t.Name]; ok {
			t2.merge(t)
			continue
		}
		seen[t.Name] = t
		c2.Targets = append(c2.Targets, t)
	}
	return c2
}
