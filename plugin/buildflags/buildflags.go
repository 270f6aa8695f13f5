// Package buildflags turns the text of build flags into package build's
// typed values: outputs, caches, build args, labels, hosts, platforms,
// network modes, tags, annotations, and the /dev/shm size, rlimits and
// cgroup limits of RUN steps. Each parser rejects what it cannot use with
// an error naming the flag and the value at fault; the spec parsers
// round-trip (Format gives back a spec that parses to the same value).
//
// Imports: build (its types), BuildKit's value formats, docker's go-units
// (sizes and ulimits as docker reads them), csvvalue and the standard
// library; never cobra or docker/cli.
package buildflags

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"unicode"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build"
	csvvalue "github.com/tonistiigi/go-csvvalue"
)

// BuildArgs turns --build-arg values into a map. "KEY" alone takes the
// value from the environment and is skipped when unset, as in docker build.
func BuildArgs(specs []string, lookupEnv func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--build-arg %q: the name before \"=\" is empty: use --build-arg NAME=VALUE", s)
		}
		if strings.ContainsFunc(k, unicode.IsSpace) {
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

// Labels turns --label values into a map.
func Labels(specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, _ := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--label %q: the name before \"=\" is empty: use --label NAME=VALUE", s)
		}
		out[k] = v
	}
	return out, nil
}

// OutputTypes are the -o types, in the order messages list them.
var OutputTypes = []string{"local", "tar", "oci", "docker", "image", "registry", "cacheonly"}

// Outputs parses -o specs: "type=local,dest=out", the shorthand "-" (a
// tar on stdout) or a bare path (type=local).
func Outputs(specs []string) ([]build.Output, error) {
	var outs []build.Output
	for _, s := range specs {
		out, err := output(s)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func output(s string) (build.Output, error) {
	switch {
	case s == "":
		return build.Output{}, fmt.Errorf("--output: empty value: use e.g. type=local,dest=out")
	case s == "-":
		return build.Output{Type: "tar", Dest: "-", Attrs: map[string]string{}}, nil
	case !strings.Contains(s, "="):
		return build.Output{Type: "local", Dest: s, Attrs: map[string]string{}}, nil
	}
	typ, attrs, err := keyValues("--output", s)
	if err != nil {
		return build.Output{}, err
	}
	out := build.Output{Type: typ, Dest: attrs["dest"], Attrs: attrs}
	delete(attrs, "dest")
	switch {
	case out.Type == "":
		return out, fmt.Errorf("--output %q: type is missing: use one of %s", s, strings.Join(OutputTypes, ", "))
	case !slices.Contains(OutputTypes, out.Type):
		return out, fmt.Errorf("--output %q: unknown type %q: use one of %s", s, out.Type, strings.Join(OutputTypes, ", "))
	}
	if out.Dest == "" {
		// As buildx: a directory needs its path, a tarball goes to stdout.
		switch dir := out.Type == "local" || (out.Type == "oci" && out.Attrs["tar"] == "false"); {
		case dir:
			return out, fmt.Errorf("--output %q: type=%s needs dest=PATH", s, out.Type)
		case out.Type == "tar" || out.Type == "oci":
			out.Dest = "-"
		}
	}
	return out, nil
}

// FormatOutput is the -o spec of out.
func FormatOutput(out build.Output) string {
	fields := []string{"type=" + out.Type}
	if out.Dest != "" {
		fields = append(fields, "dest="+out.Dest)
	}
	for _, k := range slices.Sorted(maps.Keys(out.Attrs)) {
		fields = append(fields, k+"="+out.Attrs[k])
	}
	return csvJoin(fields)
}

// keyValues reads a CSV spec of key=value fields: keys lower-cased, "type"
// apart from the others.
func keyValues(flag, s string) (typ string, attrs map[string]string, _ error) {
	typ, attrs, err := splitKeyValues(s)
	if err != nil {
		return "", nil, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return typ, attrs, nil
}

// splitKeyValues is keyValues with errors that do not quote s.
func splitKeyValues(s string) (typ string, attrs map[string]string, _ error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return "", nil, err
	}
	attrs = map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", nil, fmt.Errorf("%q is not of the form key=value", f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "type" {
			typ = v
			continue
		}
		attrs[k] = v
	}
	return typ, attrs, nil
}

// csvJoin joins fields as one CSV record, quoting those that need it.
func csvJoin(fields []string) string {
	for i, f := range fields {
		if strings.ContainsAny(f, ",\"\n\r") || strings.TrimSpace(f) != f {
			fields[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
	}
	return strings.Join(fields, ",")
}

// ExtraHosts turns --add-host values (host:ip or host=ip) into "host=ip".
func ExtraHosts(specs []string) ([]string, error) {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		host, ip, ok := strings.Cut(s, "=")
		if !ok {
			host, ip, ok = strings.Cut(s, ":")
		}
		if !ok || host == "" || ip == "" {
			return nil, fmt.Errorf("--add-host %q: use the format host:ip", s)
		}
		if ip != "host-gateway" && net.ParseIP(strings.Trim(ip, "[]")) == nil {
			return nil, fmt.Errorf("--add-host %q: %q is not an IP address", s, ip)
		}
		out = append(out, host+"="+strings.Trim(ip, "[]"))
	}
	return out, nil
}

// Platforms splits --platform values (each may list several, comma
// separated) and checks each; flag names the flag in errors.
func Platforms(flag string, specs []string) ([]string, error) {
	var out []string
	for _, spec := range specs {
		for _, p := range strings.Split(spec, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if _, err := platforms.Parse(p); err != nil {
				return nil, fmt.Errorf("%s %q: %w", flag, p, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// Network checks a --network value.
func Network(s string) (string, error) {
	if s == "" || slices.Contains(build.NetworkModes, s) {
		return s, nil
	}
	return "", fmt.Errorf("--network %q is not supported: use %s", s, oneOf(build.NetworkModes))
}

// Tags checks -t values.
func Tags(tags []string) ([]string, error) {
	for _, t := range tags {
		if _, err := reference.ParseNormalizedNamed(t); err != nil {
			return nil, fmt.Errorf("--tag %q: %w", t, err)
		}
	}
	return tags, nil
}

// oneOf lists values as "a, b or c".
func oneOf(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
