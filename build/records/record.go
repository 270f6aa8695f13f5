package records

import (
	"crypto/rand"
	"time"
)

// Status is the state of a build record.
type Status string

const (
	// Running is a build in progress.
	Running Status = "running"
	// Completed is a build that succeeded.
	Completed Status = "completed"
	// Failed is a build that ended with an error.
	Failed Status = "failed"
	// Canceled is a build that was interrupted.
	Canceled Status = "canceled"
	// Crashed is how a running record reads once the process that wrote
	// it is gone without finishing it; Import stores it for a record
	// exported while it ran.
	Crashed Status = "crashed"
)

// Record is one build. Fields a caller does not know stay zero; every
// slice and map may be nil.
type Record struct {
	// Ref identifies the record: 25 lower-case letters and digits, like
	// BuildKit's refs. Start sets it when it is empty.
	Ref string `json:"ref"`
	// Name is what the build is called in listings: the target, else the
	// context's base name.
	Name string `json:"name,omitempty"`
	// LocalDir is the working directory of the build command; "history ls
	// --local" lists the records of the current one.
	LocalDir string `json:"localDir,omitempty"`
	// Started is when the build began; Start sets it when it is zero.
	Started time.Time `json:"started"`
	// Completed is when the build ended; nil while it runs.
	Completed *time.Time `json:"completed,omitempty"`
	// Status is Running until Finish; Crashed only when read.
	Status Status `json:"status"`
	// Error is the first line of the build's error; empty on success.
	Error string `json:"error,omitempty"`
	// ErrorSource is the source excerpt of the error (the Dockerfile lines
	// around it), one element a line, as the build printed it.
	ErrorSource []string `json:"errorSource,omitempty"`
	// Frontend is the frontend used, such as "dockerfile.v0".
	Frontend string `json:"frontend,omitempty"`
	// FrontendAttrs are the frontend's attributes as the caller gives them
	// (build-arg:NAME, target, platform, …); no secret values.
	FrontendAttrs map[string]string `json:"frontendAttrs,omitempty"`
	// SecretIDs are the ids of the secrets exposed (never their values).
	SecretIDs []string `json:"secretIDs,omitempty"`
	// SSHIDs are the ids of the SSH agents or keys exposed.
	SSHIDs []string `json:"sshIDs,omitempty"`
	// Context is the build context as given (a path, URL or "-").
	Context string `json:"context,omitempty"`
	// Dockerfile is the Dockerfile as given.
	Dockerfile string `json:"dockerfile,omitempty"`
	// Outputs are what the build exported.
	Outputs []Output `json:"outputs,omitempty"`
	// Warnings are the build's warnings (the Dockerfile checks'), each once.
	Warnings []Warning `json:"warnings,omitempty"`
	// Steps are the build's vertices in the order they first appeared.
	Steps []Step `json:"steps,omitempty"`
	// CachedSteps counts the Steps that were cached.
	CachedSteps int `json:"cachedSteps"`
	// TotalSteps counts the Steps.
	TotalSteps int `json:"totalSteps"`
	// ContextBytes is the size of the context sent, when known.
	ContextBytes int64 `json:"contextBytes,omitempty"`
	// PID is the process that runs the build, and PIDStart that process's
	// start time (in clock ticks since boot, from /proc), so that a reused
	// PID is not taken for the build's. Both are zero once finished.
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pidStart,omitempty"`
}

// Output is one export of a build.
type Output struct {
	// Type is the exporter: image, registry, docker, oci, tar, local.
	Type string `json:"type"`
	// Name is the image name (image, registry, docker), Dest the file or
	// directory written (oci, tar, local).
	Name string `json:"name,omitempty"`
	Dest string `json:"dest,omitempty"`
	// Digest is the image or manifest digest, when there is one.
	Digest string `json:"digest,omitempty"`
}

// Warning is one build warning.
type Warning struct {
	// Short is the warning's one line (with its rule name, as BuildKit
	// writes it: "FromAsCasing: 'as' and 'FROM' keywords' casing do not match").
	Short string `json:"short"`
	// Detail are the lines that explain it.
	Detail []string `json:"detail,omitempty"`
	// URL documents the rule.
	URL string `json:"url,omitempty"`
	// Location is "file:line", when BuildKit gave one.
	Location string `json:"location,omitempty"`
}

// Step is one vertex of a build.
type Step struct {
	Name      string     `json:"name"`
	Started   *time.Time `json:"started,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	Cached    bool       `json:"cached,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Duration is how long the build took, or has run until now.
func (r *Record) Duration(now time.Time) time.Duration {
	if r.Completed != nil {
		return r.Completed.Sub(r.Started)
	}
	return now.Sub(r.Started)
}

// end is when the build ended, or started for one that never finished.
func (r *Record) end() time.Time {
	if r.Completed != nil {
		return *r.Completed
	}
	return r.Started
}

const refAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// newRef returns 25 random lower-case letters and digits, as BuildKit's
// identity.NewID (about 129 bits).
func newRef() string {
	out := make([]byte, 0, 25)
	buf := make([]byte, 32)
	for len(out) < cap(out) {
		_, _ = rand.Read(buf) // never fails (crypto/rand)
		for _, c := range buf {
			// 252 = 7*36: drop the bytes above it, so that every
			// character is as likely.
			if c < 252 && len(out) < cap(out) {
				out = append(out, refAlphabet[int(c)%len(refAlphabet)])
			}
		}
	}
	return string(out)
}

// validRef reports whether s can be a ref: a file name of the store.
func validRef(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
