package bake

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The five spec kinds below parse, merge, print and write back their
// entries exactly as buildx's util/buildflags does (Exports, CacheOptions,
// Secrets, SSHKeys, Attests), which this package may not import.

// entry is what every spec kind implements besides Spec.
type entry interface {
	Spec
	json.Marshaler
	// parse sets the entry from its CSV form.
	parse(s string) error
	// fromCty sets the entry from an HCL value that is not a string.
	fromCty(v cty.Value) error
	toCty() cty.Value
	// key is the identity entries are deduplicated by, keyed reports
	// whether a later entry with the same key replaces an earlier one in
	// place (secret, ssh and attest); otherwise (output, cache) equal
	// entries are dropped as buildx's removeDupes drops them.
	key() (k string, keyed bool)
	elemType() cty.Type
}

// list is a typed list of specs as a definition holds them, decoded from
// HCL through FromCtyValue and referenced from other blocks through
// ToCtyValue.
type list[T any, P interface {
	*T
	entry
}] []P

type (
	outputList = list[output, *output]
	cacheList  = list[cache, *cache]
	secretList = list[secret, *secret]
	sshList    = list[ssh, *ssh]
	attestList = list[attest, *attest]
)

// parseSpecs parses CSV specs; empty ones are skipped.
func parseSpecs[T any, P interface {
	*T
	entry
}](in []string,
) (list[T, P], error) {
	out := make(list[T, P], 0, len(in))
	for _, s := range in {
		if s == "" {
			continue
		}
		e := P(new(T))
		if err := e.parse(s); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// parseCacheList parses cache specs as buildx's ParseCacheEntry: a spec
// without "=" is a CSV list of registry refs.
func parseCacheList(in []string) (cacheList, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(cacheList, 0, len(in))
	for _, s := range in {
		if s == "" {
			continue
		}
		if strings.Contains(s, "=") {
			var c cache
			if err := c.parse(s); err != nil {
				return nil, err
			}
			out = append(out, &c)
			continue
		}
		fields, err := csvvalue.Fields(s, nil)
		if err != nil {
			return nil, err
		}
		for _, f := range fields {
			var c cache
			if err := c.parse(f); err != nil {
				return nil, err
			}
			out = append(out, &c)
		}
	}
	return out, nil
}

// FromCtyValue decodes a list attribute whose entries are CSV strings or
// objects.
func (l *list[T, P]) FromCtyValue(in cty.Value, p cty.Path) error {
	got := in.Type()
	var zero P
	if !got.IsTupleType() && !got.IsListType() {
		return p.NewErrorf("%s", convert.MismatchMessage(got, cty.List(zero.elemType())))
	}
	*l = make(list[T, P], 0, in.LengthInt())
	for it := in.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if !v.IsKnown() || v.IsNull() || (v.Type() == cty.String && v.AsString() == "") {
			continue
		}
		if v.Type() == cty.String {
			if _, isCache := any(zero).(*cache); isCache {
				cs, err := parseCacheList([]string{v.AsString()})
				if err != nil {
					return p.NewError(err)
				}
				for _, c := range cs {
					*l = append(*l, any(c).(P))
				}
				continue
			}
			e := P(new(T))
			if err := e.parse(v.AsString()); err != nil {
				return p.NewError(err)
			}
			*l = append(*l, e)
			continue
		}
		e := P(new(T))
		if err := e.fromCty(v); err != nil {
			return err
		}
		*l = append(*l, e)
	}
	return nil
}

// ToCtyValue is the list as other blocks reference it.
func (l list[T, P]) ToCtyValue() cty.Value {
	if len(l) == 0 {
		var zero P
		return cty.ListValEmpty(zero.elemType())
	}
	vals := make([]cty.Value, len(l))
	for i, e := range l {
		vals[i] = e.toCty()
	}
	return cty.ListVal(vals)
}

// normalize removes duplicates as buildx's Normalize does; an empty list
// becomes nil.
func (l list[T, P]) normalize() list[T, P] {
	if len(l) == 0 {
		return nil
	}
	if _, keyed := l[0].key(); keyed {
		var res list[T, P]
		at := map[string]int{}
		for _, e := range l {
			k, _ := e.key()
			if i, ok := at[k]; ok {
				res[i] = e
				continue
			}
			at[k] = len(res)
			res = append(res, e)
		}
		return res
	}
	// buildx's removeDupes: walk backwards, drop a later duplicate by
	// swapping it with the last entry (in a copy: l may be shared with
	// the target it was inherited from).
	l = slices.Clone(l)
	for i := len(l) - 2; i >= 0; i-- {
		ki, _ := l[i].key()
		for j := i + 1; j < len(l); j++ {
			if kj, _ := l[j].key(); ki == kj {
				l[j], l[len(l)-1] = l[len(l)-1], l[j]
				l = l[:len(l)-1]
				break
			}
		}
	}
	return l
}

// merge appends other and normalizes, as buildx's Merge does.
func (l list[T, P]) merge(other list[T, P]) list[T, P] {
	switch {
	case other == nil:
		return l.normalize()
	case l == nil:
		return other.normalize()
	}
	return slices.Concat(l, other).normalize()
}

func (l list[T, P]) specs() Specs {
	if l == nil {
		return nil
	}
	out := make(Specs, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// csvBuilder writes key=value pairs as buildx's csvBuilder does, quoting
// a pair that holds a comma or a quote.
type csvBuilder struct{ sb strings.Builder }

func (w *csvBuilder) write(key, value string) {
	if w.sb.Len() > 0 {
		w.sb.WriteByte(',')
	}
	pair := key + "=" + value
	if strings.ContainsAny(pair, `,"`) {
		var b strings.Builder
		cw := csv.NewWriter(&b)
		_ = cw.Write([]string{pair})
		cw.Flush()
		pair = strings.TrimSpace(b.String())
	}
	w.sb.WriteString(pair)
}

func (w *csvBuilder) writeAttrs(attrs map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		w.write(k, attrs[k])
	}
}

func ctyAttrs(v cty.Value, typ cty.Type) (map[string]string, error) {
	conv, err := convert.Convert(v, typ)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for k, v := range conv.AsValueMap() {
		if v.IsKnown() && !v.IsNull() {
			m[k] = v.AsString()
		}
	}
	return m, nil
}

func stringMapCty(m map[string]string) cty.Value {
	vals := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}

// output is an --output spec.
type output struct {
	Type  string
	Dest  string
	Attrs map[string]string
}

// Flag implements Spec.
func (e *output) Flag() string {
	var b csvBuilder
	if e.Type != "" {
		b.write("type", e.Type)
	}
	if e.Dest != "" {
		b.write("dest", e.Dest)
	}
	b.writeAttrs(e.Attrs)
	return b.sb.String()
}

func (e *output) MarshalJSON() ([]byte, error) {
	m := maps.Clone(e.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"] = e.Type
	if e.Dest != "" {
		m["dest"] = e.Dest
	}
	return json.Marshal(m)
}

func (e *output) parse(s string) error {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return err
	}
	*e = output{Attrs: map[string]string{}}
	if len(fields) == 1 && fields[0] == s && !strings.HasPrefix(s, "type=") {
		e.Type, e.Dest = "local", s
		if s == "-" {
			e.Type = "tar"
		}
		return nil
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("invalid value %s", f)
		}
		switch k = strings.TrimSpace(strings.ToLower(k)); k {
		case "type":
			e.Type = v
		case "dest":
			e.Dest = v
		default:
			e.Attrs[k] = v
		}
	}
	return e.validate()
}

func (e *output) validate() error {
	if e.Type == "" {
		return errors.New("type is required for output")
	}
	return nil
}

func (e *output) fromCty(v cty.Value) error {
	m, err := ctyAttrs(v, cty.Map(cty.String))
	if err != nil {
		return err
	}
	e.Type, e.Dest = m["type"], m["dest"]
	delete(m, "type")
	delete(m, "dest")
	e.Attrs = m
	return e.validate()
}

func (e *output) toCty() cty.Value {
	m := maps.Clone(e.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"], m["dest"] = e.Type, e.Dest
	return stringMapCty(m)
}

func (e *output) key() (string, bool) { return e.Flag(), false }
func (*output) elemType() cty.Type    { return cty.Map(cty.String) }

// cache is a --cache-from or --cache-to spec.
type cache struct {
	Type  string
	Attrs map[string]string
}

// Flag implements Spec.
func (e *cache) Flag() string {
	if ref, ok := e.Attrs["ref"]; ok && e.Type == "registry" && len(e.Attrs) == 1 {
		return ref
	}
	var b csvBuilder
	if e.Type != "" {
		b.write("type", e.Type)
	}
	b.writeAttrs(e.Attrs)
	return b.sb.String()
}

func (e *cache) MarshalJSON() ([]byte, error) {
	m := maps.Clone(e.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"] = e.Type
	return json.Marshal(m)
}

func (e *cache) parse(s string) error {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return err
	}
	if len(fields) == 1 && !strings.Contains(fields[0], "=") {
		*e = cache{Type: "registry", Attrs: map[string]string{"ref": fields[0]}}
		return nil
	}
	*e = cache{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("invalid value %s", f)
		}
		if k = strings.ToLower(k); k == "type" {
			e.Type = v
		} else {
			e.Attrs[k] = v
		}
	}
	if e.Type == "" {
		return fmt.Errorf("type required for %q", s)
	}
	return nil
}

func (e *cache) fromCty(v cty.Value) error {
	m, err := ctyAttrs(v, cty.Map(cty.String))
	if err != nil {
		return err
	}
	e.Type = m["type"]
	delete(m, "type")
	e.Attrs = m
	if e.Type == "" {
		text, _ := ctyjson.Marshal(v, v.Type())
		return fmt.Errorf("type required for %q", text)
	}
	return nil
}

func (e *cache) toCty() cty.Value {
	m := maps.Clone(e.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"] = e.Type
	return stringMapCty(m)
}

func (e *cache) key() (string, bool) { return e.Type + "\x00" + e.attrsKey(), false }
func (e *cache) attrsKey() string {
	var b csvBuilder
	b.writeAttrs(e.Attrs)
	return b.sb.String()
}
func (*cache) elemType() cty.Type { return cty.Map(cty.String) }

// secret is a --secret spec.
type secret struct {
	ID  string `json:"id,omitempty"`
	Src string `json:"src,omitempty"`
	Env string `json:"env,omitempty"`
}

// Flag implements Spec.
func (e *secret) Flag() string {
	var b csvBuilder
	if e.ID != "" {
		b.write("id", e.ID)
	}
	if e.Src != "" {
		b.write("src", e.Src)
	}
	if e.Env != "" {
		b.write("env", e.Env)
	}
	return b.sb.String()
}

func (e *secret) MarshalJSON() ([]byte, error) {
	type plain secret
	return json.Marshal((*plain)(e))
}

func (e *secret) parse(s string) error {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return fmt.Errorf("failed to parse csv secret: %w", err)
	}
	*e = secret{}
	var typ string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToLower(k)
		if !ok {
			return fmt.Errorf("invalid field '%s' must be a key=value pair", f)
		}
		switch k {
		case "type":
			if v != "file" && v != "env" {
				return fmt.Errorf("unsupported secret type %q", v)
			}
			typ = v
		case "id":
			e.ID = v
		case "source", "src":
			e.Src = v
		case "env":
			e.Env = v
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", k, f)
		}
	}
	if typ == "env" && e.Env == "" {
		e.Env, e.Src = e.Src, ""
	}
	return nil
}

