package buildflags

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"github.com/moby/buildkit/util/gitutil"
)

// IsHTTPURL reports whether s is an http:// or https:// URL, as buildx
// tells a Dockerfile given by URL (-f) from a path.
func IsHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// IsRemoteURL reports whether s names a remote context, the main one or a
// named one, as buildx and BuildKit's Dockerfile frontend read it: an
// HTTP(S) URL, or a Git repository: github.com/ORG/REPO, USER@HOST:PATH,
// ssh://, git://, or an http(s):// URL whose path ends in .git, each with
// an optional #REF[:SUBDIR] or ?ref=…&subdir=… query.
func IsRemoteURL(s string) bool {
	if IsHTTPURL(s) {
		return true
	}
	_, ok, _ := dfgitutil.ParseGitRef(s)
	return ok
}

// IsGitURL reports whether s names a Git repository, as IsRemoteURL reads
// it.
func IsGitURL(s string) bool {
	_, ok, _ := dfgitutil.ParseGitRef(s)
	return ok
}

// IsGitSSH reports whether s is a Git repository reached over SSH
// (ssh:// or USER@HOST:PATH), whose clone needs an SSH agent.
func IsGitSSH(s string) bool {
	u, err := gitutil.ParseURL(s)
	return err == nil && u.Scheme == gitutil.SSHProtocol
}

// CheckGitURL checks the query of a Git URL (?ref=…&subdir=…), which
// BuildKit would reject only once the build runs; other URLs pass.
func CheckGitURL(s string) error {
	if _, ok, err := dfgitutil.ParseGitRef(s); ok && err != nil {
		return fmt.Errorf("git URL %q: %w: use REPO#REF[:SUBDIR] or REPO?ref=REF&subdir=DIR", s, err)
	}
	return nil
}
