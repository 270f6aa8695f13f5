package plugin

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// addLegacyFlags accepts the classic `docker build` flags: those BuildKit
// ignores, with buildx's warnings, and the resource flags (-m, --cpu-shares
// …), which, hidden as buildx has them, set the limits --resource sets.
func addLegacyFlags(flags *pflag.FlagSet, opts *buildOptions) {
	var (
		ignoreBool   bool
		ignoreString string
		ignoreSlice  []string
	)
	hidden := func(name, warn string) {
		_ = flags.MarkHidden(name)
		if warn != "" {
			_ = flags.SetAnnotation(name, "flag-warn", []string{warn})
		}
	}
	flags.BoolVar(&ignoreBool, "compress", false, "Compress the build context using gzip")
	hidden("compress", "")
	flags.StringVar(&ignoreString, "isolation", "", "Container isolation technology")
	hidden("isolation", "isolation flag is deprecated with BuildKit.")
	flags.StringSliceVar(&ignoreSlice, "security-opt", nil, "Security options")
	hidden("security-opt", `security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.`)
	flags.BoolVar(&ignoreBool, "squash", false, "Squash newly built layers into a single new layer")
	hidden("squash", "experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.")
	flags.BoolVar(&ignoreBool, "rm", true, "Remove intermediate containers after a successful build")
	hidden("rm", "")
	flags.BoolVar(&ignoreBool, "force-rm", false, "Always remove intermediate containers")
	hidden("force-rm", "")
	opts.legacyResources = map[string]string{}
	for _, f := range []struct{ name, short, usage string }{
		{"memory", "m", "Memory limit"},
		{"memory-swap", "", `Swap limit equal to memory plus swap: "-1" to enable unlimited swap`},
		{"cpu-shares", "c", "CPU shares (relative weight)"},
		{"cpu-period", "", "Limit the CPU CFS (Completely Fair Scheduler) period"},
		{"cpu-quota", "", "Limit the CPU CFS (Completely Fair Scheduler) quota"},
		{"cpuset-cpus", "", `CPUs in which to allow execution ("0-3", "0,1")`},
		{"cpuset-mems", "", `MEMs in which to allow execution ("0-3", "0,1")`},
	} {
		flags.VarP(&resourceFlag{key: f.name, values: opts.legacyResources}, f.name, f.short, f.usage)
		hidden(f.name, "")
	}
}

func warnLegacyFlags(w io.Writer, flags *pflag.FlagSet) {
	flags.Visit(func(f *pflag.Flag) {
		if m, ok := f.Annotations["flag-warn"]; ok && len(m) > 0 {
			fmt.Fprintf(w, "WARNING: %s\n", m[0])
		}
	})
}

// resourceFlag is one of docker build's resource flags: its value, parsed
// with --resource's, is values[key].
type resourceFlag struct {
	key    string
	values map[string]string
}

func (f *resourceFlag) Set(v string) error { f.values[f.key] = v; return nil }
func (f *resourceFlag) String() string     { return f.values[f.key] }
func (*resourceFlag) Type() string         { return "string" }

// kindValue is a string flag whose help names the kind of its value
// ("--shm-size bytes"), as buildx's typed flags show; buildflags parses it.
type kindValue struct {
	p    *string
	kind string
}

func (v *kindValue) Set(s string) error { *v.p = s; return nil }
func (v *kindValue) String() string     { return *v.p }
func (v *kindValue) Type() string       { return v.kind }

// kindArray is kindValue for a flag given once per value ("--ulimit
// ulimit").
type kindArray struct {
	p    *[]string
	kind string
}

func (a *kindArray) Set(s string) error { *a.p = append(*a.p, s); return nil }
func (a *kindArray) String() string     { return strings.Join(*a.p, ",") }
func (a *kindArray) Type() string       { return a.kind }

// GetSlice, Append and Replace make it a pflag.SliceValue: the legacy
// builder gets each value as given.
func (a *kindArray) GetSlice() []string        { return *a.p }
func (a *kindArray) Append(s string) error     { return a.Set(s) }
func (a *kindArray) Replace(ss []string) error { *a.p = ss; return nil }
