package bake

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
)

// Definition is a loaded definition: the selected targets resolved
// (inherits, --set, defaults), the targets they name in target:NAME
// contexts (Linked), and the groups the selection went through.
type Definition struct {
	groups   map[string]*Group
	targets  map[string]*Target
	selected []string
}

// Selected are the names of the targets to build, sorted: the targets
// named, and those of the groups named, without the Linked ones.
func (d *Definition) Selected() []string {
	return slices.Clone(d.selected)
}

// Target is a resolved target by name: a selected or a Linked one; nil
// if the selection has none of that name.
func (d *Definition) Target(name string) *Target {
	return d.targets[name]
}

// Groups are the groups the selection went through, by name, and
// "default", which lists the names the targets were selected with.
func (d *Definition) Groups() map[string]*Group {
	return maps.Clone(d.groups)
}

// resolve selects targets and groups by name and resolves them with --set
// overrides, as buildx's ReadTargets.
func (d *parsed) resolve(names, sets []string) (*Definition, error) {
	names, err := d.expandNames(names)
	if err != nil {
		return nil, err
	}
	o, err := d.parseOverrides(sets)
	if err != nil {
		return nil, err
	}
	resolved := map[string]*target{}
	sel := &Definition{groups: map[string]*Group{}, targets: map[string]*Target{}}
	for _, n := range names {
		ts, gs := d.resolveGroup(n)
		for _, tn := range ts {
			t, err := d.resolveTarget(tn, o)
			if err != nil {
				return nil, err
			}
			resolved[tn] = t
		}
		for _, gn := range gs {
			if i := slices.IndexFunc(d.cfg.Groups, func(g *group) bool { return g.Name == gn }); i >= 0 {
				g := d.cfg.Groups[i]
				sel.groups[gn] = &Group{Name: g.Name, Description: g.Description, Targets: slices.Clone(g.Targets)}
			}
		}
	}
	sel.addDefaultGroup(names)
	linked := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(resolved)) {
		if err := d.loadLinks(n, resolved[n], resolved, o, nil, linked); err != nil {
			return nil, err
		}
	}
	epoch, hasEpoch := d.env["SOURCE_DATE_EPOCH"]
	for n, t := range resolved {
		if _, ok := t.Args["SOURCE_DATE_EPOCH"]; !ok && hasEpoch && epoch != "" {
			t.Args = setValue(t.Args, "SOURCE_DATE_EPOCH", epoch)
		}
		pt, err := t.public()
		if err != nil {
			return nil, err
		}
		pt.Linked = linked[n]
		if !pt.Linked {
			sel.selected = append(sel.selected, n)
		}
		sel.targets[n] = pt
	}
	slices.Sort(sel.selected)
	return sel, nil
}

// expandNames expands the names targets are selected with; none is
// "default".
func (d *parsed) expandNames(names []string) ([]string, error) {
	if len(names) == 0 {
		names = []string{"default"}
	}
	var matched []string
	for _, n := range names {
		m, err := d.matchNames(sanitizeTargetName(n))
		if err != nil {
			return nil, err
		}
		matched = append(matched, m...)
	}
	return dedup(matched), nil
}

// addDefaultGroup lists the names the targets were selected with in the
// "default" group, as buildx does (unless "default" is a group named).
func (d *Definition) addDefaultGroup(names []string) {
	for _, n := range names {
		if d.groups["default"] != nil && n == "default" {
			continue
		}
		if d.groups["default"] == nil {
			d.groups["default"] = &Group{Name: "default"}
		}
		d.groups["default"].Targets = append(d.groups["default"].Targets, n)
	}
	if g := d.groups["default"]; g != nil {
		g.Targets = dedup(g.Targets)
		slices.Sort(g.Targets)
	}
}

// resolveGroup is the targets a name stands for (itself if it is not a
// group) and the groups it went through, as buildx's ResolveGroup.
func (d *parsed) resolveGroup(name string) (targets, groups []string) {
	type visit struct{ targets, groups []string }
	visited := map[string]visit{}
	var walk func(string) ([]string, []string)
	walk = func(name string) ([]string, []string) {
		if v, ok := visited[name]; ok {
			return v.targets, v.groups
		}
		i := slices.IndexFunc(d.cfg.Groups, func(g *group) bool { return g.Name == name })
		if i < 0 {
			return []string{name}, nil
		}
		visited[name] = visit{}
		g := d.cfg.Groups[i]
		ts := make([]string, 0, len(g.Targets))
		gs := []string{name}
		for _, t := range g.Targets {
			tt, tg := walk(t)
			if len(tt) > 0 {
				ts = append(ts, tt...)
			} else {
				ts = append(ts, t)
			}
			gs = append(gs, tg...)
		}
		visited[name] = visit{ts, gs}
		return ts, gs
	}
	targets, groups = walk(name)
	return dedup(targets), dedup(groups)
}

// resolveTarget resolves a target's inherits and overrides, and fills in
// the default context (".") and Dockerfile.
func (d *parsed) resolveTarget(name string, o overrides) (*target, error) {
	t, err := d.inherit(name, map[string]*target{}, nil, o)
	if err != nil {
		return nil, err
	}
	t.Inherits = nil
	if t.Context == nil {
		t.Context = new(".")
	}
	if t.Dockerfile == nil || *t.Dockerfile == "" {
		t.Dockerfile = new("Dockerfile")
	}
	return t, nil
}

