package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/docker-build2/docker-build2/secrets"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

// secretValues reads the value of each --secret spec as the build will
// read it, for progress.NewMasker to mask in the build's output: the file
// of src (or source), the variable of env, or for "id=NAME" alone the
// variable NAME when set, else the file NAME, as secrets.Parse resolves
// them. A file over BuildKit's size limit is skipped (the build rejects
// it), and so is an empty value. A value ending in a line break is given
// also without it, since a step printing `$(cat /run/secrets/ID)` prints
// it so. Errors are secrets.Parse's, which never hold a value.
//
// Files are read now, once: a file that changes before a step mounts it
// is masked as it was.
func secretValues(specs []string, lookupEnv func(string) (string, bool)) ([][]byte, error) {
	var out [][]byte
	for _, text := range specs {
		v, err := secretValue(text, lookupEnv)
		if err != nil {
			return nil, err
		}
		if len(v) == 0 {
			continue
		}
		out = append(out, v)
		if t := bytes.TrimRight(v, "\r\n"); len(t) > 0 && len(t) < len(v) {
			out = append(out, t)
		}
	}
	return out, nil
}

// secretValue reads the value of one spec; nil for a file too big to be a
// secret.
func secretValue(text string, lookupEnv secrets.LookupEnv) ([]byte, error) {
	s, err := secrets.Parse(text, lookupEnv)
	if err != nil {
		if tooBig(text, lookupEnv) {
			return nil, nil
		}
		return nil, err
	}
	if s.Env != "" {
		v, _ := lookupEnv(s.Env) // Parse checked it is set
		return []byte(v), nil
	}
	dt, err := os.ReadFile(s.FilePath)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named already
		}
		return nil, fmt.Errorf("--secret id=%s: reading %q: %w", s.ID, s.FilePath, err)
	}
	if len(dt) > secretsprovider.MaxSecretSize {
		return nil, nil
	}
	return dt, nil
}

// tooBig tells whether the spec names a file over BuildKit's size limit,
// the one error of secrets.Parse that skips the spec.
func tooBig(text string, lookupEnv secrets.LookupEnv) bool {
	var s secrets.Spec
	if err := s.UnmarshalText([]byte(text)); err != nil || s.Env != "" {
		return false
	}
	path := s.FilePath
	if path == "" {
		if _, ok := lookupEnv(s.ID); ok {
			return false
		}
		path = s.ID
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() > secretsprovider.MaxSecretSize
}
