package plugin

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"golang.org/x/sys/unix"
)

// request is a validated build: flags turned into build.Options plus what
// must happen around the solve (temporary files, output renames, loading).
type request struct {
	raw       *buildOptions
	opts      build.Options
	progress  progress.Mode
	cacheOnly bool
	loaded    *engineLoad
	// renames maps temporary output files to their final names.
	renames  map[string]string
	cleanups []func()
}

func usageErr(format string, args ...any) error {
	return cli.StatusError{StatusCode: 125, Status: "ERROR: " + fmt.Sprintf(format, args...)}
}

func (r *request) cleanup() {
	for tmp := range r.renames {
		_ = os.Remove(tmp)
	}
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func (r *request) commitOutputs() error {
	for tmp, final := range r.renames {
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		delete(r.renames, tmp)
	}
	return nil
}

// newRequest validates every flag before any I/O that matters.
func newRequest(ctx context.Context, dockerCLI command.Cli, engine *engineProbe, contextArg string, o *buildOptions) (_ *request, retErr error) {
	r := &request{raw: o, renames: map[string]string{}}
	defer func() {
		if retErr != nil {
			r.cleanup()
		}
	}()
	mode, err := progress.ParseMode(o.progress)
	if err != nil {
		return nil, usageErr("--progress: %v", err)
	}
	if o.quiet {
		mode = progress.Quiet
	}
	r.progress = mode

	if r.opts.BuildArgs, err = parseBuildArgs(o.buildArgs, os.LookupEnv); err != nil {
		return nil, usageErr("%v", err)
	}
	if r.opts.Labels, err = parseLabels(o.labels); err != nil {
		return nil, usageErr("%v", err)
	}
	if r.opts.ExtraHosts, err = parseExtraHosts(o.addHosts); err != nil {
		return nil, usageErr("%v", err)
	}
	switch o.network {
	case "", "default", "none", "host":
		r.opts.NetworkMode = o.network
	default:
		return nil, usageErr("--network %q is not supported: use default, none or host", o.network)
	}
	for _, t := range o.tags {
		if _, err := reference.ParseNormalizedNamed(t); err != nil {
			return nil, usageErr("--tag %q: %v", t, err)
		}
	}
	for _, p := range o.platforms {
		for _, s := range strings.Split(p, ",") {
			if _, err := platforms.Parse(strings.TrimSpace(s)); err != nil {
				return nil, usageErr("--platform %q: %v", s, err)
			}
			r.opts.Platforms = append(r.opts.Platforms, strings.TrimSpace(s))
		}
	}
	if r.opts.CacheImports, err = parseCacheSpecs("--cache-from", o.cacheFrom); err != nil {
		return nil, usageErr("%v", err)
	}
	if r.opts.CacheExports, err = parseCacheSpecs("--cache-to", o.cacheTo); err != nil {
		return nil, usageErr("%v", err)
	}
	for _, f := range []struct{ flag, path string }{{"--iidfile", o.iidFile}, {"--metadata-file", o.metadataFile}} {
		if err := checkWritableFile(f.flag, f.path); err != nil {
			return nil, err
		}
	}
	r.opts.Target = o.target
	r.opts.NoCache = o.noCache
	r.opts.NoCacheFilter = o.noCacheFilter
	r.opts.Pull = o.pull
	r.opts.Allow = o.allow

	outs, err := parseOutputs(o.outputs)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if err := r.setExports(ctx, dockerCLI, engine, outs); err != nil {
		return nil, err
	}
	if err := r.setSessions(); err != nil {
		return nil, err
	}
	if err := r.setContext(dockerCLI, contextArg); err != nil {
		return nil, err
	}
	return r, nil
}

func checkWritableFile(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %q: directory %q does not exist", flag, path, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %q: %q is not a directory", flag, path, dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s %q: directory %q is not writable", flag, path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %q: is a directory", flag, path)
	}
	return nil
}

