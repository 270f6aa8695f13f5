package buildflags

import (
	"fmt"
	"slices"
	"strings"

	"github.com/docker-build2/docker-build2/build"
)

// Call is a parsed --call value.
type Call struct {
	// Name is "build" or a key of build.Calls.
	Name string
	// Format is "text" or "json".
	Format string
	// IgnoreStatus keeps a check's violations from failing the command.
	IgnoreStatus bool
}

// ParseCall parses --call: NAME[,format=text|json][,ignorestatus=true],
// NAME one of build, check, outline, targets.
func ParseCall(s string) (Call, error) {
	fields := strings.Split(s, ",")
	c := Call{Name: strings.ToLower(strings.TrimSpace(fields[0])), Format: "text"}
	names := []string{"build", "check", "outline", "targets"}
	if !slices.Contains(names, c.Name) {
		return c, fmt.Errorf("--call %q: unknown method %q: use one of %s", s, c.Name, strings.Join(names, ", "))
	}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		switch k = strings.ToLower(strings.TrimSpace(k)); {
		case !ok:
			return c, fmt.Errorf("--call %q: %q is not of the form key=value", s, f)
		case k == "format" && (v == "text" || v == "json"):
			c.Format = v
		case k == "format":
			return c, fmt.Errorf("--call %q: format %q: use text or json", s, v)
		case k == "ignorestatus" && (v == "true" || v == "false"):
			c.IgnoreStatus = v == "true"
		default:
			return c, fmt.Errorf("--call %q: unknown key %q: use format or ignorestatus", s, k)
		}
	}
	if _, ok := build.Calls[c.Name]; !ok && c.Name != "build" {
		return c, fmt.Errorf("--call %q: the builder has no %s", s, c.Name)
	}
	return c, nil
}

// String is the --call value of c.
func (c Call) String() string {
	s := c.Name
	if c.Format != "" && c.Format != "text" {
		s += ",format=" + c.Format
	}
	if c.IgnoreStatus {
		s += ",ignorestatus=true"
	}
	return s
}
