package plugin

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

func TestIsArchive(t *testing.T) {
	t.Parallel()
	var realTar bytes.Buffer
	tw := tar.NewWriter(&realTar)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: 13}))
	_, err := tw.Write([]byte("FROM scratch\n"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	ustarHeader := make([]byte, 512)
	copy(ustarHeader[257:], "ustar")
	misplaced := make([]byte, 512)
	copy(misplaced[256:], "ustar")

	for _, tc := range []struct {
		name string
		dt   []byte
		want bool
	}{
		{"tar written by archive/tar", realTar.Bytes(), true},
		{"ustar magic at 257", ustarHeader, true},
		{"ustar magic elsewhere", misplaced, false},
		{"just too short for the tar magic", ustarHeader[:261], false},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, true},
		{"bzip2", []byte("BZh91AY&SY"), true},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00}, true},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, true},
		{"half a gzip magic", []byte{0x1f}, false},
		{"a Dockerfile", []byte("FROM scratch\nCOPY . /\n"), false},
		{"a Dockerfile starting with BZ", []byte("BZ\n"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, isArchive(tc.dt))
		})
	}
}

// TestContextKinds: the positional context and -f are read as buildx
// reads them: a directory first, then a Git or HTTP(S) URL; -f URL is
// downloaded by the builder, whatever the context.
func TestContextKinds(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	// A directory whose name reads as a Git URL is a directory.
	shorthandDir := filepath.Join(t.TempDir(), "github.com", "org", "repo")
	require.NoError(t, os.MkdirAll(shorthandDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(shorthandDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	t.Chdir(filepath.Dir(filepath.Dir(filepath.Dir(shorthandDir))))
	t.Setenv("SSH_AUTH_SOCK", fakeAgent(t)) // for the contexts over SSH
	const dfURL = "https://example.com/files/Dockerfile"

	for _, tc := range []struct {
		name, context, file string
		stdin               []byte
		wantDir, wantURL    string
		wantFileURL         string
		wantName            string
	}{
		{name: "directory", context: dir, wantDir: dir, wantName: "Dockerfile"},
		{name: "directory, -f URL", context: dir, file: dfURL, wantDir: dir, wantFileURL: dfURL},
		{name: "directory named like a Git shorthand", context: "github.com/org/repo", wantDir: "github.com/org/repo", wantName: "Dockerfile"},
		{name: "Git shorthand", context: "github.com/other/repo#v1:sub", wantURL: "github.com/other/repo#v1:sub"},
		{name: "Git shorthand, -f in the repository", context: "github.com/other/repo#v1", file: "build/Dockerfile", wantURL: "github.com/other/repo#v1", wantName: "build/Dockerfile"},
		{name: "scp-style Git", context: "deploy@git.example.com:org/repo.git#main", wantURL: "deploy@git.example.com:org/repo.git#main"},
		{name: "git://", context: "git://127.0.0.1/repo.git#main:dir", wantURL: "git://127.0.0.1/repo.git#main:dir"},
		{name: "https .git", context: "https://example.com/repo.git#main:dir", wantURL: "https://example.com/repo.git#main:dir"},
		{name: "URL context, -f URL", context: "https://example.com/repo.git#main", file: dfURL, wantURL: "https://example.com/repo.git#main", wantFileURL: dfURL},
		{name: "tar on stdin, -f URL", context: "-", file: dfURL, stdin: tarOf(t, "a.txt", "a"), wantFileURL: dfURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dockerCLI := clitest.New(t, clitest.WithIn(bytes.NewReader(tc.stdin)))
			r, err := newRequest(dockerCLI, newEngineProbe(dockerCLI), tc.context, &buildOptions{call: "build", dockerfile: tc.file})
			require.NoError(t, err)
			t.Cleanup(r.cleanup)
			assert.Equal(t, tc.wantDir, r.opts.ContextDir, "ContextDir")
			assert.Equal(t, tc.wantURL, r.opts.ContextURL, "ContextURL")
			assert.Equal(t, tc.wantFileURL, r.dockerfileURL, "dockerfileURL")
			assert.Equal(t, tc.context == "-", r.opts.ContextTar != nil, "ContextTar")
			assert.Equal(t, tc.wantName, r.opts.DockerfileName, "DockerfileName")
			if tc.wantFileURL != "" {
				assert.Empty(t, r.opts.DockerfileDir, "the Dockerfile is downloaded once the builder is open")
			}
		})
	}
}

func TestContextErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, context, file string
		stdin               string
		want                []string
	}{
		{name: "-f URL without a host", context: ".", file: "https:///Dockerfile", want: []string{"-f/--file", `"https:///Dockerfile"`, "not a valid URL"}},
		{name: "-f URL and a Dockerfile on stdin", context: "-", file: "https://example.com/Dockerfile", stdin: "FROM scratch\n", want: []string{"ambiguous Dockerfile source"}},
		{name: "bad Git query", context: "https://example.com/repo.git?nope=1", want: []string{"build context", `unexpected query "nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dockerCLI := clitest.New(t, clitest.WithIn(strings.NewReader(tc.stdin)))
			_, err := newRequest(dockerCLI, newEngineProbe(dockerCLI), tc.context, &buildOptions{call: "build", dockerfile: tc.file})
			requireUsageErr(t, err, tc.want...)
		})
	}
}

// TestGitSSHForwardsAgent: a Git context over SSH gets the agent of
// $SSH_AUTH_SOCK as the default --ssh, as buildx gives it, unless --ssh is
// given; other contexts get none.
func TestGitSSHForwardsAgent(t *testing.T) {
	sock := fakeAgent(t)
	key := filepath.Join(t.TempDir(), "id")
	writeKey(t, key)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))

	sessions := func(t *testing.T, context string, ssh ...string) int {
		t.Helper()
		dockerCLI := clitest.New(t)
		r, err := newRequest(dockerCLI, newEngineProbe(dockerCLI), context, &buildOptions{call: "build", ssh: ssh})
		require.NoError(t, err)
		return len(r.opts.Session)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	base := sessions(t, dir) // registry credentials only
	for _, ctx := range []string{"ssh://git@127.0.0.1:2222/srv/repo.git#main", "git@example.com:org/repo.git"} {
		assert.Equal(t, base+1, sessions(t, ctx), "%s gets the agent", ctx)
		assert.Equal(t, base+1, sessions(t, ctx, "other="+key), "%s with --ssh gets only what --ssh gives", ctx)
	}
	for _, ctx := range []string{"git://example.com/repo.git", "https://example.com/repo.git", "github.com/org/repo"} {
		assert.Equal(t, base, sessions(t, ctx), "%s is not over SSH", ctx)
	}

	t.Setenv("SSH_AUTH_SOCK", "")
	dockerCLI := clitest.New(t)
	_, err := newRequest(dockerCLI, newEngineProbe(dockerCLI), "git@example.com:org/repo.git", &buildOptions{call: "build"})
	requireUsageErr(t, err, `build context "git@example.com:org/repo.git" is a Git repository over SSH`, "SSH_AUTH_SOCK is not set")
	_, err = newRequest(dockerCLI, newEngineProbe(dockerCLI), "git@example.com:org/repo.git", &buildOptions{call: "build", ssh: []string{"default=" + key}})
	require.NoError(t, err, "--ssh stands in for the agent")
}

// fakeAgent is a socket nobody answers on: --ssh checks only that it is
// one.
func fakeAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return sock
}

func tarOf(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}))
	_, err := tw.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	return b.Bytes()
}

func writeKey(t *testing.T, path string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
}
