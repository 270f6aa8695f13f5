package plugin

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker-build2/docker-build2/plugin/buildflags"

	"github.com/docker/cli/cli/command"
)

// setContext resolves the build context and the Dockerfile, as buildx does:
// PATH, URL or "-" (a tar or a Dockerfile on stdin); -f PATH or -f -.
func (r *request) setContext(dockerCLI command.Cli, contextArg string) error {
	stdin := &lazyStdin{in: dockerCLI.In()}
	switch {
	case contextArg == "-":
		return r.contextFromStdin(stdin)
	case buildflags.IsURL(contextArg):
		return r.contextFromURL(stdin, contextArg)
	}
	return r.contextFromDir(stdin, contextArg)
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
		r.opts.DockerfileName = dockerfile
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
	switch dockerfile := r.raw.dockerfile; dockerfile {
	case "-":
		tmp, err := r.tempDockerfile(stdin.reader())
		if err != nil {
			return err
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = tmp, "Dockerfile"
	case "":
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
	dir, err := os.MkdirTemp("", "docker-build2-dockerfile-")
	if err != nil {
		return "", err
	}
	r.cleanups = append(r.cleanups, func() { _ = os.RemoveAll(dir) })
	dt, err := io.ReadAll(in)
	if err != nil {
		return "", fmt.Errorf("reading Dockerfile from stdin: %w", err)
	}
	if len(bytes.TrimSpace(dt)) == 0 {
		return "", usageErrf("the Dockerfile read from stdin is empty")
	}
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
