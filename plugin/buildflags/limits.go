package buildflags

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/go-units"
	"github.com/moby/buildkit/util/cpuset"
)

// ShmSize parses --shm-size, bytes with an optional unit as docker reads
// it ("128m", "1g", "65536"); "" is 0, BuildKit's default size.
func ShmSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := bytesOf(s)
	if err != nil {
		return 0, fmt.Errorf("--shm-size %q: %w", s, err)
	}
	return n, nil
}

// FormatShmSize is the --shm-size value of n bytes.
func FormatShmSize(n int64) string { return strconv.FormatInt(n, 10) }

// bytesOf reads a size as docker does (units.RAMInBytes: k, m, g … are
// powers of 1024).
func bytesOf(s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil {
		return 0, fmt.Errorf("not a size in bytes (e.g. 128m, 1g): %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("the size is too large")
	}
	return n, nil
}

// Ulimits parses --ulimit values as docker reads them, "NAME=SOFT[:HARD]"
// (nofile=1024:2048; -1 is unlimited): a later value of a name replaces
// an earlier one, and the result is sorted by name.
func Ulimits(specs []string) ([]build.Ulimit, error) {
	byName := map[string]build.Ulimit{}
	for _, s := range specs {
		u, err := units.ParseUlimit(s)
		if err != nil {
			return nil, fmt.Errorf("--ulimit %q: %w (use NAME=SOFT[:HARD], e.g. nofile=1024:2048)", s, err)
		}
		for _, v := range []int64{u.Soft, u.Hard} {
			if v < -1 {
				return nil, fmt.Errorf("--ulimit %q: a limit is a number ≥ 0, or -1 for unlimited", s)
			}
		}
		byName[u.Name] = build.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard}
	}
	out := make([]build.Ulimit, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// FormatUlimit is the --ulimit value of u.
func FormatUlimit(u build.Ulimit) string { return u.String() }

// ResourceKeys are the --resource keys, in the order messages list them;
// each is also the name of docker build's flag for that limit (-m is
// --memory, -c --cpu-shares).
var ResourceKeys = []string{"memory", "memory-swap", "cpu-shares", "cpu-period", "cpu-quota", "cpuset-cpus", "cpuset-mems"}

// Resources parses the cgroup limits of RUN steps as buildx does: first
// docker build's own flags (legacy maps a flag name of ResourceKeys to its
// value), then --resource values "KEY=VALUE", which win. A limit of 0 (or
// an empty cpuset) is no limit.
func Resources(legacy map[string]string, specs []string) (build.ResourceLimits, error) {
	var r build.ResourceLimits
	setBy := map[string]string{}
	for _, k := range ResourceKeys {
		if v, ok := legacy[k]; ok {
			if err := setResource(&r, k, strings.TrimSpace(v)); err != nil {
				return build.ResourceLimits{}, fmt.Errorf("--%s %q: %w", k, v, err)
			}
			setBy[k] = "--" + k
		}
	}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return build.ResourceLimits{}, fmt.Errorf("--resource %q: use KEY=VALUE, KEY one of %s", s, oneOf(ResourceKeys))
		}
		if err := setResource(&r, k, strings.TrimSpace(v)); err != nil {
			return build.ResourceLimits{}, fmt.Errorf("--resource %q: %w", s, err)
		}
		setBy[k] = "--resource " + k
	}
	return r, checkResources(r, setBy)
}

// setResource sets the limit key of r to v.
func setResource(r *build.ResourceLimits, key, v string) error {
	var err error
	switch key {
	case "memory":
		r.Memory, err = bytesOf(v)
	case "memory-swap":
		r.MemorySwap = -1
		if v != "-1" {
			r.MemorySwap, err = bytesOf(v)
		}
	case "cpu-shares":
		r.CPUShares, err = count(v, 0, "a relative weight ≥ 0")
	case "cpu-period":
		r.CPUPeriod, err = count(v, 1000, "microseconds, from 1000 (1ms) to 1000000 (1s)")
		if err == nil && r.CPUPeriod > 1000000 {
			err = fmt.Errorf("%d is more than 1000000 microseconds (1s)", r.CPUPeriod)
		}
	case "cpu-quota":
		r.CPUQuota, err = count(v, 1000, "microseconds per period, at least 1000 (1ms)")
	case "cpuset-cpus":
		r.CPUSetCPUs, err = cpus(v)
	case "cpuset-mems":
		r.CPUSetMems, err = cpus(v)
	default:
		return fmt.Errorf("unknown resource %q: use one of %s", key, oneOf(ResourceKeys))
	}
	return err
}

// count reads a non-negative integer; a value other than 0 is at least
// minimum.
func count(v string, minimum int64, what string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || (n != 0 && n < minimum) {
		return 0, fmt.Errorf("not a number of %s", what)
	}
	return n, nil
}

// cpus reads a cpuset ("0-3,5") in its canonical form.
func cpus(v string) (string, error) {
	set, err := cpuset.Parse(v)
	if err != nil {
		return "", fmt.Errorf("not a list of CPUs or memory nodes such as 0-3 or 0,1: %w", err)
	}
	return cpuset.Format(set), nil
}

// checkResources checks the limits that go together, as docker run does:
// memory-swap is memory plus swap, so a size needs memory and is at least
// it (-1, unlimited swap, needs neither).
func checkResources(r build.ResourceLimits, setBy map[string]string) error {
	if r.MemorySwap <= 0 {
		return nil
	}
	if r.Memory == 0 {
		return fmt.Errorf("%s needs a memory limit (--memory or --resource memory=…): memory-swap is memory plus swap", setBy["memory-swap"])
	}
	if r.MemorySwap < r.Memory {
		return fmt.Errorf("%s %d is less than %s %d: memory-swap is memory plus swap", setBy["memory-swap"], r.MemorySwap, setBy["memory"], r.Memory)
	}
	return nil
}

// FormatResources is the --resource values of r, the limits it sets.
func FormatResources(r build.ResourceLimits) []string {
	var out []string
	for _, kv := range []struct {
		key string
		v   int64
	}{{"memory", r.Memory}, {"memory-swap", r.MemorySwap}, {"cpu-shares", r.CPUShares}, {"cpu-period", r.CPUPeriod}, {"cpu-quota", r.CPUQuota}} {
		if kv.v != 0 {
			out = append(out, kv.key+"="+strconv.FormatInt(kv.v, 10))
		}
	}
	if r.CPUSetCPUs != "" {
		out = append(out, "cpuset-cpus="+r.CPUSetCPUs)
	}
	if r.CPUSetMems != "" {
		out = append(out, "cpuset-mems="+r.CPUSetMems)
	}
	return out
}
