// Package bake reads build definitions as docker buildx bake reads them:
// HCL, JSON and Compose files, their variables, functions, groups,
// inheritance, matrices and --set overrides, into resolved targets. It
// builds nothing: the plugin turns each Target into build.Options, with
// the same flag parsers as docker build2 build, and runs them.
package bake

// Target is one resolved target. Its JSON is the shape of a target in
// docker buildx bake --print. Fields are those of buildx's bake targets;
// unset ones are nil or empty.
type Target struct {
	Name             string             `json:"-"`
	Description      string             `json:"description,omitempty"`
	Inherits         []string           `json:"inherits,omitempty"`
	Annotations      []string           `json:"annotations,omitempty"`
	Attest           Specs              `json:"attest,omitempty"`
	Context          *string            `json:"context,omitempty"`
	Contexts         map[string]string  `json:"contexts,omitempty"`
	Dockerfile       *string            `json:"dockerfile,omitempty"`
	DockerfileInline *string            `json:"dockerfile-inline,omitempty"`
	Args             map[string]*string `json:"args,omitempty"`
	Labels           map[string]*string `json:"labels,omitempty"`
	Tags             []string           `json:"tags,omitempty"`
	CacheFrom        Specs              `json:"cache-from,omitempty"`
	CacheTo          Specs              `json:"cache-to,omitempty"`
	Target           *string            `json:"target,omitempty"`
	Secrets          Specs              `json:"secret,omitempty"`
	SSH              Specs              `json:"ssh,omitempty"`
	Platforms        []string           `json:"platforms,omitempty"`
	Outputs          Specs              `json:"output,omitempty"`
	Pull             *bool              `json:"pull,omitempty"`
	NoCache          *bool              `json:"no-cache,omitempty"`
	NetworkMode      *string            `json:"network,omitempty"`
	NoCacheFilter    []string           `json:"no-cache-filter,omitempty"`
	ShmSize          *string            `json:"shm-size,omitempty"`
	Ulimits          []string           `json:"ulimits,omitempty"`
	Call             *string            `json:"call,omitempty"`
	Entitlements     []string           `json:"entitlements,omitempty"`
	ExtraHosts       map[string]*string `json:"extra-hosts,omitempty"`
	Policy           Specs              `json:"policy,omitempty"`

	// Linked is set on a target that is in a Selection only because a
	// selected target's context names it (target:NAME): its output is
	// cacheonly, and it is built for that context only.
	Linked bool `json:"-"`
}

// Specs are the values of a list attribute whose entries are CSV specs on
// the command line (output, cache-from, cache-to, secret, ssh, attest),
// which a definition may also write as objects. Each entry's JSON is
// buildx's for that kind.
type Specs []Spec

// Spec is one entry of Specs.
type Spec interface {
	// Flag is the entry as the matching docker build2 build flag takes it
	// (--output type=registry,ref=…; --ssh default=/path,/path2; …).
	Flag() string
}

// Flags are the entries as docker build2 build flags take them.
func (s Specs) Flags() []string {
	out := make([]string, 0, len(s))
	for _, e := range s {
		out = append(out, e.Flag())
	}
	return out
}

// Group is a named list of targets (and groups).
type Group struct {
	Name        string   `json:"-"`
	Description string   `json:"description,omitempty"`
	Targets     []string `json:"targets"`
}
