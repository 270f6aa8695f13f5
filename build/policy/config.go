package policy

import (
	"errors"

	"github.com/sirupsen/logrus"
)

// Config is one --policy value, or one entry of a bake target's policy,
// as buildx reads them.
type Config struct {
	// Files are policy files: relative to the build context's directory,
	// or with a cwd:// prefix to the current directory.
	Files []string
	// Reset drops the policies before this entry, <Dockerfile>.rego
	// included.
	Reset bool
	// Disabled applies no policy at all; it goes with no other key.
	Disabled bool
	// Strict asks for the solver's policy session; nil leaves it unset.
	Strict *bool
	// LogLevel is the level of the policy's progress log; nil leaves
	// the default (info: each check and its decision; debug adds inputs).
	LogLevel *logrus.Level
}

// ErrDisabledCombined is the error of a disabled entry given with any
// other policy setting.
var ErrDisabledCombined = errors.New("disabled policy cannot be combined with other policy flags")

// set is one policy to evaluate, before its files are read.
type set struct {
	files    []file
	strict   bool
	logLevel *logrus.Level
}

// file is a policy file: its name and, once read, its data. An optional
// file that does not exist is left out.
type file struct {
	name     string
	data     []byte
	optional bool
	// remote is a file of the remote context, which Attach reads.
	remote bool
}

// plan folds configs over the default policy (the file beside the
// Dockerfile, none when def is empty) as buildx does: an entry without
// files sets strict and log-level on the policy before it (or on the next
// one when there is none), an entry with files adds a policy, and reset
// drops what came before. A disabled entry is Load's to handle, before it
// plans.
func plan(def []file, configs []Config) []set {
	var out []set
	if len(def) > 0 {
		out = append(out, set{files: def})
	}
	var pending Config
	for _, c := range configs {
		if c.Reset {
			out = nil
		}
		switch {
		case len(c.Files) > 0:
			s := set{}
			for _, f := range c.Files {
				s.files = append(s.files, file{name: f})
			}
			s.apply(pending)
			s.apply(c)
			out = append(out, s)
		case len(out) > 0:
			out[len(out)-1].apply(c)
		default:
			pending = c
		}
	}
	return out
}

// isDisabled reports whether an entry disables policies, which it must
// do alone.
func isDisabled(configs []Config) (bool, error) {
	for _, c := range configs {
		if !c.Disabled {
			continue
		}
		if c.Reset || c.Strict != nil || c.LogLevel != nil || len(c.Files) > 0 || len(configs) > 1 {
			return false, ErrDisabledCombined
		}
		return true, nil
	}
	return false, nil
}

// apply sets the strict and log-level c gives.
func (s *set) apply(c Config) {
	if c.Strict != nil {
		s.strict = *c.Strict
	}
	if c.LogLevel != nil {
		s.logLevel = c.LogLevel
	}
}