var secretType = cty.ObjectWithOptionalAttrs(map[string]cty.Type{
	"id": cty.String, "src": cty.String, "env": cty.String,
}, []string{"id", "src", "env"})

func (e *secret) fromCty(v cty.Value) error {
	conv, err := convert.Convert(v, secretType)
	if err != nil {
		return err
	}
	get := func(name string) string {
		if a := conv.GetAttr(name); a.IsKnown() && !a.IsNull() {
			return a.AsString()
		}
		return ""
	}
	*e = secret{ID: get("id"), Src: get("src"), Env: get("env")}
	return nil
}

func (e *secret) toCty() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{
		"id": cty.StringVal(e.ID), "src": cty.StringVal(e.Src), "env": cty.StringVal(e.Env),
	})
}

func (e *secret) key() (string, bool) { return e.ID, true }
func (*secret) elemType() cty.Type    { return secretType }

// ssh is an --ssh spec.
type ssh struct {
	ID    string   `json:"id,omitempty"`
	Paths []string `json:"paths,omitempty"`
}

// Flag implements Spec: id, or id=path[,path…] as --ssh takes it (buildx's
// String quotes the pair, which its own --ssh parser would not unquote).
func (e *ssh) Flag() string {
	if len(e.Paths) == 0 {
		return e.ID
	}
	return e.ID + "=" + strings.Join(e.Paths, ",")
}

