package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker-build2/docker-build2/build/bake"
	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/docker-build2/docker-build2/progress"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/buildkit/client"
	"github.com/spf13/cobra"
)

// bakeOptions holds the raw flag values of the bake command.
type bakeOptions struct {
	files        []string
	overrides    []string
	vars         []string
	load         bool
	push         bool
	noCache      bool
	pull         bool
	print        bool
	list         string
	metadataFile string
	progress     string
	call         string
	check        bool
	allow        []string
	sbom         string
	provenance   string
	policies     []string
	state        stateOptions
	remote       remoteOptions
}

func newBakeCommand(dockerCLI command.Cli) *cobra.Command {
	o := &bakeOptions{}
	cmd := &cobra.Command{
		Use:     "bake [OPTIONS] [TARGET...]",
		Aliases: []string{"f"},
		Short:   "Build from a file",
		Long: `Build the targets of a definition file (docker-bake.hcl, docker-bake.json,
compose.yaml, …) at once, as docker buildx bake does; without TARGET, the
group "default".`,
	}
	cmd.RunE = withSignals(func(ctx context.Context, args []string) error {
		return runBake(ctx, dockerCLI, args, o)
	})
	flags := cmd.Flags()
	flags.StringArrayVarP(&o.files, "file", "f", nil, "Build definition file")
	flags.BoolVar(&o.load, "load", false, `Shorthand for "--set=*.output=type=docker". Conditional.`)
	flags.BoolVar(&o.push, "push", false, `Shorthand for "--set=*.output=type=registry". Conditional.`)
	flags.StringVar(&o.sbom, "sbom", "", `Shorthand for "--set=*.attest=type=sbom"`)
	flags.StringVar(&o.provenance, "provenance", "", `Shorthand for "--set=*.attest=type=provenance"`)
	flags.StringArrayVar(&o.overrides, "set", nil, `Override target value (e.g., "targetpattern.key=value")`)
	flags.StringArrayVar(&o.policies, "policy", nil, `Global policy evaluation options (format: "[disabled=true|false][,strict=true|false][,log-level=level]")`)
	flags.StringArrayVar(&o.vars, "var", nil, `Set a variable value (e.g., "name=value")`)
	flags.StringVar(&o.call, "call", "build", `Set method for evaluating build ("check", "outline", "targets")`)
	flags.BoolVar(&o.check, "check", false, `Shorthand for "--call=check"`)
	flags.StringArrayVar(&o.allow, "allow", nil, "Allow build to access specified resources")
	flags.StringVar(&o.metadataFile, "metadata-file", "", "Write build result metadata to a file")
	flags.BoolVar(&o.noCache, "no-cache", false, "Do not use cache when building the image")
	flags.BoolVar(&o.print, "print", false, "Print the options without building")
	flags.StringVar(&o.list, "list", "", `List targets or variables (e.g., "targets", "variables", "type=targets,format=json")`)
	flags.StringVar(&o.progress, "progress", defaultProgress(), `Set type of progress output ("auto", "plain", "tty", "rawjson", "quiet"); $BUILDKIT_PROGRESS sets the default`)
	flags.BoolVar(&o.pull, "pull", false, "Always attempt to pull all referenced images")
	addStateFlags(flags, &o.state)
	flags.StringVar(&o.remote.builder, "builder", defaultBuilder(), "Build on a named builder or BuildKit address instead of the embedded one; $BUILDX_BUILDER, else $BUILDKIT_HOST, sets the default")
	return cmd
}

