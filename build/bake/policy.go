package bake

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/tonistiigi/go-csvvalue"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// policyEntry is one entry of a target's policy: the keys of --policy on
// docker build2 build (buildx's PolicyConfig, which this package may not
// import).
type policyEntry struct {
	Files    []string
	Reset    bool
	Disabled bool
	Strict   *bool
	LogLevel *logrus.Level
}

// policyList is a target's policy. Unlike the other spec lists, entries
// are never deduplicated: their order composes the policies.
type policyList []*policyEntry

// Flag implements Spec: the entry as --policy takes it.
func (e *policyEntry) Flag() string {
	var w csvBuilder
	for _, f := range e.Files {
		w.write("filename", f)
	}
	if e.Reset {
		w.write("reset", "true")
	}
	if e.Disabled {
		w.write("disabled", "true")
	}
	if e.Strict != nil {
		w.write("strict", strconv.FormatBool(*e.Strict))
	}
	if e.LogLevel != nil {
		w.write("log-level", e.LogLevel.String())
	}
	return w.sb.String()
}

// MarshalJSON writes the entry as buildx's bake --print does: its
// PolicyConfig's exported fields, the files with no data.
func (e *policyEntry) MarshalJSON() ([]byte, error) {
	type file struct {
		Filename string
		Data     []byte
	}
	var files []file
	for _, f := range e.Files {
		files = append(files, file{Filename: f})
	}
	return json.Marshal(struct {
		Files    []file
		Reset    bool
		Disabled bool
		Strict   *bool
		LogLevel *logrus.Level
	}{files, e.Reset, e.Disabled, e.Strict, e.LogLevel})
}

// parsePolicy parses a CSV policy entry.
func parsePolicy(s string) (*policyEntry, error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return nil, fmt.Errorf("policy %q: %w", s, err)
	}
	return policyFromFields(fields)
}

func policyFromFields(fields []string) (*policyEntry, error) {
	e := &policyEntry{}
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return nil, fmt.Errorf("policy: %q is not KEY=VALUE: use filename, reset, disabled, strict or log-level", field)
		}
		key = strings.TrimSpace(strings.ToLower(key))
		switch key {
		case "filename":
			if value == "" {
				return nil, fmt.Errorf("policy: filename= is empty: name a .rego file")
			}
			e.Files = append(e.Files, value)
		case "reset", "disabled", "strict":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, fmt.Errorf("policy: %s=%s: not a boolean: use true or false", key, value)
			}
			switch key {
			case "reset":
				e.Reset = b
			case "disabled":
				e.Disabled = b
			default:
				e.Strict = &b
			}
		case "log-level":
			lvl, err := logrus.ParseLevel(value)
			if err != nil {
				return nil, fmt.Errorf("policy: log-level=%s: not a log level: use error, warn, info, debug or trace", value)
			}
			e.LogLevel = &lvl
		default:
			return nil, fmt.Errorf("policy: unknown key %q: use filename, reset, disabled, strict or log-level", key)
		}
	}
	return e, nil
}

// FromCtyValue decodes the policy attribute: a list of CSV strings or of
// objects whose keys are --policy's.
func (l *policyList) FromCtyValue(in cty.Value, p cty.Path) error {
	got := in.Type()
	if !got.IsTupleType() && !got.IsListType() {
		return p.NewErrorf("%s", convert.MismatchMessage(got, cty.List(cty.Map(cty.String))))
	}
	*l = make(policyList, 0, in.LengthInt())
	for it := in.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if !v.IsKnown() || v.IsNull() {
			continue
		}
		switch t := v.Type(); {
		case t == cty.String:
			e, err := parsePolicy(v.AsString())
			if err != nil {
				return p.NewError(err)
			}
			*l = append(*l, e)
		case t.IsObjectType() || t.IsMapType():
			e, err := policyFromMap(v)
			if err != nil {
				return p.NewError(err)
			}
			*l = append(*l, e)
		default:
			return p.NewErrorf("%s", convert.MismatchMessage(t, cty.Map(cty.String)))
		}
	}
	return nil
}

func policyFromMap(v cty.Value) (*policyEntry, error) {
	m := v.AsValueMap()
	var fields []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		val := m[k]
		if val.IsNull() || !val.IsKnown() {
			continue
		}
		switch val.Type() {
		case cty.String:
			if val.AsString() == "" {
				continue
			}
			fields = append(fields, k+"="+val.AsString())
		case cty.Bool:
			fields = append(fields, fmt.Sprintf("%s=%t", k, val.True()))
		case cty.Number:
			var f big.Float
			f.Set(val.AsBigFloat())
			fields = append(fields, k+"="+f.Text('f', -1))
		default:
			return nil, fmt.Errorf("policy: %s: %s", k, convert.MismatchMessage(val.Type(), cty.String))
		}
	}
	return policyFromFields(fields)
}

// ToCtyValue is the list as other blocks reference it.
func (l policyList) ToCtyValue() cty.Value {
	if len(l) == 0 {
		return cty.ListValEmpty(cty.Map(cty.String))
	}
	vals := make([]cty.Value, len(l))
	for i, e := range l {
		m := map[string]cty.Value{}
		if len(e.Files) > 0 {
			m["filename"] = cty.StringVal(e.Files[0])
		}
		if e.Reset {
			m["reset"] = cty.StringVal("true")
		}
		if e.Disabled {
			m["disabled"] = cty.StringVal("true")
		}
		if e.Strict != nil {
			m["strict"] = cty.StringVal(strconv.FormatBool(*e.Strict))
		}
		if e.LogLevel != nil {
			m["log-level"] = cty.StringVal(e.LogLevel.String())
		}
		if len(m) == 0 {
			vals[i] = cty.MapValEmpty(cty.String)
		} else {
			vals[i] = cty.MapVal(m)
		}
	}
	return cty.ListVal(vals)
}

func (l policyList) specs() Specs {
	if l == nil {
		return nil
	}
	out := make(Specs, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// setPolicy is --set target.policy[+]=…: replaced unless appended to, as
// buildx.
func (t *target) setPolicy(o override) error {
	if !o.append {
		t.Policy = nil
	}
	for _, v := range o.arrValue {
		e, err := parsePolicy(v)
		if err != nil {
			return err
		}
		t.Policy = append(t.Policy, e)
	}
	return nil
}