func (e *ssh) MarshalJSON() ([]byte, error) {
	type plain ssh
	return json.Marshal((*plain)(e))
}

func (e *ssh) parse(s string) error {
	id, paths, ok := strings.Cut(s, "=")
	*e = ssh{ID: id}
	if ok {
		e.Paths = strings.Split(paths, ",")
	}
	return nil
}

var sshType = cty.ObjectWithOptionalAttrs(map[string]cty.Type{
	"id": cty.String, "paths": cty.List(cty.String),
}, []string{"id", "paths"})

func (e *ssh) fromCty(v cty.Value) error {
	conv, err := convert.Convert(v, sshType)
	if err != nil {
		return err
	}
	*e = ssh{}
	if id := conv.GetAttr("id"); id.IsKnown() && !id.IsNull() {
		e.ID = id.AsString()
	}
	if paths := conv.GetAttr("paths"); paths.IsKnown() && !paths.IsNull() {
		for it := paths.ElementIterator(); it.Next(); {
			_, p := it.Element()
			if p.IsKnown() && !p.IsNull() {
				e.Paths = append(e.Paths, p.AsString())
			}
		}
	}
	return nil
}

func (e *ssh) toCty() cty.Value {
	paths := cty.ListValEmpty(cty.String)
	if len(e.Paths) > 0 {
		vals := make([]cty.Value, len(e.Paths))
		for i, p := range e.Paths {
			vals[i] = cty.StringVal(p)
		}
		paths = cty.ListVal(vals)
	}
	return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(e.ID), "paths": paths})
}

