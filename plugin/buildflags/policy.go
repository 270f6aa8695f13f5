package buildflags

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/sirupsen/logrus"
	csvvalue "github.com/tonistiigi/go-csvvalue"
)

// Policies parses the values of flag (--policy), each as Policy does.
func Policies(flag string, specs []string) ([]policy.Config, error) {
	var out []policy.Config
	for _, s := range specs {
		c, err := Policy(s)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, s, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Policy parses one policy configuration as buildx reads it:
// "filename=PATH[,filename=PATH][,reset=BOOL][,disabled=BOOL][,strict=BOOL][,log-level=LEVEL]".
func Policy(spec string) (policy.Config, error) {
	if strings.TrimSpace(spec) == "" {
		return policy.Config{}, fmt.Errorf("empty: give filename=PATH, reset, disabled, strict or log-level")
	}
	fields, err := csvvalue.Fields(spec, nil)
	if err != nil {
		return policy.Config{}, err
	}
	return PolicyFields(fields)
}

// PolicyFields parses a policy configuration's KEY=VALUE fields.
func PolicyFields(fields []string) (policy.Config, error) {
	var c policy.Config
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			return policy.Config{}, fmt.Errorf("%q is not KEY=VALUE: use filename, reset, disabled, strict or log-level", field)
		}
		key = strings.TrimSpace(strings.ToLower(key))
		switch key {
		case "filename":
			if value == "" {
				return policy.Config{}, fmt.Errorf("filename= is empty: name a .rego file")
			}
			c.Files = append(c.Files, value)
		case "reset", "disabled", "strict":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return policy.Config{}, fmt.Errorf("%s=%s: not a boolean: use true or false", key, value)
			}
			switch key {
			case "reset":
				c.Reset = b
			case "disabled":
				c.Disabled = b
			default:
				c.Strict = &b
			}
		case "log-level":
			lvl, err := logrus.ParseLevel(value)
			if err != nil {
				return policy.Config{}, fmt.Errorf("log-level=%s: not a log level: use error, warn, info, debug or trace", value)
			}
			c.LogLevel = &lvl
		default:
			return policy.Config{}, fmt.Errorf("unknown key %q: use filename, reset, disabled, strict or log-level", key)
		}
	}
	return c, nil
}
