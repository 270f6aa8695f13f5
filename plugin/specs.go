package plugin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/client"
	csvvalue "github.com/tonistiigi/go-csvvalue"
)

// parseBuildArgs turns --build-arg values into a map. "KEY" alone takes the
// value from the environment and is skipped when unset, as in docker build.
func parseBuildArgs(specs []string, lookupEnv func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--build-arg %q: the name before \"=\" is empty: use --build-arg NAME=VALUE", s)
		}
		if strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("--build-arg %q: the name contains whitespace", s)
		}
		if !ok {
			ev, set := lookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	return out, nil
}

func parseLabels(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, _ := strings.Cut(s, "=")
		if k == "" {
			return nil, fmt.Errorf("--label %q: the name before \"=\" is empty: use --label NAME=VALUE", s)
		}
		out[k] = v
	}
	return out, nil
}

// output is one parsed -o/--output spec.
type output struct {
	Type  string
	Attrs map[string]string
}

var outputTypes = []string{"local", "tar", "oci", "docker", "image", "registry", "cacheonly"}

// parseOutputs parses -o specs: "type=local,dest=out", the shorthand "-"
// (a tar on stdout) or a bare path (type=local).
func parseOutputs(specs []string) ([]output, error) {
	var outs []output
	for _, s := range specs {
		if s == "" {
			return nil, fmt.Errorf("--output: empty value: use e.g. type=local,dest=out")
		}
		if !strings.Contains(s, "=") {
			if s == "-" {
				outs = append(outs, output{Type: "tar", Attrs: map[string]string{"dest": "-"}})
			} else {
				outs = append(outs, output{Type: "local", Attrs: map[string]string{"dest": s}})
			}
			continue
		}
		fields, err := csvvalue.Fields(s, nil)
		if err != nil {
			return nil, fmt.Errorf("--output %q: %w", s, err)
		}
		out := output{Attrs: map[string]string{}}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("--output %q: %q is not of the form key=value", s, f)
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "type" {
				out.Type = v
				continue
			}
			out.Attrs[k] = v
		}
		switch {
		case out.Type == "":
			return nil, fmt.Errorf("--output %q: type is missing: use one of %s", s, strings.Join(outputTypes, ", "))
		case !slices.Contains(outputTypes, out.Type):
			return nil, fmt.Errorf("--output %q: unknown type %q: use one of %s", s, out.Type, strings.Join(outputTypes, ", "))
		}
		switch out.Type {
		case "local", "tar", "oci":
			if out.Attrs["dest"] == "" {
				return nil, fmt.Errorf("--output %q: type=%s needs dest=PATH", s, out.Type)
			}
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// parseCacheSpecs parses --cache-from/--cache-to values; a bare reference is
// shorthand for type=registry,ref=REF.
func parseCacheSpecs(flag string, specs []string) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, s := range specs {
		if !strings.Contains(s, "=") {
			out = append(out, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": s}})
			continue
		}
		fields, err := csvvalue.Fields(s, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, s, err)
		}
		e := client.CacheOptionsEntry{Attrs: map[string]string{}}
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("%s %q: %q is not of the form key=value", flag, s, f)
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if k == "type" {
				e.Type = v
				continue
			}
			e.Attrs[k] = v
		}
		types := []string{"registry", "local", "inline"}
		if e.Type == "" || !slices.Contains(types, e.Type) {
			return nil, fmt.Errorf("%s %q: unknown cache type %q: use one of %s", flag, s, e.Type, strings.Join(types, ", "))
		}
		out = append(out, e)
	}
	return out, nil
}
