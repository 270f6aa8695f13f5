package plugin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/moby/buildkit/util/urlutil"
)

// Labels buildx sets from Git with BUILDX_GIT_LABELS.
const (
	labelDockerfile = "com.docker.image.source.entrypoint"
	labelRevision   = "org.opencontainers.image.revision"
	labelSource     = "org.opencontainers.image.source"
)

// setAttests parses --attest, --sbom and --provenance, with buildx's
// default provenance unless $BUILDX_NO_DEFAULT_ATTESTATIONS is true.
func (r *request) setAttests() error {
	noDefault, err := noDefaultAttestations()
	if err != nil {
		return err
	}
	r.opts.Attests, err = buildflags.Attests(r.raw.attests, r.raw.sbom, r.raw.provenance, noDefault)
	return err
}

// setGit records the Git checkout of a local context as buildx does:
// source and revision in the provenance ($BUILDX_GIT_INFO), and as labels
// with the Dockerfile's path ($BUILDX_GIT_LABELS). A context outside Git,
// or no git command, records nothing.
func (r *request) setGit() error {
	info, labels, checkDirty := gitEnv()
	dir := r.opts.ContextDir
	if dir == "" || (!info && !labels) {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil || !mayBeInGit(abs) {
		return nil
	}
	root, err := git(abs, "rev-parse", "--show-toplevel")
	if err != nil {
		if st, serr := os.Stat(filepath.Join(abs, ".git")); serr == nil && st.IsDir() {
			return errors.New("reading the context's Git commit: git rev-parse failed in a directory with .git")
		}
		return nil
	}
	g := build.GitInfo{Revision: gitRevision(abs, checkDirty)}
	if url, err := gitRemoteURL(abs); err == nil {
		g.Source = url
	}
	if labels {
		r.setGitLabels(g, root, abs)
	}
	if info {
		g.Root = root
		r.opts.Git = g
	}
	return nil
}

// gitRevision is the commit checked out in dir, "-dirty" added when
// checkDirty and the work tree has changes; "" when there is none.
func gitRevision(dir string, checkDirty bool) string {
	sha, err := git(dir, "show", "--format=%H", "HEAD", "--quiet", "--")
	if err != nil || sha == "" {
		return ""
	}
	if checkDirty {
		if st, err := git(dir, "status", "--porcelain", "--ignored"); err != nil || st != "" {
			sha += "-dirty"
		}
	}
	return sha
}

// mayBeInGit reports whether dir may be in a Git checkout: a .git (the
// directory, or the file of a worktree or submodule) in it or a parent,
// or $GIT_DIR set. It spares most contexts outside Git a git process
// (~10 ms a build).
func mayBeInGit(dir string) bool {
	if gitDirEnv() {
		return true
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// setGitLabels sets the labels buildx sets from Git; they win over
// --label, as in buildx.
func (r *request) setGitLabels(g build.GitInfo, root, contextDir string) {
	if r.opts.Labels == nil {
		r.opts.Labels = map[string]string{}
	}
	if g.Revision != "" {
		r.opts.Labels[labelRevision] = g.Revision
	}
	if g.Source != "" {
		r.opts.Labels[labelSource] = g.Source
	}
	dockerfile := filepath.Join(contextDir, "Dockerfile")
	if r.opts.DockerfileDir != "" {
		dockerfile = filepath.Join(r.opts.DockerfileDir, r.opts.DockerfileName)
	}
	if abs, err := filepath.Abs(dockerfile); err == nil {
		dockerfile = abs
	}
	if real, err := filepath.EvalSymlinks(filepath.Dir(dockerfile)); err == nil {
		dockerfile = filepath.Join(real, filepath.Base(dockerfile))
	}
	if rel, err := filepath.Rel(root, dockerfile); err == nil && !strings.HasPrefix(rel, "..") {
		r.opts.Labels[labelDockerfile] = rel
	}
}

// gitRemoteURL is the checkout's remote as buildx picks it: the current
// branch's upstream remote, else origin, else upstream; credentials in it
// are redacted.
func gitRemoteURL(dir string) (string, error) {
	remotes := []string{"origin", "upstream"}
	if up, err := git(dir, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"); err == nil {
		if name, _, ok := strings.Cut(up, "/"); ok {
			remotes = append([]string{name}, remotes...)
		}
	}
	for _, name := range remotes {
		if url, err := git(dir, "remote", "get-url", name); err == nil && url != "" {
			return urlutil.RedactCredentials(url), nil
		}
	}
	return "", errors.New("no remote URL found for either origin or upstream")
}

// git runs git in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "log.showSignature=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}
