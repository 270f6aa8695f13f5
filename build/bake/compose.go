package bake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	composeschema "github.com/compose-spec/compose-go/v2/schema"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Compose files map to targets as in buildx's bake/compose.go: each
// service with a build section is a target of the default group, and the
// x-bake extension adds what Compose's build section lacks.

// composeEnv is the environment Compose files are interpolated with: the
// process's (unless variables may not read it), then the .env file in
// dir for names not set, then --var values.
func (d *parsed) composeEnv(vars map[string]string, dir string) (map[string]string, error) {
	env := map[string]string{}
	if d.envVars {
		maps.Copy(env, d.env)
	}
	if err := loadDotEnv(env, dir); err != nil {
		return nil, err
	}
	maps.Copy(env, vars)
	return env, nil
}

func loadDotEnv(env map[string]string, dir string) error {
	name := filepath.Join(dir, ".env")
	st, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return nil
	}
	if err != nil {
		return err
	}
	dt, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	vals, err := dotenv.UnmarshalBytesWithLookup(dt, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for k, v := range vals {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return nil
}

// validateComposeFile reports whether f is a Compose file: by extension,
// or, for another name, by loading as one.
func validateComposeFile(f File, env map[string]string) (bool, error) {
	name := strings.ToLower(f.Name)
	switch {
	case strings.HasSuffix(name, ".yml"), strings.HasSuffix(name, ".yaml"):
		return true, validateCompose(f.Data, env)
	case strings.HasSuffix(name, ".json"), strings.HasSuffix(name, ".hcl"):
		return false, nil
	}
	err := validateCompose(f.Data, env)
	return err == nil, err
}

func validateCompose(dt []byte, env map[string]string) error {
	_, err := loadComposeFiles([]composetypes.ConfigFile{{Content: dt}}, env, func(o *loader.Options) {
		// Consistency across files is checked when they are merged.
		o.SkipConsistencyCheck = true
	})
	return err
}

func loadComposeFiles(cfgs []composetypes.ConfigFile, env map[string]string, options ...func(*loader.Options)) (*composetypes.Project, error) {
	details := composetypes.ConfigDetails{ConfigFiles: cfgs, Environment: env}
	raw, err := loader.LoadModelWithContext(context.Background(), details, append([]func(*loader.Options){func(o *loader.Options) {
		name := "bake"
		if v := env[consts.ComposeProjectName]; v != "" {
			name = v
		}
		o.SetProjectName(name, false)
		o.SkipNormalization = true
		o.SkipValidation = true
	}}, options...)...)
	if err != nil {
		return nil, err
	}
	// Only the keys bake reads are validated, as in buildx.
	filtered := map[string]any{}
	if services, ok := raw["services"].(map[string]any); ok {
		fs := map[string]any{}
		for name, svc := range services {
			if svc == nil {
				fs[name] = map[string]any{}
				continue
			}
			if m, ok := svc.(map[string]any); ok {
				f := map[string]any{}
				for _, k := range []string{"image", "build", "environment", "env_file"} {
					if v, ok := m[k]; ok {
						f[k] = v
					}
				}
				fs[name] = f
			}
		}
		filtered["services"] = fs
	}
	if v, ok := raw["secrets"]; ok {
		filtered["secrets"] = v
	}
	if len(filtered) == 0 {
		return nil, errors.New("empty compose file")
	}
	if err := composeschema.Validate(filtered); err != nil {
		return nil, err
	}
	return loader.ModelToProject(filtered, loader.ToOptions(&details, append([]func(*loader.Options){func(o *loader.Options) {
		o.SkipNormalization = true
		o.Profiles = []string{"*"}
	}}, options...)), details)
}

func parseCompose(files []File, env map[string]string) (*config, error) {
	cfgs := make([]composetypes.ConfigFile, 0, len(files))
	for _, f := range files {
		cfgs = append(cfgs, composetypes.ConfigFile{Filename: f.Name, Content: f.Data})
	}
	project, err := loadComposeFiles(cfgs, env)
	if err != nil {
		return nil, err
	}
	var c config
	if len(project.Services) == 0 {
		return &c, nil
	}
	c.Groups = []*group{}
	c.Targets = []*target{}
	g := &group{Name: "default"}
	for _, s := range project.Services {
		if s.Build == nil {
			continue
		}
		t, err := composeTarget(project, s)
		if err != nil {
			return nil, err
		}
		g.Targets = append(g.Targets, t.Name)
		c.Targets = append(c.Targets, t)
	}
	c.Groups = append(c.Groups, g)
	return &c, nil
}

func composeTarget(project *composetypes.Project, s composetypes.ServiceConfig) (*target, error) {
	b := s.Build
	name := sanitizeTargetName(s.Name)
	if err := validateTargetName(name); err != nil {
		return nil, fmt.Errorf("invalid service name %q: %w", name, err)
	}
	t := &target{
		Name:             name,
		Context:          nonEmpty(b.Context),
		Dockerfile:       nonEmpty(b.Dockerfile),
		DockerfileInline: nonEmpty(b.DockerfileInline),
		NetworkMode:      nonEmpty(b.Network),
		Tags:             b.Tags,
		Platforms:        b.Platforms,
		Labels:           map[string]*string{},
		ExtraHosts:       map[string]*string{},
	}
	if b.AdditionalContexts != nil {
		t.Contexts = composeContexts(b.AdditionalContexts)
	}
	if b.ShmSize > 0 {
		s := units.BytesSize(float64(b.ShmSize))
		t.ShmSize = &s
	}
	// Sorted by name: buildx ranges over the map.
	for _, n := range slices.Sorted(maps.Keys(b.Ulimits)) {
		u := b.Ulimits[n]
		ul, err := units.ParseUlimit(fmt.Sprintf("%s=%d:%d", n, u.Soft, u.Hard))
		if err != nil {
			return nil, err
		}
		t.Ulimits = append(t.Ulimits, ul.String())
	}
	for k, v := range b.ExtraHosts {
		t.ExtraHosts[k] = new(strings.Join(v, ","))
	}
	if err := t.composeSpecs(project, b); err != nil {
		return nil, err
	}
	t.NoCache, t.Pull = trueOrNil(b.NoCache), trueOrNil(b.Pull)
	for k, v := range b.Labels {
		t.Labels[k] = new(v)
	}
	t.Args = flattenArgs(b.Args.Resolve(func(k string) (string, bool) {
		if v, ok := s.Environment[k]; ok && v != nil {
			return *v, true
		}
		v, ok := project.Environment[k]
		return v, ok
	}))
	if err := t.composeExt(b.Extensions); err != nil {
		return nil, err
	}
	if b.Target != "" {
		t.Target = new(b.Target)
	}
	if len(t.Tags) == 0 && s.Image != "" {
		t.Tags = []string{s.Image}
	}
	return t, nil
}

// composeSpecs sets the ssh, secret, cache and attest specs of a build
// section.
func (t *target) composeSpecs(project *composetypes.Project, b *composetypes.BuildConfig) error {
	for _, k := range b.SSH {
		e := &ssh{ID: k.ID}
		if k.Path != "" {
			e.Paths = []string{k.Path}
		}
		t.SSH = append(t.SSH, e)
	}
	slices.SortFunc(t.SSH, (*ssh).less)
	for _, bs := range b.Secrets {
		ps := project.Secrets[bs.Source]
		if ps.External {
			return fmt.Errorf("unsupported external secret %s", ps.Name)
		}
		t.Secrets = append(t.Secrets, &secret{ID: bs.Source, Src: ps.File, Env: ps.Environment})
	}
	var err error
	if t.CacheFrom, err = parseCacheList(b.CacheFrom); err != nil {
		return err
	}
	if t.CacheTo, err = parseCacheList(b.CacheTo); err != nil {
		return err
	}
	var attests []string
	if b.SBOM != "" {
		attests = append(attests, canonicalAttest("sbom", b.SBOM))
	}
	if b.Provenance != "" {
		attests = append(attests, canonicalAttest("provenance", b.Provenance))
	}
	if t.Attest, err = parseSpecs[attest](attests); err != nil {
		return err
	}
	if len(t.Attest) == 0 {
		t.Attest = nil
	}
	return nil
}

func trueOrNil(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flattenArgs(in composetypes.MappingWithEquals) map[string]*string {
	if len(in) == 0 {
		return nil
	}
	out := map[string]*string{}
	for k, v := range in {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// xbake is the x-bake extension of a Compose build section.
type xbake struct {
	Tags          stringArray       `yaml:"tags,omitempty"`
	CacheFrom     stringArray       `yaml:"cache-from,omitempty"`
	CacheTo       stringArray       `yaml:"cache-to,omitempty"`
	Secrets       stringArray       `yaml:"secret,omitempty"`
	SSH           stringArray       `yaml:"ssh,omitempty"`
	Platforms     stringArray       `yaml:"platforms,omitempty"`
	Outputs       stringArray       `yaml:"output,omitempty"`
	Pull          *bool             `yaml:"pull,omitempty"`
	NoCache       *bool             `yaml:"no-cache,omitempty"`
	NoCacheFilter stringArray       `yaml:"no-cache-filter,omitempty"`
	Contexts      map[string]string `yaml:"contexts,omitempty"`
}

// stringArray is a YAML list of strings, or one string of
// space-separated values.
type stringArray []string

func (sa *stringArray) UnmarshalYAML(unmarshal func(any) error) error {
	var multi []string
	if err := unmarshal(&multi); err == nil {
		*sa = multi
		return nil
	}
	var single string
	if err := unmarshal(&single); err != nil {
		return err
	}
	*sa = strings.Fields(single)
	return nil
}

func (t *target) composeExt(exts map[string]any) error {
	ext, ok := exts["x-bake"]
	if !ok || ext == nil {
		return nil
	}
	var xb xbake
	yb, _ := yaml.Marshal(ext)
	if err := yaml.Unmarshal(yb, &xb); err != nil {
		return fmt.Errorf("x-bake: %w", err)
	}
	if len(xb.Tags) > 0 {
		t.Tags = dedup(append(t.Tags, xb.Tags...))
	}
	if err := t.composeExtSpecs(&xb); err != nil {
		return err
	}
	if len(xb.Platforms) > 0 {
		t.Platforms = dedup(append(t.Platforms, xb.Platforms...))
	}
	setIf(&t.Pull, xb.Pull)
	setIf(&t.NoCache, xb.NoCache)
	if len(xb.NoCacheFilter) > 0 {
		t.NoCacheFilter = dedup(append(t.NoCacheFilter, xb.NoCacheFilter...))
	}
	if len(xb.Contexts) > 0 {
		merged := map[string]string{}
		maps.Copy(merged, composeContexts(xb.Contexts))
		maps.Copy(merged, t.Contexts)
		t.Contexts = merged
	}
	return nil
}

// composeExtSpecs merges x-bake's cache, secret, ssh and output specs.
func (t *target) composeExtSpecs(xb *xbake) error {
	if len(xb.CacheFrom) > 0 {
		l, err := parseCacheList(xb.CacheFrom)
		if err != nil {
			return err
		}
		t.CacheFrom = t.CacheFrom.merge(l)
	}
	if len(xb.CacheTo) > 0 {
		l, err := parseCacheList(xb.CacheTo)
		if err != nil {
			return err
		}
		t.CacheTo = t.CacheTo.merge(l)
	}
	if len(xb.Secrets) > 0 {
		l, err := parseSpecs[secret](xb.Secrets)
		if err != nil {
			return err
		}
		t.Secrets = t.Secrets.merge(l)
	}
	if len(xb.SSH) > 0 {
		l, err := parseSpecs[ssh](xb.SSH)
		if err != nil {
			return err
		}
		t.SSH = t.SSH.merge(l)
		slices.SortFunc(t.SSH, (*ssh).less)
	}
	if len(xb.Outputs) > 0 {
		l, err := parseSpecs[output](xb.Outputs)
		if err != nil {
			return err
		}
		t.Outputs = t.Outputs.merge(l)
	}
	return nil
}

// composeContexts maps service:NAME and target:NAME contexts to
// target:NAME with the target's sanitized name.
func composeContexts(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if kind, name, ok := strings.Cut(v, ":"); ok && (kind == "service" || kind == "target") {
			v = "target:" + sanitizeTargetName(name)
		}
		out[k] = v
	}
	return out
}
