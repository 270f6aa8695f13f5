package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	buildxpolicy "github.com/docker/buildx/policy"
	"github.com/moby/buildkit/client/llb"
	"github.com/sirupsen/logrus"
)

// Inputs say where a build's policy files are.
type Inputs struct {
	// ContextDir is the local build context's directory, against which
	// policy file names resolve; empty for a remote context.
	ContextDir string
	// ContextURL is a remote context (a Git repository or an HTTP(S)
	// tarball): policy file names resolve in it, read through the
	// builder by Attach.
	ContextURL string
	// DockerfileDir and DockerfileName are the local Dockerfile's: the
	// default policy is DockerfileName + ".rego" beside it. With an empty
	// DockerfileDir, the Dockerfile is in the remote context, and so is
	// its default policy, when it has one.
	DockerfileDir  string
	DockerfileName string
	// Configs are the --policy entries, in order.
	Configs []Config
	// Builtin puts buildx's built-in policy first (BUILDX_DEFAULT_POLICY):
	// it checks the signatures of the images Docker ships (Dockerfile
	// frontends, BuildKit) and lets every other source through to the
	// policies after it. A disabled Config turns it off too.
	Builtin bool
}

// Set is one policy, its files read: each Set is evaluated on its own,
// and a source must pass them all.
type Set struct {
	// Files are the policy's Rego modules. A file of a remote context
	// has no Data until Attach reads it.
	Files []buildxpolicy.File
	// Strict and LogLevel are the Config's.
	Strict   bool
	LogLevel *logrus.Level

	contextDir string
	// builtin is buildx's built-in policy, whose caps are not asked.
	builtin bool
	// context is the remote context's state, optional the names of its
	// files that may be missing.
	context  *llb.State
	optional map[string]bool
}

// CwdPrefix marks a policy file name relative to the current directory
// rather than to the build context.
const CwdPrefix = "cwd://"

// Load reads the policies in: none (nil) when there is no file beside the
// Dockerfile and no Config names one, or when a Config disables them.
// The files of a remote context are left for Attach to read.
func Load(in Inputs) ([]Set, error) {
	var remote *llb.State
	if in.ContextDir == "" {
		remote = contextState(in.ContextURL)
	}
	def, err := defaultFile(in, remote)
	if err != nil {
		return nil, err
	}
	if len(def) == 0 && len(in.Configs) == 0 && !in.Builtin {
		return nil, nil
	}
	disabled, err := isDisabled(in.Configs)
	if disabled || err != nil {
		return nil, err
	}
	var out []Set
	if in.Builtin {
		out = append(out, Set{
			Files:   []buildxpolicy.File{{Filename: buildxpolicy.DefaultPolicyFilename, Data: buildxpolicy.DefaultPolicyData()}},
			builtin: true,
		})
	}
	for _, s := range plan(def, in.Configs) {
		loaded := Set{Strict: s.strict, LogLevel: s.logLevel, contextDir: in.ContextDir, context: remote}
		for _, f := range s.files {
			if err := loaded.add(f); err != nil {
				return nil, err
			}
		}
		if len(loaded.Files) > 0 {
			out = append(out, loaded)
		}
	}
	if len(out) == 0 && StrictRequested(in.Configs) {
		return nil, NoPolicyError{Dockerfile: in.DockerfileName}
	}
	return out, nil
}

// StrictRequested reports whether a Config asks for strict=true.
func StrictRequested(configs []Config) bool {
	for _, c := range configs {
		if c.Strict != nil && *c.Strict {
			return true
		}
	}
	return false
}

// NoPolicyError is a strict build's when no policy is found: strict=true
// requires one, so that a policy file that went missing fails the build
// instead of leaving it unchecked.
type NoPolicyError struct {
	// Dockerfile is the Dockerfile's name, whose .rego was looked for.
	Dockerfile string
}

func (e NoPolicyError) Error() string {
	name := e.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	return fmt.Sprintf("--policy strict=true: no policy found (no %s.rego beside the Dockerfile, no filename= given): add the policy, or drop strict=true", name)
}