func (e *ssh) key() (string, bool) { return e.ID, true }
func (*ssh) elemType() cty.Type    { return sshType }

// less orders ssh specs as buildx's SSH.Less does.
func (e *ssh) less(o *ssh) int {
	if c := strings.Compare(e.ID, o.ID); c != 0 {
		return c
	}
	return slices.Compare(e.Paths, o.Paths)
}

// attest is an --attest spec.
type attest struct {
	Type     string
	Disabled bool
	Attrs    map[string]string
}

// Flag implements Spec.
func (e *attest) Flag() string {
	var b csvBuilder
	if e.Type != "" {
		b.write("type", e.Type)
	}
	if e.Disabled {
		b.write("disabled", "true")
	}
	b.writeAttrs(e.Attrs)
	return b.sb.String()
}

func (e *attest) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(e.Attrs)+2)
	for k, v := range e.Attrs {
		m[k] = v
	}
	m["type"] = e.Type
	if e.Disabled {
		m["disabled"] = true
	}
	return json.Marshal(m)
}

func (e *attest) parse(s string) error {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return err
	}
	*e = attest{Attrs: map[string]string{}}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("invalid value %s", f)
		}
		switch strings.TrimSpace(strings.ToLower(k)) {
		case "type":
			e.Type = v
		case "disabled":
			d, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid value %s: %w", f, err)
			}
			e.Disabled = d
		default:
			e.Attrs[k] = v
		}
	}
	if e.Type == "" {
		return errors.New("attestation type not specified")
	}
	return nil
}

func (e *attest) fromCty(v cty.Value) error {
	m, err := ctyAttrs(v, cty.Map(cty.String))
	if err != nil {
		return err
	}
	*e = attest{Attrs: map[string]string{}}
	for k, v := range m {
		switch k {
		case "type":
			e.Type = v
		case "disabled":
			d, err := strconv.ParseBool(v)
			if err != nil {
				return err
			}
			e.Disabled = d
		default:
			e.Attrs[k] = v
		}
	}
	return nil
}

func (e *attest) toCty() cty.Value {
	m := maps.Clone(e.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"] = e.Type
	if e.Disabled {
		m["disabled"] = "true"
	}
	return stringMapCty(m)
}

func (e *attest) key() (string, bool) { return e.Type, true }
func (*attest) elemType() cty.Type    { return cty.Map(cty.String) }

// canonicalAttest is buildx's CanonicalizeAttest: --sbom and --provenance
// values as an --attest spec.
func canonicalAttest(typ, in string) string {
	if in == "" {
		return ""
	}
	if b, err := strconv.ParseBool(in); err == nil {
		return fmt.Sprintf("type=%s,disabled=%t", typ, !b)
	}
	return fmt.Sprintf("type=%s,%s", typ, in)
}