// setContext resolves the build context and the Dockerfile, as buildx does:
// PATH, URL or "-" (a tar or a Dockerfile on stdin); -f PATH or -f -.
func (r *request) setContext(dockerCLI command.Cli, contextArg string) error {
	o := r.raw
	var stdin *bufio.Reader
	readStdin := func() *bufio.Reader {
		if stdin == nil {
			stdin = bufio.NewReaderSize(dockerCLI.In(), 64<<10)
		}
		return stdin
	}
	switch {
	case contextArg == "-":
		if o.dockerfile == "-" {
			return usageErr("invalid argument: can't use stdin for both build context and dockerfile")
		}
		in := readStdin()
		magic, _ := in.Peek(512)
		if isArchive(magic) {
			r.opts.ContextTar = io.NopCloser(in)
			if o.dockerfile != "" {
				r.opts.DockerfileName = o.dockerfile
			}
			return nil
		}
		if o.dockerfile != "" {
			return usageErr("ambiguous Dockerfile source: both stdin and -f/--file name a Dockerfile")
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
		r.opts.DockerfileDir = dir
		r.opts.DockerfileName = "Dockerfile"
		return nil
	case isRemoteURL(contextArg):
		r.opts.ContextURL = contextArg
		if o.dockerfile == "-" {
			dir, err := r.tempDockerfile(readStdin())
			if err != nil {
				return err
			}
			r.opts.DockerfileDir, r.opts.DockerfileName = dir, "Dockerfile"
		} else if o.dockerfile != "" {
			r.opts.DockerfileName = o.dockerfile
		}
		return nil
	}

	st, err := os.Stat(contextArg)
	if err != nil {
		return fmt.Errorf("unable to prepare context: path %q not found", contextArg)
	}
	if !st.IsDir() {
		return fmt.Errorf("unable to prepare context: path %q is not a directory: give the directory that holds the files to build", contextArg)
	}
	r.opts.ContextDir = contextArg
	switch o.dockerfile {
	case "-":
		dir, err := r.tempDockerfile(readStdin())
		if err != nil {
			return err
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = dir, "Dockerfile"
	case "":
		name := "Dockerfile"
		if _, err := os.Stat(filepath.Join(contextArg, name)); err != nil {
			if _, err2 := os.Stat(filepath.Join(contextArg, "dockerfile")); err2 == nil {
				name = "dockerfile"
			} else {
				return fmt.Errorf("unable to prepare context: no Dockerfile in %q: add one, or name it with -f/--file", contextArg)
			}
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = contextArg, name
	default:
		st, err := os.Stat(o.dockerfile)
		if err != nil {
			return fmt.Errorf("unable to prepare context: Dockerfile %q (-f/--file) not found", o.dockerfile)
		}
		if st.IsDir() {
			return fmt.Errorf("unable to prepare context: Dockerfile %q (-f/--file) is a directory, not a file", o.dockerfile)
		}
		r.opts.DockerfileDir, r.opts.DockerfileName = filepath.Dir(o.dockerfile), filepath.Base(o.dockerfile)
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
		return "", usageErr("the Dockerfile read from stdin is empty")
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dt, 0o600); err != nil {
		return "", err
	}
	return dir, nil
}

func isRemoteURL(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "ssh://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
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

func parseExtraHosts(specs []string) ([]string, error) {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		host, ip, ok := strings.Cut(s, "=")
		if !ok {
			host, ip, ok = strings.Cut(s, ":")
		}
		if !ok || host == "" || ip == "" {
			return nil, fmt.Errorf("--add-host %q: use the format host:ip", s)
		}
		if ip != "host-gateway" && net.ParseIP(strings.Trim(ip, "[]")) == nil {
			return nil, fmt.Errorf("--add-host %q: %q is not an IP address", s, ip)
		}
		out = append(out, host+"="+strings.Trim(ip, "[]"))
	}
	return out, nil
}
