package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/session"
	bksecrets "github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	csvvalue "github.com/tonistiigi/go-csvvalue"
)

// LookupEnv is how a parser reads environment variables (os.LookupEnv in the
// plugin, a map in tests).
type LookupEnv func(string) (string, bool)

// Spec is one --secret value. Exactly one of FilePath and Env is set once
// the spec is resolved.
type Spec struct {
	ID       string
	FilePath string
	Env      string
}

// String writes the spec back in --secret syntax.
func (s Spec) String() string {
	parts := []string{"id=" + s.ID}
	if s.FilePath != "" {
		parts = append(parts, "src="+s.FilePath)
	}
	if s.Env != "" {
		parts = append(parts, "env="+s.Env)
	}
	for i, p := range parts {
		if strings.ContainsAny(p, ",\"") {
			parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
	}
	return strings.Join(parts, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (s Spec) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the syntax of --secret without touching the file
// system or the environment. Errors quote the spec only while its id is
// unknown, and never quote the value of an unknown key.
func (s *Spec) UnmarshalText(text []byte) error {
	fields, err := csvvalue.Fields(string(text), nil)
	if err != nil {
		return fmt.Errorf("--secret %q: %w", string(text), err)
	}
	out, r := readFields(fields)
	where := fmt.Sprintf("--secret %q", string(text))
	if out.ID != "" {
		where = "--secret id=" + out.ID
	}
	if err := r.check(where); err != nil {
		return err
	}
	// type=env,src=NAME names a variable, as in buildx.
	if r.typ == "env" && out.Env == "" {
		out.Env, out.FilePath = out.FilePath, ""
	}
	if err := out.checkValues(where, r.typ); err != nil {
		return err
	}
	*s = out
	return nil
}

// fieldsRead is what readFields saw besides the spec's values.
type fieldsRead struct {
	typ, unknown, malformed string
}

// readFields reads the key=value fields of a spec.
func readFields(fields []string) (Spec, fieldsRead) {
	var out Spec
	var r fieldsRead
	for _, field := range fields {
		key, value, ok := strings.Cut(field, "=")
		if !ok {
			r.malformed = field
			continue
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "id":
			out.ID = value
		case "src", "source":
			out.FilePath = value
		case "env":
			out.Env = value
		case "type":
			r.typ = value
		default:
			if r.unknown == "" {
				r.unknown = key
			}
		}
	}
	return out, r
}

func (r fieldsRead) check(where string) error {
	switch {
	case r.malformed != "":
		return fmt.Errorf("%s: %q is not of the form key=value", where, r.malformed)
	case r.unknown != "":
		return fmt.Errorf("%s: unknown key %q: use id, src (or source), env or type", where, r.unknown)
	case r.typ != "" && r.typ != "file" && r.typ != "env":
		return fmt.Errorf("%s: unsupported type %q: use type=file or type=env", where, r.typ)
	}
	return nil
}

// checkValues checks the values of a spec of type typ ("" when not given).
func (s Spec) checkValues(where, typ string) error {
	switch {
	case typ == "file" && s.FilePath == "" && s.Env != "":
		return fmt.Errorf("%s: type=file needs src=PATH, not env", where)
	case s.ID == "":
		return fmt.Errorf("%s: id is missing: use id=NAME", where)
	case s.FilePath != "" && s.Env != "":
		return fmt.Errorf("%s: give either src or env, not both", where)
	}
	return nil
}

// Parse parses one --secret value and resolves it: "id=NAME" alone takes
// the variable NAME when set, else the file NAME, as BuildKit does. It
// checks that the file is readable and small enough, or that the variable
// is set.
func Parse(text string, lookupEnv LookupEnv) (Spec, error) {
	var s Spec
	if err := s.UnmarshalText([]byte(text)); err != nil {
		return Spec{}, err
	}
	if s.FilePath == "" && s.Env == "" {
		if _, ok := lookupEnv(s.ID); ok {
			s.Env = s.ID
		} else {
			s.FilePath = s.ID
		}
	}
	return s, s.check(lookupEnv)
}

func (s Spec) check(lookupEnv LookupEnv) error {
	if s.Env != "" {
		if _, ok := lookupEnv(s.Env); !ok {
			return fmt.Errorf("--secret id=%s: environment variable %s is not set", s.ID, s.Env)
		}
		return nil
	}
	fi, err := os.Stat(s.FilePath)
	if err != nil {
		return fmt.Errorf("--secret id=%s: reading %q: %w", s.ID, s.FilePath, cause(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("--secret id=%s: %q is a directory, not a file", s.ID, s.FilePath)
	}
	if fi.Size() > secretsprovider.MaxSecretSize {
		return fmt.Errorf("--secret id=%s: %q is %d bytes, over BuildKit's limit of %d bytes for a secret", s.ID, s.FilePath, fi.Size(), secretsprovider.MaxSecretSize)
	}
	f, err := os.Open(s.FilePath)
	if err != nil {
		return fmt.Errorf("--secret id=%s: reading %q: %w", s.ID, s.FilePath, cause(err))
	}
	return f.Close()
}

// Specs is every --secret of a build.
type Specs []Spec

// ParseSpecs parses and resolves each --secret value; ids must be unique.
func ParseSpecs(texts []string, lookupEnv LookupEnv) (Specs, error) {
	out := make(Specs, 0, len(texts))
	seen := map[string]bool{}
	for _, t := range texts {
		s, err := Parse(t, lookupEnv)
		if err != nil {
			return nil, err
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("--secret id=%s is given more than once: each id can be given once", s.ID)
		}
		seen[s.ID] = true
		out = append(out, s)
	}
	return out, nil
}

// Attachable serves the secrets to the build session. Values are read when
// a step mounts them.
func (ss Specs) Attachable(lookupEnv LookupEnv) session.Attachable {
	m := make(map[string]Spec, len(ss))
	for _, s := range ss {
		m[s.ID] = s
	}
	return secretsprovider.NewSecretProvider(&store{specs: m, lookupEnv: lookupEnv})
}

// store reads a secret only when a build step asks for it.
type store struct {
	specs     map[string]Spec
	lookupEnv LookupEnv
}

func (s *store) GetSecret(_ context.Context, id string) ([]byte, error) {
	spec, ok := s.specs[id]
	if !ok {
		return nil, bksecrets.ErrNotFound
	}
	if spec.Env != "" {
		v, ok := s.lookupEnv(spec.Env)
		if !ok {
			return nil, fmt.Errorf("secret %s: environment variable %s is no longer set", id, spec.Env)
		}
		return []byte(v), nil
	}
	fi, err := os.Stat(spec.FilePath)
	if err != nil {
		return nil, fmt.Errorf("secret %s: reading %q: %w", id, spec.FilePath, cause(err))
	}
	if fi.Size() > secretsprovider.MaxSecretSize {
		return nil, fmt.Errorf("secret %s: %q is over BuildKit's limit of %d bytes", id, spec.FilePath, secretsprovider.MaxSecretSize)
	}
	dt, err := os.ReadFile(spec.FilePath)
	if err != nil {
		return nil, fmt.Errorf("secret %s: reading %q: %w", id, spec.FilePath, cause(err))
	}
	return dt, nil
}

// cause drops the "op path:" prefix of a *PathError, whose path the caller
// already names.
func cause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