// defaultFile is the policy of the Dockerfile, <name>.rego beside it: read
// when it is local (none when it does not exist), left to read when it is
// in a remote context.
func defaultFile(in Inputs, remote *llb.State) ([]file, error) {
	name := in.DockerfileName
	if name == "" {
		name = "Dockerfile"
	}
	switch {
	case in.DockerfileDir == "" && remote != nil:
		return []file{{name: name + ".rego", optional: true, remote: true}}, nil
	case in.DockerfileDir == "":
		return nil, nil
	}
	f := file{name: filepath.Join(in.DockerfileDir, name+".rego"), optional: true}
	dt, err := os.ReadFile(f.name)
	switch {
	case err == nil:
		f.data = dt
		return []file{f}, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	}
	return nil, fmt.Errorf("failed to read policy file %s: %w", f.name, err)
}

// add reads f into the set, or leaves it for Attach when it is a file of
// the set's remote context.
func (s *Set) add(f file) error {
	if f.remote || (f.data == nil && s.context != nil && !strings.HasPrefix(f.name, CwdPrefix)) {
		s.Files = append(s.Files, buildxpolicy.File{Filename: f.name})
		if f.optional {
			if s.optional == nil {
				s.optional = map[string]bool{}
			}
			s.optional[f.name] = true
		}
		return nil
	}
	if f.data == nil {
		dt, err := readPolicyFile(s.contextDir, f.name)
		if err != nil {
			return err
		}
		f.data = dt
	}
	s.Files = append(s.Files, buildxpolicy.File{Filename: f.name, Data: f.data})
	return nil
}

// readPolicyFile reads a policy file a Config names.
func readPolicyFile(contextDir, name string) ([]byte, error) {
	dir, rel, err := resolve(contextDir, name)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read policy file %s: %w", name, err)
	}
	defer func() { _ = root.Close() }()
	dt, err := fs.ReadFile(root.FS(), rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy file %s not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read policy file %s: %w", name, err)
	}
	return dt, nil
}

// resolve finds the directory name is in and its path there: the current
// directory for a cwd:// name, else the build context's directory. Reads
// go through os.Root, so a name cannot leave its directory.
func resolve(contextDir, name string) (string, string, error) {
	if name == "" {
		return "", "", errors.New("policy filename is empty")
	}
	if rel, ok := strings.CutPrefix(name, CwdPrefix); ok {
		if rel == "" {
			return "", "", fmt.Errorf("invalid policy filename %q", name)
		}
		return ".", path.Clean(filepath.ToSlash(rel)), nil
	}
	if contextDir == "" {
		return "", "", fmt.Errorf("policy file %s: the build context is not a local directory, so its files cannot be read: name a local file as %s%s", name, CwdPrefix, name)
	}
	if filepath.IsAbs(name) {
		if rel, err := filepath.Rel(contextDir, name); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			name = rel
		}
	}
	return contextDir, path.Clean(filepath.ToSlash(name)), nil
}

// statFS is the file system policies read further files from (Rego
// imports, data files): names resolve as policy file names do, each read
// through an os.Root of its directory.
type statFS struct{ contextDir string }

func (s statFS) root(name string) (*os.Root, string, error) {
	dir, rel, err := resolve(s.contextDir, name)
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(dir)
	return root, rel, err
}

func (s statFS) Open(name string) (fs.File, error) {
	root, rel, err := s.root(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }()
	return root.Open(rel)
}

func (s statFS) Stat(name string) (fs.FileInfo, error) {
	root, rel, err := s.root(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }()
	return root.Stat(rel)
}

func (s Set) fs(remote *remoteFS) func() (fs.StatFS, func() error, error) {
	return func() (fs.StatFS, func() error, error) {
		if remote != nil {
			return remote, func() error { return nil }, nil
		}
		return statFS{contextDir: s.contextDir}, func() error { return nil }, nil
	}
}