func runBake(ctx context.Context, dockerCLI command.Cli, args []string, o *bakeOptions) error {
	mode, callSpec, call, err := o.parse()
	if err != nil {
		return err
	}
	daemonCfg, err := o.state.loadDaemon()
	if err != nil {
		return err
	}
	s := &bakeSession{dockerCLI: dockerCLI, o: o, daemonCfg: daemonCfg, mode: mode}
	defer func() { _, _ = s.close() }()
	// A remote definition (a Git repository or tarball) is the first
	// argument, as with buildx; the builder fetches it.
	remoteURL, targets := "", args
	if len(args) > 0 && buildflags.IsRemoteURL(args[0]) {
		remoteURL, targets = args[0], args[1:]
	}
	opts, err := s.definitionOptions(ctx, remoteURL, targets)
	if err != nil {
		return err
	}
	if o.list != "" {
		_, _ = s.close()
		return bake.List(dockerCLI.Out(), opts, o.list)
	}
	def, err := bake.Load(opts)
	if err != nil {
		return err
	}
	if o.print {
		_, _ = s.close()
		return def.Print(dockerCLI.Out())
	}
	jobs, specs, cleanup, err := bakeJobs(dockerCLI, newEngineProbe(dockerCLI), def, o, mode, callSpec, call, remoteURL)
	defer cleanup()
	if err != nil {
		return err
	}
	return s.run(ctx, jobs, specs, call)
}

// parse checks the flags that need no definition.
func (o *bakeOptions) parse() (progress.Mode, string, buildflags.Call, error) {
	mode, err := progress.ParseMode(o.progress)
	if err != nil {
		return mode, "", buildflags.Call{}, usageErrf("--progress: %w", err)
	}
	callSpec := o.call
	if o.check {
		callSpec = "check"
	}
	call, err := buildflags.ParseCall(callSpec)
	if err != nil {
		return mode, "", call, usageErr(err)
	}
	if err := checkWritableFile("--metadata-file", o.metadataFile); err != nil {
		return mode, "", call, usageErr(err)
	}
	// As buildx: shorthands for --set *.attest=…, after the --set given.
	if o.sbom != "" {
		o.overrides = append(o.overrides, "*.attest="+buildflags.CanonicalAttest(buildflags.AttestSBOM, o.sbom))
	}
	if o.provenance != "" {
		o.overrides = append(o.overrides, "*.attest="+buildflags.CanonicalAttest(buildflags.AttestProvenance, o.provenance))
	}
	policies, err := bakePolicyOverrides(o.policies)
	if err != nil {
		return mode, "", call, usageErr(err)
	}
	o.overrides = append(o.overrides, policies...)
	return mode, callSpec, call, nil
}

// bakePolicyOverrides turns bake's global --policy into --set values, as
// buildx: strict and log-level are added to every target's policy;
// disabled replaces every target's policy; files and their composition
// belong to the definition.
func bakePolicyOverrides(specs []string) ([]string, error) {
	configs, err := buildflags.Policies("--policy", specs)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(specs))
	for i, c := range configs {
		switch {
		case len(c.Files) > 0:
			return nil, fmt.Errorf("--policy %s: bake's --policy does not accept filename: define policy files in the targets' policy attribute", specs[i])
		case c.Reset:
			return nil, fmt.Errorf("--policy %s: bake's --policy does not accept reset: define the policies' composition in the targets' policy attribute", specs[i])
		case c.Disabled:
			if c.Strict != nil || c.LogLevel != nil || len(configs) > 1 {
				return nil, fmt.Errorf("--policy %s: %w", specs[i], policy.ErrDisabledCombined)
			}
			return []string{"*.policy=disabled=true"}, nil
		}
		out = append(out, "*.policy+="+specs[i])
	}
	return out, nil
}

