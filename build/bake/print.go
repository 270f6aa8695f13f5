package bake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/buildx/bake/hclparser"
	"github.com/tonistiigi/go-csvvalue"
)

// MarshalJSON writes the target as buildx's --print does: values that
// HCL would interpolate (${…}, %{…}) are escaped ($${…}, %%{…}), so the
// printed definition reads back as the same target.
func (t *Target) MarshalJSON() ([]byte, error) {
	type plain Target
	c := plain(*t)
	c.Annotations = slices.Clone(t.Annotations)
	for i, v := range c.Annotations {
		c.Annotations[i] = escapeInterp(v)
	}
	if c.DockerfileInline != nil {
		c.DockerfileInline = new(escapeInterp(*c.DockerfileInline))
	}
	c.Labels = escapeValues(t.Labels)
	c.Args = escapeValues(t.Args)
	c.ExtraHosts = escapeValues(t.ExtraHosts)
	return json.Marshal(c)
}

func escapeInterp(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "${", "$${"), "%{", "%%{")
}

func escapeValues(m map[string]*string) map[string]*string {
	m = maps.Clone(m)
	for k, v := range m {
		if v != nil {
			m[k] = new(escapeInterp(*v))
		}
	}
	return m
}

// Print writes the resolved targets and their groups as docker buildx
// bake --print does.
func (d *Definition) Print(w io.Writer) error {
	dt, err := json.MarshalIndent(struct {
		Group  map[string]*Group  `json:"group,omitempty"`
		Target map[string]*Target `json:"target"`
	}{d.groups, d.targets}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(dt))
	return err
}

// listSpec is a parsed --list value.
type listSpec struct {
	typ    string // targets or variables
	format string // table or json
}

// parseList parses a --list value as buildx: "targets", "variables", or
// type=targets|variables[,format=table|json].
func parseList(s string) (listSpec, error) {
	var l listSpec
	const form = "expected targets, variables, or type=targets|variables[,format=table|json]"
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return l, fmt.Errorf("--list %q: %w", s, err)
	}
	if len(fields) == 1 && fields[0] == s && !strings.HasPrefix(s, "type=") {
		l.typ = s
	} else {
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return l, fmt.Errorf("--list %q: %q is not key=value: %s", s, f, form)
			}
			switch strings.TrimSpace(strings.ToLower(k)) {
			case "type":
				l.typ = v
			case "format":
				l.format = v
			default:
				return l, fmt.Errorf("--list %q: unknown key %q: %s", s, k, form)
			}
		}
	}
	if l.format == "" {
		l.format = "table"
	}
	if l.typ != "targets" && l.typ != "variables" {
		return l, fmt.Errorf("--list %q: invalid type %q: %s", s, l.typ, form)
	}
	if l.format != "table" && l.format != "json" {
		return l, fmt.Errorf("--list %q: invalid format %q: %s", s, l.format, form)
	}
	return l, nil
}

type listedTarget struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Group       bool   `json:"group,omitempty"`
}

func (d *parsed) listTargets(w io.Writer, asJSON bool) error {
	var list []listedTarget
	for _, t := range d.cfg.Targets {
		list = append(list, listedTarget{Name: t.Name, Description: t.Description})
	}
	for _, g := range d.cfg.Groups {
		descr := g.Description
		if len(g.Targets) > 0 {
			names := strings.Join(slices.Sorted(slices.Values(g.Targets)), ", ")
			if descr != "" {
				descr += " (" + names + ")"
			} else {
				descr = names
			}
		}
		list = append(list, listedTarget{Name: g.Name, Description: descr, Group: true})
	}
	slices.SortStableFunc(list, func(a, b listedTarget) int { return cmp.Compare(a.Name, b.Name) })
	list = slices.DeleteFunc(list, func(t listedTarget) bool { return strings.HasPrefix(t.Name, "_") })
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "TARGET\tDESCRIPTION")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\n", t.Name, t.Description)
	}
	return tw.Flush()
}

func (d *parsed) listVariables(w io.Writer, asJSON bool) error {
	// nil (JSON null) without HCL files, as buildx.
	vars := slices.Clone(d.vars)
	slices.SortFunc(vars, func(a, b *hclparser.Variable) int {
		return cmp.Compare(a.Name, b.Name)
	})
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(vars)
	}
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintln(tw, "VARIABLE\tTYPE\tVALUE\tDESCRIPTION")
	for _, v := range vars {
		value := "<null>"
		if v.Value != nil {
			value = *v.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.Type, value, v.Description)
	}
	return tw.Flush()
}
