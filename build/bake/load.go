package bake

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/containerd/platforms"
	"github.com/docker/buildx/bake/hclparser"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// File is one definition file: its name (a path, "-" for stdin, or
// whatever names a file fetched from a remote definition) and content.
// The name's extension picks the syntax as in buildx: .yml/.yaml is
// Compose, .hcl is HCL, .json is HCL's JSON syntax; any other name is
// tried as Compose, then HCL, then JSON.
type File struct {
	Name string
	Data []byte
}

// DefaultFiles are the names ReadFiles looks for when none is given, in
// buildx's order: Compose's, then docker-bake.json, docker-bake.hcl and
// their .override variants. Later files override earlier ones.
func DefaultFiles() []string {
	return append(slices.Clone(composecli.DefaultFileNames),
		"docker-bake.json",
		"docker-bake.hcl",
		"docker-bake.override.json",
		"docker-bake.override.hcl",
	)
}

// ReadFiles reads the files named by -f, in order; "-" is stdin. With no
// names it reads those of DefaultFiles that exist in the current
// directory, and none existing is not an error (the result is empty).
func ReadFiles(names []string, stdin io.Reader) ([]File, error) {
	isDefault := len(names) == 0
	if isDefault {
		names = DefaultFiles()
	}
	out := make([]File, 0, len(names))
	for _, n := range names {
		var dt []byte
		var err error
		if n == "-" {
			if stdin == nil {
				return nil, errors.New("reading the definition from stdin (-f -): no stdin")
			}
			dt, err = io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("reading the definition from stdin: %w", err)
			}
		} else {
			dt, err = os.ReadFile(n)
			if isDefault && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, File{Name: n, Data: dt})
	}
	return out, nil
}

// Options are what a definition is read with.
type Options struct {
	// Files are the definition files, merged in order. At least one.
	Files []File
	// Targets are the targets and groups to build, by name or with
	// wildcards (*, ?, [a-z]); none is "default". List ignores them.
	Targets []string
	// Overrides are --set values, pattern.key[.name][+]=value. List
	// ignores them.
	Overrides []string
	// Vars are --var values, name=value: they set variables before the
	// environment does.
	Vars []string
	// Env is the process environment (os.Environ()): it sets variables
	// as buildx reads them (NAME, NAME_JSON for typed ones), Compose
	// interpolation, --set args.NAME without a value, and
	// SOURCE_DATE_EPOCH. BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP=1 keeps it
	// from setting variables, as in buildx.
	Env []string
	// CmdContext is the BAKE_CMD_CONTEXT built-in variable; empty is
	// "cwd://", a local invocation's.
	CmdContext string
	// Dir is where Compose's .env file is looked for; empty is the
	// current directory.
	Dir string
}

// parsed is a parsed definition: its targets and groups as the files
// declare them, before selection and --set.
type parsed struct {
	cfg  config
	vars []*hclparser.Variable
	env  map[string]string
	// envVars is whether the environment may set variables and args.
	envVars bool
}

// Load reads a definition and resolves the targets to build, as docker
// buildx bake does: it parses and merges the files (HCL with its
// variables, functions and matrices, JSON, Compose with x-bake), selects
// opts.Targets, and resolves each target's inherits and --set overrides.
// An unknown target, an inherits cycle, a cycle through target:NAME
// contexts, a failed variable validation or a bad --set is an error.
func Load(opts Options) (*Definition, error) {
	d, err := parse(opts)
	if err != nil {
		return nil, err
	}
	return d.resolve(opts.Targets, opts.Overrides)
}

// List writes the definition's targets or variables as docker buildx
// bake --list=SPEC does, without selecting or resolving targets. SPEC is
// "targets", "variables", or type=targets|variables[,format=table|json].
// Targets whose name starts with "_" are private and not listed.
func List(w io.Writer, opts Options, spec string) error {
	l, err := parseList(spec)
	if err != nil {
		return err
	}
	d, err := parse(opts)
	if err != nil {
		return err
	}
	if l.typ == "variables" {
		return d.listVariables(w, l.format == "json")
	}
	return d.listTargets(w, l.format == "json")
}

func parse(opts Options) (*parsed, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("no bake definition found: add a docker-bake.hcl or compose.yaml, or name one with -f")
	}
	vars, err := parseVars(opts.Vars)
	if err != nil {
		return nil, err
	}
	d := &parsed{env: envMap(opts.Env), envVars: true}
	if v, ok := d.env["BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP"]; ok {
		if disable, err := strconv.ParseBool(v); err == nil && disable {
			d.envVars = false
		}
	}
	cmdContext := opts.CmdContext
	if cmdContext == "" {
		cmdContext = "cwd://"
	}
	builtins := map[string]string{
		"BAKE_CMD_CONTEXT":    cmdContext,
		"BAKE_LOCAL_PLATFORM": platforms.Format(platforms.DefaultSpec()),
	}
	if err := d.parse(opts.Files, builtins, vars, opts.Dir); err != nil {
		return nil, oneLine(err)
	}
	return d, nil
}

