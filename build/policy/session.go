package policy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client/llb"

	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/docker/buildx/util/sourcemeta"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/sourcepolicy/policysession"
	"github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// Build is what a policy knows of the build it checks, and what it needs
// to resolve sources' metadata.
type Build struct {
	// Client is the BuildKit the build runs on: image configs,
	// attestations and Git or HTTP metadata the policy asks for are
	// resolved there.
	Client *client.Client
	// Session is the build's session providers (registry credentials).
	Session []session.Attachable
	// Status receives the policy's progress ("loading policies …": each
	// check and decision); nil drops it. Attach's release stops sending.
	Status chan<- *client.SolveStatus
	// Platform is the builder's default platform, for a source that asks
	// for none.
	Platform *ocispecs.Platform
	// Dockerfile, Target, Args and Labels are the policy input's env.
	Dockerfile string
	Target     string
	Args       map[string]string
	Labels     map[string]string
	// Verifier checks signatures (input.image.signatures); nil has none.
	Verifier buildxpolicy.PolicyVerifierProvider
}

// Attachment is a build's policy session: Provider goes into the
// SolveOpt's SourcePolicyProvider, with ProxyNetwork when a policy asks
// for it; Release ends it once the solve returned, with its error.
type Attachment struct {
	Provider     session.Attachable
	ProxyNetwork bool
	Release      func(error)
}

// remoteContext is the remote context the sets' files come from, if any:
// every set of a build that has one holds it, but the built-in policy,
// which comes first when on, holds none.
func remoteContext(sets []Set) *llb.State {
	for _, s := range sets {
		if s.context != nil {
			return s.context
		}
	}
	return nil
}

// Attach makes the policy session of sets for b. It reads the files of a
// remote context first: when none of them exists and no other policy
// is left, there is no session (nil).
func Attach(ctx context.Context, b Build, sets []Set) (*Attachment, error) {
	if len(sets) == 0 {
		return nil, errors.New("no policy to attach")
	}
	resolver := sourcemeta.NewResolver(b.Client, sourcemeta.WithProgressWriter(statusWriter{b.Status}), sourcemeta.WithSession(b.Session))
	var remote *remoteFS
	if st := remoteContext(sets); st != nil {
		remote = newRemoteFS(ctx, resolver, *st)
	}
	sets, err := readRemote(remote, sets)
	if err != nil || len(sets) == 0 {
		_ = resolver.Close()
		return nil, err
	}
	log := newLogger(b.Status, "loading policies "+strings.Join(fileNames(sets), ", "))
	env := b.env()
	a := &Attachment{}
	var (
		policies []*buildxpolicy.Policy
		cbs      []policysession.PolicyCallback
	)
	a.Release = func(err error) {
		_ = resolver.Close()
		if len(policysession.DenyMessages(err)) > 0 || isPolicyError(policies, err) {
			log.Close(err)
			return
		}
		log.Close(nil)
	}
	for _, s := range sets {
		level := logrus.InfoLevel
		if s.LogLevel != nil {
			level = *s.LogLevel
		}
		p := buildxpolicy.NewPolicy(buildxpolicy.Opt{
			Files: s.Files,
			Env:   env,
			Log: func(l logrus.Level, msg string) {
				if l <= level {
					log.Log(msg)
				}
			},
			FS:               s.fs(remote),
			VerifierProvider: b.Verifier,
			DefaultPlatform:  b.Platform,
			SourceResolver:   resolver,
		})
		if !s.builtin {
			caps, err := p.CheckCaps(ctx)
			if err != nil {
				a.Release(err)
				return nil, fmt.Errorf("failed to evaluate policy caps: %w", err)
			}
			a.ProxyNetwork = a.ProxyNetwork || caps[buildxpolicy.CapExecProxy]
		}
		policies = append(policies, p)
		cbs = append(cbs, p.CheckPolicy)
	}
	if a.ProxyNetwork {
		log.Log("policy enabled network proxy")
	}
	a.Provider = policysession.NewPolicyProvider(buildxpolicy.MultiPolicyCallback(cbs...))
	return a, nil
}

// fileNames are the names of the sets' files, in order.
func fileNames(sets []Set) []string {
	var names []string
	for _, s := range sets {
		for _, f := range s.Files {
			names = append(names, f.Filename)
		}
	}
	return names
}

// env is the policy input's env.
func (b Build) env() buildxpolicy.Env {
	env := buildxpolicy.Env{Filename: policyEnvFilename(b.Dockerfile), Target: b.Target, Labels: b.Labels}
	for k, v := range b.Args {
		if env.Args == nil {
			env.Args = map[string]*string{}
		}
		env.Args[k] = &v
	}
	return env
}

// readRemote reads the files of sets that are in the remote context,
// leaving out an optional one that does not exist, and a set left with
// no file.
func readRemote(remote *remoteFS, sets []Set) ([]Set, error) {
	var out []Set
	for _, s := range sets {
		var files []buildxpolicy.File
		for _, f := range s.Files {
			if f.Data != nil || remote == nil {
				files = append(files, f)
				continue
			}
			dt, ok, err := remote.read(f.Filename)
			if err != nil {
				return nil, err
			}
			if !ok {
				if s.optional[f.Filename] {
					continue
				}
				return nil, fmt.Errorf("policy file %s not found", f.Filename)
			}
			files = append(files, buildxpolicy.File{Filename: f.Filename, Data: dt})
		}
		if len(files) > 0 {
			s.Files = files
			out = append(out, s)
		}
	}
	return out, nil
}

// policyEnvFilename is input.env.filename: the Dockerfile's base name.
func policyEnvFilename(name string) string {
	base := filepath.Base(filepath.Clean(name))
	if name == "" || base == "." || base == string(filepath.Separator) {
		return "Dockerfile"
	}
	return base
}

func isPolicyError(policies []*buildxpolicy.Policy, err error) bool {
	for _, p := range policies {
		if p.IsPolicyError(err) {
			return true
		}
	}
	return false
}

// statusWriter is buildx's progress.Writer over a status channel, for the
// metadata resolver's own solves.
type statusWriter struct{ ch chan<- *client.SolveStatus }

func (w statusWriter) Write(st *client.SolveStatus) {
	if w.ch != nil {
		w.ch <- st
	}
}

func (statusWriter) WriteBuildRef(string, string) {}

func (statusWriter) ValidateLogSource(digest.Digest, any) bool { return true }

func (statusWriter) ClearLogSource(any) {}
