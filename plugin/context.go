package plugin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker-build2/docker-build2/sshforward"

	"github.com/docker/cli/cli/command"
)

// setContext resolves the build context and the Dockerfile, as buildx does:
// "-" (a tar or a Dockerfile on stdin), a local directory, else a URL (Git
// or HTTP(S)); -f PATH, -f - or -f URL. A Git URL over SSH gets the SSH
// agent forwarded unless --ssh is given.
func (r *request) setContext(dockerCLI command.Cli, contextArg string) error {
	if buildflags.IsHTTPURL(r.raw.dockerfile) {
		if err := r.setDockerfileURL(r.raw.dockerfile); err != nil {
			return err
		}
	}
	stdin := &lazyStdin{in: dockerCLI.In()}
	switch {
	case contextArg == "-":
		return r.contextFromStdin(stdin)
	case isDir(contextArg):
		return r.contextFromDir(stdin, contextArg)
	case buildflags.IsRemoteURL(contextArg):
		if err := buildflags.CheckGitURL(contextArg); err != nil {
			return usageErrf("build context: %w", err)
		}
		if err := r.contextFromURL(stdin, contextArg); err != nil {
			return err
		}
		return r.forwardSSHAgent(contextArg)
	}
	return r.contextFromDir(stdin, contextArg)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// setDockerfileURL takes -f URL: the builder downloads the Dockerfile
// before the build (build.FetchDockerfile), as buildx does.
func (r *request) setDockerfileURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return usageErrf("-f/--file %q: not a valid URL: give http(s)://HOST/PATH of a Dockerfile, or a local path", s)
	}
	r.dockerfileURL = s
	return nil
}

// forwardSSHAgent forwards the SSH agent to the clone of a Git context
// over SSH when no --ssh is given, as buildx does.
func (r *request) forwardSSHAgent(contextArg string) error {
	if len(r.raw.ssh) > 0 || !buildflags.IsGitSSH(contextArg) {
		return nil
	}
	specs, err := sshforward.ParseSpecs([]string{sshforward.DefaultID}, os.LookupEnv)
	if err != nil {
		return usageErrf("build context %q is a Git repository over SSH, which is cloned through your SSH agent: %w", contextArg, err)
	}
	a, err := specs.Attachable()
	if err != nil {
		return usageErrf("build context %q: %w", contextArg, err)
	}
	r.opts.Session = append(r.opts.Session, a)
	return nil
}

// lazyStdin buffers stdin on first use, so that the tar or Dockerfile it
// holds can be peeked at.
type lazyStdin struct {
	in  io.Reader
	buf *bufio.Reader
}

func (l *lazyStdin) reader() *bufio.Reader {
	if l.buf == nil {
		l.buf = bufio.NewReaderSize(l.in, 64<<10)
	}
	return l.buf
}

// contextFromStdin: "-" is a tar stream (the context, with the Dockerfile
// in it) or a Dockerfile (with an empty context).
func (r *request) contextFromStdin(stdin *lazyStdin) error {
	dockerfile := r.raw.dockerfile
	if dockerfile == "-" {
		return usageErrf("invalid argument: can't use stdin for both build context and dockerfile")
	}
	in := stdin.reader()
	magic, _ := in.Peek(512)
	if isArchive(magic) {
		r.opts.ContextTar = io.NopCloser(in)
		if r.dockerfileURL == "" {
			r.opts.DockerfileName = dockerfile
		}
		return nil
	}
	if dockerfile != "" {
		return usageErrf("ambiguous Dockerfile source: both stdin and -f/--file name a Dockerfile")
	}
	dir, err := r.tempDockerfile(in)
	if err != nil {
		return err
	}
	empty, err := os.MkdirTemp("", "docker-build2-empty-")
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, func() { _ = os.RemoveAll(empty) })
	r.opts.ContextDir = empty
	r.opts.DockerfileDir, r.opts.DockerfileName = dir, "Dockerfile"
	return nil
}

// contextFromURL: a Git repository or HTTP(S) tarball the builder fetches;
// -f names the Dockerfile in it, or "-" one on stdin.
func (r *request) contextFromURL(stdin *lazyStdin, url string) error {
	r.opts.ContextURL = url
	if r.dockerfileURL != "" {
		return nil
	}
	if r.raw.dockerfile != "-" {
		r.opts.DockerfileName = r.raw.dockerfile
		return nil
	}
	dir, err := r.tempDockerfile(stdin.reader())
	if err != nil {
		return err
	}
	r.opts.DockerfileDir, r.opts.DockerfileName = dir, "Dockerfile"
	return nil
}

// contextFromDir: a local directory, with its Dockerfile (or dockerfile)
// unless -f names another one, or "-" one on stdin.
func (r *request) contextFromDir(stdin *lazyStdin, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("unable to prepare context: path %q not found", dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("unable to prepare context: path %q is not a directory: give the directory that holds the files to build", dir)
	}
	r.opts.ContextDir = dir
	switch dockerfile := r.raw.dockerfile; {
	case r.dockerfileURL != "":
	case dockerfile == "-":
		tmp, err := r.tempDockerfile(stdin.reader())
		if err != nil {
			return err
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = tmp, "Dockerfile"
	case dockerfile == "":
		name := "Dockerfile"
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			if _, err2 := os.Stat(filepath.Join(dir, "dockerfile")); err2 != nil {
				return fmt.Errorf("unable to prepare context: no Dockerfile in %q: add one, or name it with -f/--file", dir)
			}
			name = "dockerfile"
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = dir, name
	default:
		st, err := os.Stat(dockerfile)
		if err != nil {
			return usageErrf("unable to prepare context: Dockerfile %q (-f/--file) not found", dockerfile)
		}
		if st.IsDir() {
			return usageErrf("unable to prepare context: Dockerfile %q (-f/--file) is a directory, not a file", dockerfile)
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = filepath.Dir(dockerfile), filepath.Base(dockerfile)
	}
	return nil
}

func (r *request) tempDockerfile(in io.Reader) (string, error) {
	dt, err := io.ReadAll(in)
	if err != nil {
		return "", fmt.Errorf("reading Dockerfile from stdin: %w", err)
	}
	if len(bytes.TrimSpace(dt)) == 0 {
		return "", usageErrf("the Dockerfile read from stdin is empty")
	}
	return r.writeTempDockerfile(dt)
}

// writeTempDockerfile writes dt as the Dockerfile of a temporary
// directory, removed by cleanup.
func (r *request) writeTempDockerfile(dt []byte) (string, error) {
	dir, err := os.MkdirTemp("", "docker-build2-dockerfile-")
	if err != nil {
		return "", err
	}
	r.cleanups = append(r.cleanups, func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dt, 0o600); err != nil {
		return "", err
	}
	return dir, nil
}

// isArchive reports whether dt starts like a tar stream, plain or compressed.
func isArchive(dt []byte) bool {
	for _, m := range [][]byte{
		{0x1f, 0x8b},                     // gzip
		[]byte("BZh"),                    // bzip2
		{0xfd, '7', 'z', 'X', 'Z', 0x00}, // xz
		{0x28, 0xb5, 0x2f, 0xfd},         // zstd
	} {
		if bytes.HasPrefix(dt, m) {
			return true
		}
	}
	return len(dt) >= 262 && bytes.Equal(dt[257:262], []byte("ustar"))
}
