package plugin

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// addLegacyFlags accepts the classic `docker build` flags that BuildKit
// ignores, and warns as buildx does when they are used.
func addLegacyFlags(flags *pflag.FlagSet) {
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
	flags.StringVar(&ignoreString, "cgroup-parent", "", `Set the parent cgroup for the "RUN" instructions during build`)
	hidden("cgroup-parent", "cgroup-parent is not supported by the embedded builder: ignored")
	flags.StringVar(&ignoreString, "shm-size", "", "Shared memory size for build containers")
	hidden("shm-size", "shm-size is not supported by the embedded builder: ignored")
	flags.StringSliceVar(&ignoreSlice, "ulimit", nil, "Ulimit options")
	hidden("ulimit", "ulimit is not supported by the embedded builder: ignored")
	for _, f := range []struct{ name, short, usage string }{
		{"memory", "m", "Memory limit"},
		{"memory-swap", "", "Swap limit equal to memory plus swap"},
		{"cpu-shares", "c", "CPU shares (relative weight)"},
		{"cpu-period", "", "Limit the CPU CFS (Completely Fair Scheduler) period"},
		{"cpu-quota", "", "Limit the CPU CFS (Completely Fair Scheduler) quota"},
		{"cpuset-cpus", "", `CPUs in which to allow execution ("0-3", "0,1")`},
		{"cpuset-mems", "", `MEMs in which to allow execution ("0-3", "0,1")`},
	} {
		flags.StringP(f.name, f.short, "", f.usage)
		hidden(f.name, f.name+" is not supported with BuildKit: resource limits of RUN steps are ignored")
	}
}

func warnLegacyFlags(w io.Writer, flags *pflag.FlagSet) {
	flags.Visit(func(f *pflag.Flag) {
		if m, ok := f.Annotations["flag-warn"]; ok && len(m) > 0 {
			fmt.Fprintf(w, "WARNING: %s\n", m[0])
		}
	})
}
