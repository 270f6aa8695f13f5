package sshforward

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/buildkit/session"
	bksshforward "github.com/moby/buildkit/session/sshforward"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"golang.org/x/crypto/ssh"
)

// LookupEnv is how a parser reads environment variables.
type LookupEnv func(string) (string, bool)

// DefaultID is the id RUN --mount=type=ssh uses when it names none.
const DefaultID = bksshforward.DefaultID

// Spec is one --ssh value: an id and the agent socket or key files serving
// it. No paths means the agent at $SSH_AUTH_SOCK.
type Spec struct {
	ID    string
	Paths []string
}

// String writes the spec back in --ssh syntax.
func (s Spec) String() string {
	if len(s.Paths) == 0 {
		return s.ID
	}
	return s.ID + "=" + strings.Join(s.Paths, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (s Spec) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the syntax of --ssh only.
func (s *Spec) UnmarshalText(text []byte) error {
	v := strings.TrimSpace(string(text))
	id, paths, hasPaths := strings.Cut(v, "=")
	if id == "" {
		return fmt.Errorf("--ssh %q: the id before \"=\" is empty: use default, ID=SOCKET or ID=KEY[,KEY]", v)
	}
	if strings.ContainsAny(id, ", ") {
		return fmt.Errorf("--ssh %q: %q is not an id: use default, ID=SOCKET or ID=KEY[,KEY]", v, id)
	}
	out := Spec{ID: id}
	if hasPaths {
		for _, p := range strings.Split(paths, ",") {
			if p == "" {
				return fmt.Errorf("--ssh %s: empty path: give a socket or key files after \"=\"", id)
			}
			out.Paths = append(out.Paths, p)
		}
	}
	*s = out
	return nil
}

// Specs is every --ssh of a build.
type Specs []Spec

// ParseSpecs parses each --ssh value and checks every path it names.
func ParseSpecs(texts []string, lookupEnv LookupEnv) (Specs, error) {
	out := make(Specs, 0, len(texts))
	seen := map[string]bool{}
	for _, t := range texts {
		var s Spec
		if err := s.UnmarshalText([]byte(t)); err != nil {
			return nil, err
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("--ssh %s is given more than once: each id can be given once", s.ID)
		}
		seen[s.ID] = true
		if len(s.Paths) == 0 {
			sock, ok := lookupEnv("SSH_AUTH_SOCK")
			if !ok || sock == "" {
				return nil, fmt.Errorf("--ssh %s: SSH_AUTH_SOCK is not set: start an agent (eval $(ssh-agent); ssh-add) or give a path, e.g. --ssh %s=$HOME/.ssh/id_ed25519", s.ID, s.ID)
			}
			s.Paths = []string{sock}
		}
		if err := checkPaths(s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func checkPaths(s Spec) error {
	sockets := 0
	for _, p := range s.Paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("--ssh %s: %q: %w", s.ID, p, cause(err))
		}
		if fi.Mode()&os.ModeSocket != 0 {
			sockets++
			continue
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("--ssh %s: %q is neither an agent socket nor a private key file", s.ID, p)
		}
		if err := checkKey(s.ID, p); err != nil {
			return err
		}
	}
	if sockets > 0 && len(s.Paths) > 1 {
		return fmt.Errorf("--ssh %s: give one agent socket, or key files, not both", s.ID)
	}
	return nil
}

func checkKey(id, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("--ssh %s: reading key %q: %w", id, p, cause(err))
	}
	defer func() { _ = f.Close() }()
	dt, err := io.ReadAll(io.LimitReader(f, 100*1024))
	if err != nil {
		return fmt.Errorf("--ssh %s: reading key %q: %w", id, p, cause(err))
	}
	if _, err := ssh.ParseRawPrivateKey(dt); err != nil {
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return fmt.Errorf("--ssh %s: key %q is passphrase-protected: add it to an ssh-agent (ssh-add %s) and use --ssh %s=$SSH_AUTH_SOCK", id, p, p, id)
		}
		return fmt.Errorf("--ssh %s: %q is neither an agent socket nor a private key file (%w)", id, p, err)
	}
	return nil
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

// Attachable serves the agents to the build session.
func (ss Specs) Attachable() (session.Attachable, error) {
	confs := make([]sshprovider.AgentConfig, 0, len(ss))
	for _, s := range ss {
		confs = append(confs, sshprovider.AgentConfig{ID: s.ID, Paths: s.Paths})
	}
	a, err := sshprovider.NewSSHAgentProvider(confs)
	if err != nil {
		return nil, fmt.Errorf("--ssh: %w", err)
	}
	return a, nil
}