// run builds the jobs, recording each, then prints the warnings, the
// summary, the answers to --call or writes the metadata file.
func (s *bakeSession) run(ctx context.Context, jobs []build.Job, specs map[string]sessionSpecs, call buildflags.Call) error {
	b, err := s.builder(ctx, jobPlatforms(jobs))
	if err != nil {
		return err
	}
	recs, values, err := s.startRecords(jobs, specs, call)
	if err != nil {
		return err
	}
	pipe := newStatusPipe(s.printer.Status(), liveMasker(values))
	results, err := build.RunAll(ctx, b, jobs, pipe.Status())
	pipe.Close()
	for _, j := range jobs {
		if rec := recs[j.Name]; rec != nil {
			if rerr := rec.finish(jobOutcome(j.Name, results, err), j.Options, results[j.Name], 0); rerr != nil {
				warnRecord(s.dockerCLI)(rerr)
			}
		}
	}
	warnings, displayErr := s.close()
	if call.Name == "build" {
		progress.PrintWarnings(s.dockerCLI.Err(), warnings, s.mode)
		ref := ""
		if len(recs) == 1 {
			for _, r := range recs {
				ref = r.ref()
			}
		}
		pipe.finish(s.dockerCLI.Err(), s.mode, ref)
	}
	if err != nil {
		return err
	}
	if displayErr != nil {
		return displayErr
	}
	if call.Name != "build" {
		return printCalls(s.dockerCLI, call, jobs, results)
	}
	if s.o.metadataFile == "" {
		return nil
	}
	if err := build.WriteGroupMetadata(s.o.metadataFile, results); err != nil {
		return err
	}
	return addMetadataWarnings(s.o.metadataFile, warnings)
}

// startRecords reads every target's secret values (for masking) and, for
// a build, starts a record per target that is not only a context.
func (s *bakeSession) startRecords(jobs []build.Job, specs map[string]sessionSpecs, call buildflags.Call) (map[string]*buildRecord, [][]byte, error) {
	var all [][]byte
	values := map[string][][]byte{}
	for _, j := range jobs {
		v, err := secretValues(specs[j.Name].secrets, os.LookupEnv)
		if err != nil {
			return nil, nil, usageErr(withTarget(j.Name, err))
		}
		values[j.Name] = v
		all = append(all, v...)
	}
	recs := map[string]*buildRecord{}
	store := openRecordsOrWarn(s.dockerCLI, s.o.state)
	for i, j := range jobs {
		if call.Name == "build" && !j.ContextOnly {
			rec := startRecord(store, j.Name, j.Options, specs[j.Name].secrets, specs[j.Name].ssh, values[j.Name], warnRecord(s.dockerCLI))
			recs[j.Name] = rec
			jobs[i].Observe = rec.observe
			jobs[i].Options.RecordRef = rec.ref()
			if s.o.metadataFile != "" {
				jobs[i].Options.MetadataProvenance = metadataProvenance()
			}
		}
	}
	return recs, all, nil
}

// sessionSpecs are a target's --secret and --ssh values.
type sessionSpecs struct{ secrets, ssh []string }

// jobOutcome is how job name of a RunAll ended: nil when it finished, the
// run's error for the job that failed, cancellation for the others.
func jobOutcome(name string, results map[string]*build.Result, err error) error {
	if _, ok := results[name]; ok || err == nil {
		return nil
	}
	var je *build.JobError
	if errors.As(err, &je) && je.Job == name {
		return je.Err
	}
	return context.Canceled
}

// bakeSession is the progress display and the builder of a bake, opened
// when first needed: a local definition is printed or listed without
// either.
type bakeSession struct {
	dockerCLI command.Cli
	o         *bakeOptions
	daemonCfg *daemonconfig.Config
	mode      progress.Mode
	printer   *progress.Printer
	b         build.Builder
	closed    bool
}

func (s *bakeSession) builder(ctx context.Context, platforms []string) (build.Builder, error) {
	if s.b != nil {
		return s.b, nil
	}
	if s.printer == nil {
		p, err := progress.NewPrinter(context.WithoutCancel(ctx), s.dockerCLI.Err(), terminal(s.dockerCLI), s.mode)
		if err != nil {
			return nil, usageErr(err)
		}
		s.printer = p
	}
	t := s.o.state.target(s.dockerCLI, s.daemonCfg, s.printer.Status())
	t.Builder = s.o.remote.builder
	t.Platforms = platforms
	t.History = s.o.metadataFile != "" && metadataProvenance().Enabled()
	b, err := build.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	s.b = b
	return b, nil
}