// parseVars parses --var name=value values.
func parseVars(values []string) (map[string]string, error) {
	vars := make(map[string]string, len(values))
	for _, v := range values {
		if v == "" {
			continue
		}
		key, val, ok := strings.Cut(v, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--var %q: expected name=value", v)
		}
		vars[key] = val
	}
	return vars, nil
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (d *parsed) parse(files []File, builtins, vars map[string]string, dir string) error {
	composeEnv, err := d.composeEnv(vars, dir)
	if err != nil {
		return err
	}
	composeFiles, hclFiles, err := splitFiles(files, composeEnv)
	if err != nil {
		return err
	}
	if len(composeFiles) > 0 {
		c, err := parseCompose(composeFiles, composeEnv)
		if err != nil {
			return fmt.Errorf("parsing compose file: %w", err)
		}
		d.cfg = dedupeConfig(mergeConfig(d.cfg, *c))
	}
	if len(hclFiles) == 0 {
		return nil
	}
	lookup := func(key string) (string, bool) {
		if v, ok := vars[key]; ok {
			return v, true
		}
		if d.envVars {
			v, ok := d.env[key]
			return v, ok
		}
		return "", false
	}
	meta, diags := hclparser.Parse(hclparser.MergeFiles(hclFiles), hclparser.Opt{
		LookupVar:     lookup,
		Vars:          builtins,
		ValidateLabel: validateTargetName,
	}, &d.cfg)
	if diags.HasErrors() {
		return diags
	}
	// A matrix target's label names a group of its expansions.
	for _, renamed := range meta.Renamed {
		for oldName, newNames := range renamed {
			newNames = dedup(newNames)
			if len(newNames) == 1 && oldName == newNames[0] {
				continue
			}
			d.cfg.Groups = append(d.cfg.Groups, &group{Name: oldName, Targets: newNames})
		}
	}
	d.cfg = dedupeConfig(d.cfg)
	d.vars = meta.AllVariables
	return nil
}

// splitFiles sorts the files into Compose ones and parsed HCL ones.
func splitFiles(files []File, composeEnv map[string]string) ([]File, []*hcl.File, error) {
	var composeFiles []File
	var hclFiles []*hcl.File
	for _, f := range files {
		isCompose, composeErr := validateComposeFile(f, composeEnv)
		if isCompose {
			if composeErr != nil {
				return nil, nil, fmt.Errorf("%s: %w", f.Name, composeErr)
			}
			composeFiles = append(composeFiles, f)
			continue
		}
		hf, isHCL, err := parseHCLFile(f)
		switch {
		case isHCL && err != nil:
			return nil, nil, err
		case isHCL:
			hclFiles = append(hclFiles, hf)
		case composeErr != nil:
			return nil, nil, fmt.Errorf("%s is neither Compose (%w) nor HCL (%w)", f.Name, composeErr, err)
		default:
			return nil, nil, err
		}
	}
	return composeFiles, hclFiles, nil
}

// parseHCLFile parses f as HCL or JSON by its extension, or tries both, as
// buildx's ParseHCLFile.
func parseHCLFile(f File) (*hcl.File, bool, error) {
	switch {
	case strings.HasSuffix(f.Name, ".json"):
		hf, diags := hclparse.NewParser().ParseJSON(f.Data, f.Name)
		return hf, true, diagsErr(diags)
	case strings.HasSuffix(f.Name, ".hcl"):
		hf, diags := hclparse.NewParser().ParseHCL(f.Data, f.Name)
		return hf, true, diagsErr(diags)
	}
	hf, diags := hclparse.NewParser().ParseHCL(f.Data, f.Name+".hcl")
	if !diags.HasErrors() {
		return hf, true, nil
	}
	if hf, diags2 := hclparse.NewParser().ParseJSON(f.Data, f.Name+".json"); !diags2.HasErrors() {
		return hf, true, nil
	}
	return nil, false, diags
}

func diagsErr(diags hcl.Diagnostics) error {
	if diags.HasErrors() {
		return diags
	}
	return nil
}

// oneLine makes an error one line: HCL diagnostics as buildx prints them
// (file:line,col-col: summary; detail), newlines in details folded.
func oneLine(err error) error {
	var diags hcl.Diagnostics
	if !errors.As(err, &diags) || !strings.Contains(err.Error(), "\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(err.Error()), " "))
}

// targetNames lists the known target names, sorted, for error messages.
func (d *parsed) targetNames() string {
	names := make([]string, 0, len(d.cfg.Targets)+len(d.cfg.Groups))
	for _, t := range d.cfg.Targets {
		names = append(names, t.Name)
	}
	for _, g := range d.cfg.Groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return "the definition has no targets"
	}
	return "known targets: " + strings.Join(names, ", ")
}

// sanitizeTargetName maps a Compose service name with a dot to its target
// name, as buildx does.
func sanitizeTargetName(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// matchNames expands a target argument with wildcards over group and
// target names.
func (d *parsed) matchNames(pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, "*?[]") {
		return []string{pattern}, nil
	}
	var names []string
	for _, g := range d.cfg.Groups {
		if ok, err := path.Match(pattern, g.Name); ok && err == nil {
			names = append(names, g.Name)
		}
	}
	for _, t := range d.cfg.Targets {
		if ok, err := path.Match(pattern, t.Name); ok && err == nil {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no target matches %q: %s", pattern, d.targetNames())
	}
	return names, nil
}
