package bake

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

// override is the value --set gives one key of one target, as buildx's
// Override.
type override struct {
	value    string
	arrValue []string
	append   bool
	clear    bool
}

// overrides are the parsed --set values: target name, then key (arg.NAME,
// tag, …) to its override.
type overrides map[string]map[string]override

// keyAliases normalize plural keys so they share replacement and append
// semantics.
var keyAliases = map[string]string{
	"annotations":  "annotation",
	"args":         "arg",
	"entitlements": "entitlement",
	"extra-hosts":  "extra-host",
	"labels":       "label",
	"platforms":    "platform",
	"tags":         "tag",
	"ulimits":      "ulimit",
	"secrets":      "secret",
}

type keyKind int

const (
	keyList   keyKind = iota // repeated values accumulate; += appends; empty clears
	keyNamed                 // key.NAME=value
	keyScalar                // key=value, last wins
)

// setKeys are the keys --set accepts and how each takes its value.
var setKeys = map[string]keyKind{
	"output": keyList, "cache-to": keyList, "cache-from": keyList, "tag": keyList,
	"platform": keyList, "ssh": keyList, "attest": keyList, "entitlement": keyList,
	"annotation": keyList, "ulimit": keyList, "no-cache-filter": keyList, "policy": keyList,
	"secret": keyList,
	"arg":    keyNamed, "contexts": keyNamed, "label": keyNamed, "extra-host": keyNamed,
	"context": keyScalar, "dockerfile": keyScalar, "target": keyScalar, "call": keyScalar,
	"no-cache": keyScalar, "shm-size": keyScalar, "network": keyScalar, "pull": keyScalar,
	"push": keyScalar, "load": keyScalar,
}

// setKeyNames is setKeys' names for error messages.
const setKeyNames = "args.NAME, labels.NAME, contexts.NAME, extra-hosts.NAME, secrets[.ID], tags, platform, output, " +
	"cache-from, cache-to, ssh, attest, annotations, entitlements, ulimits, no-cache-filter, policy, target, context, " +
	"dockerfile, call, network, shm-size, no-cache, pull, push, load"

// setError is a bad --set value: the flag, the value, what is wrong and
// the form expected.
func setError(v, format string, args ...any) error {
	return fmt.Errorf("--set %q: %s", v, fmt.Sprintf(format, args...))
}