// close closes the builder, then the display, once; it returns the
// display's warnings and error.
func (s *bakeSession) close() ([]client.VertexWarning, error) {
	if s.closed {
		return nil, nil
	}
	s.closed = true
	var err error
	if s.b != nil {
		err = s.b.Close()
	}
	if s.printer == nil {
		return nil, err
	}
	warnings, displayErr := s.printer.Wait()
	if err == nil {
		err = displayErr
	}
	return warnings, err
}

// definitionOptions reads the definition files: -f's (or the default
// names) in the working directory, or in the remote definition, where a
// cwd:// name is still a local file.
func (s *bakeSession) definitionOptions(ctx context.Context, remoteURL string, targets []string) (bake.Options, error) {
	opts := bake.Options{Targets: targets, Overrides: s.o.overrides, Vars: s.o.vars, Env: bakeEnviron()}
	if remoteURL == "" {
		files, err := bake.ReadFiles(s.o.files, s.dockerCLI.In())
		opts.Files = files
		return opts, err
	}
	opts.CmdContext = remoteURL
	var local, remote []string
	for _, f := range s.o.files {
		if name, ok := strings.CutPrefix(f, "cwd://"); ok {
			local = append(local, name)
		} else {
			remote = append(remote, f)
		}
	}
	names := remote
	if len(s.o.files) == 0 {
		names = bake.DefaultFiles()
	}
	b, err := s.builder(ctx, nil)
	if err != nil {
		return opts, err
	}
	fetched, err := build.FetchFiles(ctx, b, remoteURL, names, s.printer.Status())
	if err != nil {
		return opts, err
	}
	for _, n := range names {
		if dt, ok := fetched[n]; ok {
			opts.Files = append(opts.Files, bake.File{Name: n, Data: dt})
		} else if len(remote) > 0 {
			return opts, usageErrf("-f %s: no such file in the remote definition %s", n, remoteURL)
		}
	}
	if len(local) > 0 {
		files, err := bake.ReadFiles(local, s.dockerCLI.In())
		if err != nil {
			return opts, err
		}
		opts.Files = append(opts.Files, files...)
	}
	return opts, nil
}

