package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker-build2/docker-build2/secrets"
	"github.com/docker-build2/docker-build2/sshforward"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/session/auth/authprovider"
	"golang.org/x/sys/unix"
)

// request is a validated build: the flags turned into build.Options, the
// progress mode, and the temporary files made for it (a Dockerfile read
// from stdin or downloaded).
type request struct {
	raw      *buildOptions
	opts     build.Options
	progress progress.Mode
	call     buildflags.Call
	// dockerfileURL is -f URL: the Dockerfile the builder downloads.
	dockerfileURL string
	cleanups      []func()
}

func (r *request) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// newRequest checks every flag before any I/O that matters: a bad value or
// combination is a usage error (exit 125) naming the flag.
func newRequest(dockerCLI command.Cli, engine *engineProbe, contextArg string, o *buildOptions) (_ *request, retErr error) {
	r := &request{raw: o}
	defer func() {
		if retErr != nil {
			r.cleanup()
		}
	}()
	mode, err := progress.ParseMode(o.progress)
	if err != nil {
		return nil, usageErrf("--progress: %w", err)
	}
	if o.quiet {
		mode = progress.Quiet
	}
	r.progress = mode
	if err := r.setValues(); err != nil {
		return nil, usageErr(err)
	}
	if err := r.setRunOptions(); err != nil {
		return nil, usageErr(err)
	}
	r.setDefaultArgs(dockerCLI)
	if err := r.setOutputs(dockerCLI, engine); err != nil {
		return nil, err
	}
	if err := r.setAttests(); err != nil {
		return nil, usageErr(err)
	}
	if err := r.setAnnotations(); err != nil {
		return nil, usageErr(err)
	}
	if err := r.setSessions(dockerCLI); err != nil {
		return nil, err
	}
	if err := r.setPolicy(dockerCLI); err != nil {
		return nil, usageErr(err)
	}
	if err := r.setContext(dockerCLI, contextArg); err != nil {
		return nil, err
	}
	if err := r.setGit(); err != nil {
		return nil, err
	}
	return r, nil
}

// setValues parses the flags whose values need no file system.
func (r *request) setValues() error {
	o, opts := r.raw, &r.opts
	var err error
	callSpec := o.call
	if o.check {
		callSpec = "check"
	}
	if r.call, err = buildflags.ParseCall(callSpec); err != nil {
		return err
	}
	if r.call.Name != "build" {
		opts.Call = r.call.Name
	}
	if opts.BuildArgs, err = buildflags.BuildArgs(o.buildArgs, os.LookupEnv); err != nil {
		return err
	}
	if opts.Labels, err = buildflags.Labels(o.labels); err != nil {
		return err
	}
	if opts.ExtraHosts, err = buildflags.ExtraHosts(o.addHosts); err != nil {
		return err
	}
	if opts.Contexts, err = buildContexts(o.buildContexts); err != nil {
		return err
	}
	if opts.NetworkMode, err = buildflags.Network(o.network); err != nil {
		return err
	}
	if opts.Tags, err = buildflags.Tags(o.tags); err != nil {
		return err
	}
	if opts.Platforms, err = buildflags.Platforms("--platform", o.platforms); err != nil {
		return err
	}
	if opts.CacheImports, err = buildflags.Caches("--cache-from", o.cacheFrom); err != nil {
		return err
	}
	if opts.CacheExports, err = buildflags.Caches("--cache-to", o.cacheTo); err != nil {
		return err
	}
	// gha's token and URL, s3's credentials: from the environment, as
	// buildx fills them in.
	env := cacheEnv()
	opts.CacheImports, opts.CacheExports = env.Fill(opts.CacheImports), env.Fill(opts.CacheExports)
	for _, f := range []struct{ flag, path string }{{"--iidfile", o.iidFile}, {"--metadata-file", o.metadataFile}} {
		if err := checkWritableFile(f.flag, f.path); err != nil {
			return err
		}
	}
	opts.IIDFile, opts.MetadataFile = o.iidFile, o.metadataFile
	if o.metadataFile != "" {
		opts.MetadataProvenance = metadataProvenance()
	}
	opts.Target = o.target
	opts.NoCache = o.noCache
	opts.NoCacheFilter = o.noCacheFilter
	opts.Pull = o.pull
	opts.Allow = o.allow
	return nil
}