// parseOverrides parses --set pattern.key[.name][+]=value values as
// buildx's newOverrides: the pattern matches target names with
// wildcards, += appends to a list, an empty value clears one.
func (d *parsed) parseOverrides(values []string) (overrides, error) {
	m := overrides{}
	for _, v := range values {
		if err := d.parseOverride(m, v); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (d *parsed) parseOverride(m overrides, v string) error {
	lhs, rhs, hasValue := strings.Cut(v, "=")
	skey, appendTo := strings.CutSuffix(lhs, "+")
	keys, kind, err := parseSetKey(v, skey, hasValue, appendTo)
	if err != nil {
		return err
	}
	names, err := d.expandTargets(keys[0])
	if err != nil {
		return setError(v, "%v", err)
	}
	okey := strings.Join(keys[1:], ".")
	for _, name := range names {
		if m[name] == nil {
			m[name] = map[string]override{}
		}
		o := m[name][okey]
		switch {
		case kind == keyList && len(keys) == 2:
			if !appendTo && rhs == "" {
				o.clear, o.arrValue = true, nil
			} else {
				o.arrValue = append(o.arrValue, rhs)
			}
			o.append = appendTo && !o.clear
		case keys[1] == "arg" && !hasValue:
			// --set t.args.NAME takes NAME from the environment.
			if d.envVars {
				env, ok := d.env[keys[2]]
				if !ok {
					continue
				}
				o.value = env
			}
		default:
			o.value = rhs
		}
		m[name][okey] = o
	}
	return nil
}

// parseSetKey splits pattern.key[.name], normalizing the key's aliases,
// and checks its shape.
func parseSetKey(v, skey string, hasValue, appendTo bool) ([]string, keyKind, error) {
	keys := strings.SplitN(skey, ".", 3)
	if len(keys) < 2 || keys[0] == "" || keys[1] == "" {
		return nil, 0, setError(v, "expected pattern.key=value, e.g. --set '*.platform=linux/arm64'")
	}
	if keys[1] == "secrets" && len(keys) != 2 {
		return nil, 0, setError(v, "secrets takes no sub-key: --set %s.secrets=id=ID,src=PATH, or --set %s.secret.ID=src=PATH", keys[0], keys[0])
	}
	if a, ok := keyAliases[keys[1]]; ok {
		keys[1] = a
	}
	kind, known := setKeys[keys[1]]
	if !known {
		return nil, 0, setError(v, "unknown key %q: one of %s", keys[1], setKeyNames)
	}
	if !hasValue && keys[1] != "arg" {
		return nil, 0, setError(v, "expected %s.%s=value", keys[0], strings.Join(keys[1:], "."))
	}
	return keys, kind, checkKeyShape(v, keys, kind, appendTo)
}

// checkKeyShape checks that a key has a name where it needs one and none
// where it takes none.
func checkKeyShape(v string, keys []string, kind keyKind, appendTo bool) error {
	switch {
	case keys[1] == "secret":
		if len(keys) == 3 && appendTo {
			return setError(v, "a declared secret's source is replaced, not appended to: --set %s.secret.%s=src=PATH", keys[0], keys[2])
		}
	case kind == keyNamed && len(keys) != 3:
		return setError(v, "%s requires a name: --set %s.%s.NAME=value", keys[1], keys[0], keys[1])
	case kind != keyNamed && len(keys) != 2:
		return setError(v, "%s takes no sub-key: --set %s.%s=value", keys[1], keys[0], keys[1])
	}
	return nil
}

// expandTargets matches an override's pattern against target names.
func (d *parsed) expandTargets(pattern string) ([]string, error) {
	var names []string
	for _, t := range d.cfg.Targets {
		if t.Name == pattern {
			return []string{pattern}, nil
		}
	}
	for _, t := range d.cfg.Targets {
		ok, err := path.Match(pattern, t.Name)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
		}
		if ok {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no target matches %q (%s)", pattern, d.targetNames())
	}
	return names, nil
}

// apply sets a target's overridden keys, as buildx's AddOverrides.
func (t *target) apply(o map[string]override) error {
	secrets := map[string]string{}
	for key, ov := range o {
		k, name, _ := strings.Cut(key, ".")
		if k == "secret" && name != "" {
			secrets[name] = ov.value
			continue
		}
		if err := t.applyOne(k, name, ov); err != nil {
			return fmt.Errorf("--set %s.%s: %w", t.Name, key, err)
		}
	}
	for id, v := range secrets {
		if err := t.updateSecret(id, v); err != nil {
			return fmt.Errorf("--set %s.secret.%s: %w", t.Name, id, err)
		}
	}
	return nil
}

// updateSecret replaces the source of a declared secret, as buildx's.
func (t *target) updateSecret(id, value string) error {
	for i, s := range t.Secrets {
		if s.ID != id {
			continue
		}
		var next secret
		if err := next.parse(value); err != nil {
			return err
		}
		if next.ID != "" && next.ID != id {
			return fmt.Errorf("secret override id %q does not match declared secret %q", next.ID, id)
		}
		// A copy: the entry may be shared with the targets it came from.
		t.Secrets[i] = &secret{ID: id, Src: next.Src, Env: next.Env}
		return nil
	}
	return fmt.Errorf("secret %q must be declared before it can be overridden: declare it in the target, or use --set %s.secrets=id=%s,src=PATH", id, t.Name, id)
}

func (t *target) applyOne(k, name string, o override) error {
	if p := t.scalar(k); p != nil {
		*p = new(o.value)
		return nil
	}
	switch k {
	case "arg":
		t.Args = setValue(t.Args, name, o.value)
	case "label":
		t.Labels = setValue(t.Labels, name, o.value)
	case "extra-host":
		t.ExtraHosts = setValue(t.ExtraHosts, name, o.value)
	case "contexts":
		if t.Contexts == nil {
			t.Contexts = map[string]string{}
		}
		t.Contexts[name] = o.value
	case "tag", "platform", "no-cache-filter", "ulimit", "entitlement", "annotation":
		t.applyStrings(k, o)
	case "policy":
		return t.setPolicy(o)
	case "no-cache", "pull", "push", "load":
		b, err := strconv.ParseBool(o.value)
		if err != nil {
			return fmt.Errorf("%q is not a boolean: use true or false", o.value)
		}
		t.applyBool(k, b)
	default:
		return t.applySpecs(k, o)
	}
	return nil
}

// scalar is the string field a --set key replaces, or nil.
func (t *target) scalar(k string) **string {
	switch k {
	case "context":
		return &t.Context
	case "dockerfile":
		return &t.Dockerfile
	case "target":
		return &t.Target
	case "call":
		return &t.Call
	case "shm-size":
		return &t.ShmSize
	case "network":
		return &t.NetworkMode
	}
	return nil
}

// applyStrings sets a list of strings: entitlements and annotations are
// appended to unless cleared, the others replaced unless appended to, as
// buildx.
func (t *target) applyStrings(k string, o override) {
	switch k {
	case "tag":
		t.Tags = appendOrSet(t.Tags, o)
	case "platform":
		t.Platforms = appendOrSet(t.Platforms, o)
	case "no-cache-filter":
		t.NoCacheFilter = appendOrSet(t.NoCacheFilter, o)
	case "ulimit":
		t.Ulimits = appendOrSet(t.Ulimits, o)
	case "entitlement":
		if o.clear {
			t.Entitlements = nil
		}
		t.Entitlements = slices.Concat(t.Entitlements, o.arrValue)
	case "annotation":
		if o.clear {
			t.Annotations = nil
		}
		t.Annotations = slices.Concat(t.Annotations, o.arrValue)
	}
}

func (t *target) applyBool(k string, b bool) {
	switch k {
	case "no-cache":
		t.NoCache = &b
	case "pull":
		t.Pull = &b
	case "push":
		t.Outputs = setPush(t.Outputs, b)
	case "load":
		t.Outputs = setLoad(t.Outputs, b)
	}
}

func (t *target) applySpecs(k string, o override) error {
	switch k {
	case "cache-from":
		return setSpecs(&t.CacheFrom, parseCacheList, o)
	case "cache-to":
		return setSpecs(&t.CacheTo, parseCacheList, o)
	case "secret":
		return setSpecs(&t.Secrets, parseSpecs[secret], o)
	case "ssh":
		return setSpecs(&t.SSH, parseSpecs[ssh], o)
	case "output":
		return setSpecs(&t.Outputs, parseSpecs[output], o)
	case "attest":
		// Attestations merge by type unless cleared, as buildx.
		l, err := parseSpecs[attest](o.arrValue)
		if err != nil {
			return err
		}
		if o.clear {
			t.Attest = nil
		}
		t.Attest = t.Attest.merge(l)
		return nil
	}
	return fmt.Errorf("unknown key %q", k)
}

// setSpecs replaces a spec list with the override's, or merges them with
// +=.
func setSpecs[T any, P interface {
	*T
	entry
}](dst *list[T, P], parse func([]string) (list[T, P], error), o override,
) error {
	l, err := parse(o.arrValue)
	if err != nil {
		return err
	}
	if o.append {
		*dst = dst.merge(l)
	} else {
		*dst = l
	}
	return nil
}

func setValue(m map[string]*string, k, v string) map[string]*string {
	if m == nil {
		m = map[string]*string{}
	}
	m[k] = &v
	return m
}

func appendOrSet(s []string, o override) []string {
	if o.append {
		return append(s, o.arrValue...)
	}
	return o.arrValue
}

// setPush is --set *.push: false drops registry outputs and unsets push
// on image ones; true sets push on image outputs, and adds a pushing image
// output when all are docker ones (or there are none), as buildx.
func setPush(outputs outputList, push bool) outputList {
	// Copies: the entries may be shared with the targets they came from.
	outputs = slices.Clone(outputs)
	for i, e := range outputs {
		c := *e
		c.Attrs = maps.Clone(e.Attrs)
		outputs[i] = &c
	}
	if !push {
		for i := 0; i < len(outputs); {
			switch outputs[i].Type {
			case "registry":
				outputs[i], outputs[len(outputs)-1] = outputs[len(outputs)-1], outputs[i]
				outputs = outputs[:len(outputs)-1]
				continue
			case "image":
				outputs[i].Attrs = setAttr(outputs[i].Attrs, "push", "false")
			}
			i++
		}
		return outputs
	}
	add := true
	for _, e := range outputs {
		if e.Type != "docker" {
			add = false
		}
		if e.Type == "image" {
			e.Attrs = setAttr(e.Attrs, "push", "true")
		}
	}
	if add {
		outputs = append(outputs, &output{Type: "image", Attrs: map[string]string{"push": "true"}})
	}
	return outputs
}

// setLoad is --set *.load=true: adds a docker output unless one without a
// dest exists or an output is of a kind other than image, registry, oci.
func setLoad(outputs outputList, load bool) outputList {
	if !load {
		return outputs
	}
	for _, e := range outputs {
		switch e.Type {
		case "docker":
			if e.Dest == "" {
				return outputs
			}
		case "image", "registry", "oci":
		default:
			return outputs
		}
	}
	return append(outputs, &output{Type: "docker"})
}

func setAttr(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