// jobPlatforms are all the platforms the targets ask for, which the
// builder (of several nodes) must serve.
func jobPlatforms(jobs []build.Job) []string {
	var out []string
	for _, j := range jobs {
		for _, p := range j.Options.Platforms {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// bakeJobs turns the definition's targets into build jobs through the same
// flag parsing as docker build2 build, with the command's flags applied to
// each; targets only other targets read as contexts are context-only jobs.
func bakeJobs(dockerCLI command.Cli, engine *engineProbe, def *bake.Definition, o *bakeOptions, mode progress.Mode, callSpec string, call buildflags.Call, remoteURL string) (_ []build.Job, specs map[string]sessionSpecs, cleanup func(), _ error) {
	var cleanups []func()
	cleanup = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	selected := def.Selected()
	names, err := withContextTargets(def, selected)
	if err != nil {
		return nil, nil, cleanup, err
	}
	allow, err := parseBakeAllow(o.allow)
	if err != nil {
		return nil, nil, cleanup, err
	}
	var (
		jobs []build.Job
		need access
	)
	specs = map[string]sessionSpecs{}
	for _, name := range names {
		t := def.Target(name)
		bo, contextArg, targetContexts, err := targetBuildOptions(t, o, callSpec, call, remoteURL)
		if err != nil {
			return nil, nil, cleanup, err
		}
		if t.DockerfileInline != nil {
			dir, err := os.MkdirTemp("", "docker-build2-dockerfile-")
			if err != nil {
				return nil, nil, cleanup, err
			}
			cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
			bo.dockerfile = filepath.Join(dir, "Dockerfile")
			if err := os.WriteFile(bo.dockerfile, []byte(*t.DockerfileInline), 0o600); err != nil {
				return nil, nil, cleanup, err
			}
		}
		req, err := newRequest(dockerCLI, engine, contextArg, bo)
		if err != nil {
			return nil, nil, cleanup, withTarget(name, err)
		}
		cleanups = append(cleanups, req.cleanup)
		req.progress = mode
		for k, dep := range targetContexts {
			if req.opts.Contexts == nil {
				req.opts.Contexts = map[string]build.NamedContext{}
			}
			req.opts.Contexts[k] = build.NamedContext{Kind: build.ContextTarget, Value: dep}
		}
		need.add(t, req.opts)
		specs[name] = sessionSpecs{secrets: bo.secrets, ssh: bo.ssh}
		jobs = append(jobs, build.Job{Name: name, Options: req.opts, ContextOnly: !slices.Contains(selected, name)})
	}
	if err := checkAccess(allow, need, remoteURL != ""); err != nil {
		return nil, nil, cleanup, err
	}
	return jobs, specs, cleanup, nil
}

// withContextTargets is selected and, after it, the targets they read as
// contexts (target:NAME), and those read, and so on.
func withContextTargets(def *bake.Definition, selected []string) ([]string, error) {
	names := slices.Clone(selected)
	for i := 0; i < len(names); i++ {
		for _, v := range def.Target(names[i]).Contexts {
			if dep, ok := strings.CutPrefix(v, "target:"); ok && !slices.Contains(names, dep) {
				if def.Target(dep) == nil {
					return nil, usageErrf("target %q: context target:%s: no target %q in the definition", names[i], dep, dep)
				}
				names = append(names, dep)
			}
		}
	}
	return names, nil
}

// checkAccess refuses what the targets need and --allow does not grant.
func checkAccess(allow bakeAllow, need access, remote bool) error {
	wd, err := workingDir()
	if err != nil {
		return err
	}
	fsChecks, err := bakeFSChecks(remote)
	if err != nil {
		return err
	}
	return allow.check(need, wd, fsChecks)
}

// targetBuildOptions spells a target as docker build2 build's flags: the
// context argument, and the contexts that are other targets (by context
// name) set apart.
func targetBuildOptions(t *bake.Target, o *bakeOptions, callSpec string, call buildflags.Call, remoteURL string) (*buildOptions, string, map[string]string, error) {
	bo := &buildOptions{
		attests:   t.Attest.Flags(),
		platforms: t.Platforms,
		tags:      t.Tags,
		outputs:   localDests(t.Outputs.Flags()),
		cacheFrom: t.CacheFrom.Flags(),
		cacheTo:   t.CacheTo.Flags(),
		secrets:   t.Secrets.Flags(),
		ssh:       t.SSH.Flags(),
		load:      o.load,
		push:      o.push,
		noCache:   o.noCache || deref(t.NoCache),
		pull:      o.pull || deref(t.Pull),
		network:   or(t.NetworkMode, "default"),
		call:      callSpec,
		allow:     solverEntitlements(t.Entitlements, o.allow),
		ulimits:   t.Ulimits,
		policies:  t.Policy.Flags(),
		target:    deref(t.Target),
		shmSize:   deref(t.ShmSize),
		buildArgs: pairs(t.Args, "="),
		labels:    pairs(t.Labels, "="),
		addHosts:  pairs(t.ExtraHosts, "="),
		progress:  o.progress,

		annotations:     t.Annotations,
		noCacheFilter:   t.NoCacheFilter,
		sourceDateEpoch: defaultSourceDateEpoch(),
	}
	if call.Name == "build" && t.Call != nil {
		bo.call = *t.Call
	}
	contextArg, err := inRemote(remoteURL, or(t.Context, "."))
	if err != nil {
		return nil, "", nil, usageErrf("target %q: context: %w", t.Name, err)
	}
	if t.DockerfileInline == nil {
		bo.dockerfile = targetDockerfile(contextArg, deref(t.Dockerfile))
	}
	targets := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(t.Contexts)) {
		v := t.Contexts[name]
		if dep, ok := strings.CutPrefix(v, "target:"); ok {
			targets[name] = dep
			continue
		}
		if v, err = inRemote(remoteURL, v); err != nil {
			return nil, "", nil, usageErrf("target %q: contexts.%s: %w", t.Name, name, err)
		}
		bo.buildContexts = append(bo.buildContexts, name+"="+v)
	}
	return bo, contextArg, targets, nil
}

// localDests drops cwd:// from outputs' destinations, which are local
// files whether the definition is or not.
func localDests(outputs []string) []string {
	for i, o := range outputs {
		outputs[i] = strings.ReplaceAll(o, "dest=cwd://", "dest=")
	}
	return outputs
}

// solverEntitlements are the entitlements a target's solve is allowed:
// its own, and those of --allow that the solver grants (network.host,
// security.insecure); --allow's paths are checked before any build.
func solverEntitlements(own, allow []string) []string {
	out := slices.Clone(own)
	for _, a := range allow {
		if (a == "network.host" || a == "security.insecure") && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// targetDockerfile is a target's dockerfile as -f takes it: relative to
// the context for a local one, as buildx reads it; a path in the
// repository for a remote one; cwd:// relative to the working directory.
func targetDockerfile(contextArg, df string) string {
	if df == "" {
		return ""
	}
	if local, ok := strings.CutPrefix(df, "cwd://"); ok {
		return local
	}
	if buildflags.IsRemoteURL(contextArg) || filepath.IsAbs(df) || buildflags.IsHTTPURL(df) {
		return df
	}
	return filepath.Join(contextArg, df)
}

// or is *p, or def when p is nil or empty.
func or(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// pairs spells a map as KEY<sep>VALUE entries in key order; nil values are
// left out, as buildx leaves them.
func pairs(m map[string]*string, sep string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v := m[k]; v != nil {
			out = append(out, k+sep+*v)
		}
	}
	return out
}

// printCalls prints each target's answer to --call, under its name when
// there are several.
func printCalls(dockerCLI command.Cli, call buildflags.Call, jobs []build.Job, results map[string]*build.Result) error {
	var failed error
	for _, j := range jobs {
		res, ok := results[j.Name]
		if !ok {
			continue
		}
		if len(results) > 1 && call.Format != "json" {
			fmt.Fprintf(dockerCLI.Out(), "\ntarget %s:\n", j.Name)
		}
		if err := printCall(dockerCLI.Out(), call, res.Call); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// withTarget names the target an error is about, keeping its exit code.
func withTarget(name string, err error) error {
	var se cli.StatusError
	if errors.As(err, &se) && se.Cause != nil {
		se.Cause = fmt.Errorf("target %q: %w", name, se.Cause)
		return se
	}
	return fmt.Errorf("target %q: %w", name, err)
}

// inRemote is where a target's local path points when the definition is
// remote, as buildx reads it: "." is the remote itself, a relative path a
// directory of the Git repository; cwd:// paths, URLs and images stay.
func inRemote(remoteURL, p string) (string, error) {
	if local, ok := strings.CutPrefix(p, "cwd://"); ok {
		return local, nil
	}
	if remoteURL == "" || buildflags.IsRemoteURL(p) || strings.Contains(p, "://") {
		return p, nil
	}
	if path.Clean(p) == "." {
		return remoteURL, nil
	}
	if !buildflags.IsGitURL(remoteURL) {
		return "", fmt.Errorf("%q is a directory of the remote definition %s, which is not a Git repository: use the tarball's root (\".\") or a cwd:// path", p, remoteURL)
	}
	return remoteURLWithSubdir(remoteURL, p), nil
}

// remoteURLWithSubdir is a Git URL for the subdirectory sub of the
// repository (and subdirectory) remoteURL names.
func remoteURLWithSubdir(remoteURL, sub string) string {
	base, frag, _ := strings.Cut(remoteURL, "#")
	ref, dir, _ := strings.Cut(frag, ":")
	return base + "#" + ref + ":" + path.Join(dir, sub)
}
