package buildflags

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsRemoteURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s             string
		remote, isSSH bool
	}{
		{s: "github.com/org/repo", remote: true},
		{s: "github.com/org/repo#v1.2:docs", remote: true},
		{s: "git@github.com:org/repo.git", remote: true, isSSH: true},
		{s: "git@github.com:org/repo.git#main:sub/dir", remote: true, isSSH: true},
		{s: "deploy@git.example.com:repo", remote: true, isSSH: true},
		{s: "ssh://git@127.0.0.1:2222/srv/repo.git#main", remote: true, isSSH: true},
		{s: "SSH://host/repo", remote: true, isSSH: true},
		{s: "git://127.0.0.1/repo.git#main", remote: true},
		{s: "https://example.com/org/repo.git#main:dir", remote: true},
		{s: "http://127.0.0.1:8080/repo.git?ref=main&subdir=x", remote: true},
		{s: "https://example.com/app.tar.gz", remote: true},
		{s: "http://example.com/Dockerfile", remote: true},
		{s: ".", remote: false},
		{s: "./github.com/org/repo", remote: false},
		{s: "dir/sub", remote: false},
		{s: "gitlab.com/org/repo", remote: false},
		{s: "host:path", remote: false},
		{s: "@host:path", remote: false},
		{s: "cwd://github.com/org/repo", remote: false},
		{s: "docker-image://alpine", remote: false},
		{s: "oci-layout://./layout", remote: false},
		{s: "ftp://example.com/repo.git", remote: false},
	} {
		t.Run(tc.s, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.remote, IsRemoteURL(tc.s), "IsRemoteURL")
			assert.Equal(t, tc.isSSH, IsGitSSH(tc.s), "IsGitSSH")
		})
	}
}

func TestIsHTTPURL(t *testing.T) {
	t.Parallel()
	assert.True(t, IsHTTPURL("https://example.com/Dockerfile"))
	assert.True(t, IsHTTPURL("http://127.0.0.1:1/x"))
	assert.False(t, IsHTTPURL("Dockerfile"))
	assert.False(t, IsHTTPURL("./https://x"))
	assert.False(t, IsHTTPURL("git://example.com/repo.git"))
}

func TestCheckGitURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"github.com/org/repo#main",
		"https://example.com/repo.git?ref=main&subdir=sub",
		"https://example.com/app.tar.gz?token=x",
		"./dir",
	} {
		require.NoError(t, CheckGitURL(ok), ok)
	}
	for s, want := range map[string]string{
		"https://example.com/repo.git?nope=1":        `unexpected query "nope"`,
		"git@host:repo.git?ref=a&branch=b":           "conflicts",
		"ssh://host/repo.git?keep-git-dir=sometimes": "keep-git-dir",
	} {
		err := CheckGitURL(s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), want, s)
		assert.Contains(t, err.Error(), s, "the error names the URL")
	}
}