// setOutputs turns -o, --push and --load into outputs and checks where
// they go; with none, the image goes to the Docker engine when one answers.
func (r *request) setOutputs(dockerCLI command.Cli, engine *engineProbe) error {
	o := r.raw
	outs, err := buildflags.Outputs(o.outputs)
	if err != nil {
		return usageErr(err)
	}
	if o.push {
		if len(o.tags) == 0 {
			return usageErrf("--push needs at least one -t/--tag naming the image to push")
		}
		outs = withPush(outs)
	}
	if o.load && !slices.ContainsFunc(outs, func(out build.Output) bool { return out.Type == "docker" && out.Dest == "" }) {
		outs = append(outs, build.Output{Type: "docker", Attrs: map[string]string{}})
	}
	stdout := false
	for _, out := range outs {
		if err := checkOutput(dockerCLI, out, len(o.tags) > 0, &stdout); err != nil {
			return usageErr(err)
		}
	}
	r.opts.Outputs = outs
	r.opts.Stdout = dockerCLI.Out()
	r.opts.Engine = engine
	return nil
}

// withPush is --push, as buildx has it: the image outputs given push, or a
// registry output when there is none.
func withPush(outs []build.Output) []build.Output {
	pushed := false
	for i, out := range outs {
		switch out.Type {
		case "image":
			outs[i].Attrs["push"] = "true"
			pushed = true
		case "registry":
			pushed = true
		}
	}
	if !pushed {
		outs = append(outs, build.Output{Type: "registry", Attrs: map[string]string{}})
	}
	return outs
}

// checkOutput checks what an output needs: a name to push, a place for a
// file, a stdout that is not a terminal and not taken.
func checkOutput(dockerCLI command.Cli, out build.Output, tagged bool, stdoutUsed *bool) error {
	switch out.Type {
	case "registry":
		if out.Attrs["name"] == "" && !tagged {
			return fmt.Errorf("--output type=registry needs name=REF or -t/--tag")
		}
	case "image":
		if out.Attrs["push"] == "true" && out.Attrs["name"] == "" && !tagged {
			return fmt.Errorf("--output type=image,push=true needs name=REF or -t/--tag")
		}
	case "tar", "oci", "docker":
		switch out.Dest {
		case "":
		case "-":
			if *stdoutUsed {
				return fmt.Errorf("--output: only one output can go to stdout (dest=-)")
			}
			*stdoutUsed = true
			if dockerCLI.Out().IsTerminal() {
				return fmt.Errorf("--output type=%s,dest=-: refusing to write a tar to the terminal: redirect stdout or give dest=FILE", out.Type)
			}
		default:
			return checkFileDest(out)
		}
	}
	return nil
}

// checkFileDest checks that a file output's directory exists and that the
// destination is not a directory.
func checkFileDest(out build.Output) error {
	dir := filepath.Dir(out.Dest)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--output type=%s,dest=%s: directory %q does not exist", out.Type, out.Dest, dir)
	}
	if st, err := os.Stat(out.Dest); err == nil && st.IsDir() {
		return fmt.Errorf("--output type=%s,dest=%s: is a directory; type=%s writes a file", out.Type, out.Dest, out.Type)
	}
	return nil
}

// checkWritableFile checks that a file flag names a file that can be
// written.
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

// setSessions adds the registry credentials of the docker config, and
// validates --secret and --ssh and adds their providers.
func (r *request) setSessions(dockerCLI command.Cli) error {
	r.opts.Session = append(r.opts.Session, authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(dockerCLI.ConfigFile()),
	}))
	if len(r.raw.secrets) > 0 {
		specs, err := secrets.ParseSpecs(r.raw.secrets, os.LookupEnv)
		if err != nil {
			return usageErr(err)
		}
		r.opts.Session = append(r.opts.Session, specs.Attachable(os.LookupEnv))
		// A remote daemon's build history would keep what steps print.
		r.opts.NoHistory = true
	}
	if len(r.raw.ssh) > 0 {
		specs, err := sshforward.ParseSpecs(r.raw.ssh, os.LookupEnv)
		if err != nil {
			return usageErr(err)
		}
		a, err := specs.Attachable()
		if err != nil {
			return usageErr(err)
		}
		r.opts.Session = append(r.opts.Session, a)
	}
	return nil
}

// buildContexts parses --build-context and checks the local directories
// and OCI layouts it names.
func buildContexts(specs []string) (map[string]build.NamedContext, error) {
	contexts, err := buildflags.BuildContexts(specs)
	if err != nil {
		return nil, err
	}
	for name, c := range contexts {
		switch c.Kind {
		case build.ContextLocal:
			if st, err := os.Stat(c.Value); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("--build-context %s=%s: no such directory: name a directory, docker-image://REF, oci-layout://PATH or a URL", name, c.Value)
			}
		case build.ContextOCILayout:
			if _, err := os.Stat(filepath.Join(c.Value, "index.json")); err != nil {
				return nil, fmt.Errorf("--build-context %s=oci-layout://%s: no OCI layout there (no index.json)", name, c.Value)
			}
		}
	}
	return contexts, nil
}
