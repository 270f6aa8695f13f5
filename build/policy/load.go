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
	"github.com/sirupsen/logrus"
)

// Inputs say where a build's policy files are.
type Inputs struct {
	// ContextDir is the local build context's directory, against which
	// policy file names resolve; empty for a remote context.
	ContextDir string
	// DockerfileDir and DockerfileName are the local Dockerfile's: the
	// default policy is DockerfileName + ".rego" beside it. An empty
	// DockerfileDir (a Dockerfile in a remote context) has none.
	DockerfileDir  string
	DockerfileName string
	// Configs are the --policy entries, in order.
	Configs []Config
}

// Set is one policy, its files read: each Set is evaluated on its own,
// and a source must pass them all.
type Set struct {
	// Files are the policy's Rego modules.
	Files []buildxpolicy.File
	// Strict and LogLevel are the Config's.
	Strict   bool
	LogLevel *logrus.Level

	contextDir string
}

// CwdPrefix marks a policy file name relative to the current directory
// rather than to the build context.
const CwdPrefix = "cwd://"

// Load reads the policies in: none (nil) when there is no file beside the
// Dockerfile and no Config names one, or when a Config disables them.
func Load(in Inputs) ([]Set, error) {
	var def []file
	if in.DockerfileDir != "" {
		name := in.DockerfileName
		if name == "" {
			name = "Dockerfile"
		}
		f := file{name: filepath.Join(in.DockerfileDir, name+".rego"), optional: true}
		dt, err := os.ReadFile(f.name)
		switch {
		case err == nil:
			f.data = dt
			def = append(def, f)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("failed to read policy file %s: %w", f.name, err)
		}
	}
	if len(def) == 0 && len(in.Configs) == 0 {
		return nil, nil
	}
	sets, err := plan(def, in.Configs)
	if err != nil {
		return nil, err
	}
	var out []Set
	for _, s := range sets {
		loaded := Set{Strict: s.strict, LogLevel: s.logLevel, contextDir: in.ContextDir}
		for _, f := range s.files {
			if f.data == nil {
				dt, err := readPolicyFile(in.ContextDir, f.name)
				if err != nil {
					return nil, err
				}
				f.data = dt
			}
			loaded.Files = append(loaded.Files, buildxpolicy.File{Filename: f.name, Data: f.data})
		}
		if len(loaded.Files) > 0 {
			out = append(out, loaded)
		}
	}
	return out, nil
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

func (s Set) fs() func() (fs.StatFS, func() error, error) {
	return func() (fs.StatFS, func() error, error) {
		return statFS{contextDir: s.contextDir}, func() error { return nil }, nil
	}
}