// inherit resolves name's inherits depth first, merging parents in order,
// then the target itself, then its --set overrides. chain is the path of
// inherits that led here; a name on it is a cycle.
func (d *parsed) inherit(name string, done map[string]*target, chain []string, o overrides) (*target, error) {
	if t, ok := done[name]; ok {
		return t, nil
	}
	if slices.Contains(chain, name) {
		cycle := append(slices.Clone(chain[slices.Index(chain, name):]), name)
		return nil, fmt.Errorf("inherits cycle %s: remove one of these inherits", strings.Join(cycle, " -> "))
	}
	i := slices.IndexFunc(d.cfg.Targets, func(t *target) bool { return t.Name == name })
	if i < 0 {
		if len(chain) > 0 {
			return nil, fmt.Errorf("target %q inherits unknown target %q: %s", chain[len(chain)-1], name, d.targetNames())
		}
		return nil, fmt.Errorf("unknown target %q: %s", name, d.targetNames())
	}
	t := d.cfg.Targets[i]
	chain = append(chain, name)
	parents := &target{}
	for _, p := range t.Inherits {
		pt, err := d.inherit(p, done, chain, o)
		if err != nil {
			return nil, err
		}
		parents.merge(pt)
	}
	m := &target{}
	m.merge(parents)
	m.merge(t)
	m.Name = name
	if err := m.apply(o[name]); err != nil {
		return nil, err
	}
	m.normalize()
	done[name] = m
	return m, nil
}

// loadLinks resolves the targets that t names in target:NAME contexts
// into m (their output is cacheonly), rejecting cycles, as buildx's.
func (d *parsed) loadLinks(name string, t *target, m map[string]*target, o overrides, visited []string, linked map[string]bool) error {
	visited = append(visited, name)
	for _, k := range slices.Sorted(maps.Keys(t.Contexts)) {
		ref, ok := strings.CutPrefix(t.Contexts[k], "target:")
		if !ok {
			continue
		}
		if ref == name {
			return fmt.Errorf("target %q: context %q names the target itself (target:%s): name another target or a path", name, k, ref)
		}
		if slices.Contains(visited, ref) {
			return fmt.Errorf("target %q: context %q (target:%s) makes a cycle %s -> %s: remove one of these contexts", name, k, ref, strings.Join(visited, " -> "), ref)
		}
		t2, ok := m[ref]
		if !ok {
			var err error
			if t2, err = d.resolveTarget(ref, o); err != nil {
				return fmt.Errorf("target %q: context %q: %w", name, k, err)
			}
			t2.Outputs = outputList{{Type: "cacheonly"}}
			linked[ref] = true
			m[ref] = t2
		}
		if err := d.loadLinks(ref, t2, m, o, visited, linked); err != nil {
			return err
		}
		for _, e := range t2.Entitlements {
			if !slices.Contains(t.Entitlements, e) {
				t.Entitlements = append(t.Entitlements, e)
			}
		}
		if len(t.Platforms) > 1 && len(t2.Platforms) > 1 && !isSubset(t.Platforms, t2.Platforms) {
			return fmt.Errorf("target %s can't be used by %s because its platforms %v are not a subset of %v", ref, name, t.Platforms, t2.Platforms)
		}
	}
	return nil
}

func isSubset(s1, s2 []string) bool {
	for _, v := range s1 {
		if !slices.Contains(s2, v) {
			return false
		}
	}
	return true
}

// public is the resolved target in the package's contract. Its context is
// written as buildx prints it: cleaned, without cwd://.
func (t *target) public() (*Target, error) {
	if t.Context != nil && *t.Context == "-" {
		return nil, fmt.Errorf("target %q: context from stdin is not allowed in bake: give a directory or URL", t.Name)
	}
	if t.Dockerfile != nil && *t.Dockerfile == "-" {
		return nil, fmt.Errorf("target %q: dockerfile from stdin is not allowed in bake: use dockerfile-inline", t.Name)
	}
	ctx := *t.Context
	if !strings.HasPrefix(ctx, "cwd://") && !isRemoteURL(ctx) {
		ctx = path.Clean(ctx)
	}
	if v, ok := strings.CutPrefix(ctx, "cwd://"); ok {
		ctx = path.Clean(v)
	}
	return &Target{
		Name:             t.Name,
		Description:      t.Description,
		Annotations:      t.Annotations,
		Attest:           t.Attest.specs(),
		Context:          &ctx,
		Contexts:         t.Contexts,
		Dockerfile:       t.Dockerfile,
		DockerfileInline: t.DockerfileInline,
		Args:             t.Args,
		Labels:           t.Labels,
		Tags:             t.Tags,
		CacheFrom:        t.CacheFrom.specs(),
		CacheTo:          t.CacheTo.specs(),
		Target:           t.Target,
		Secrets:          t.Secrets.specs(),
		SSH:              t.SSH.specs(),
		Platforms:        t.Platforms,
		Outputs:          t.Outputs.specs(),
		Pull:             t.Pull,
		NoCache:          t.NoCache,
		NetworkMode:      t.NetworkMode,
		NoCacheFilter:    t.NoCacheFilter,
		ShmSize:          t.ShmSize,
		Ulimits:          t.Ulimits,
		Call:             t.Call,
		Entitlements:     t.Entitlements,
		ExtraHosts:       t.ExtraHosts,
		Policy:           t.Policy.specs(),
	}, nil
}

// isRemoteURL is buildx's urlutil.IsRemoteURL: an HTTP(S) URL or a Git
// reference.
func isRemoteURL(s string) bool {
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		return true
	}
	_, ok, _ := dfgitutil.ParseGitRef(s)
	return ok
}
