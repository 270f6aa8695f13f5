package daemonconfig

import (
	"fmt"

	"github.com/moby/buildkit/cmd/buildkitd/config"
)

// BuildKitGC returns builder.gc as BuildKit's GC configuration, as dockerd
// maps it: defaultKeepStorage is the legacy name of defaultReservedSpace
// (the newer key wins when both are set), and keepStorage that of
// reservedSpace. Load has checked every value; an error names the key.
func (c *Config) BuildKitGC() (config.GCConfig, error) {
	var out config.GCConfig
	if c == nil {
		return out, nil
	}
	gc := c.Builder.GC
	out.GC = gc.Enabled
	if err := parseSizes([]sizeField{
		{"builder.gc.defaultKeepStorage", gc.DefaultKeepStorage, &out.GCReservedSpace},
		{"builder.gc.defaultReservedSpace", gc.DefaultReservedSpace, &out.GCReservedSpace},
		{"builder.gc.defaultMaxUsedSpace", gc.DefaultMaxUsedSpace, &out.GCMaxUsedSpace},
		{"builder.gc.defaultMinFreeSpace", gc.DefaultMinFreeSpace, &out.GCMinFreeSpace},
	}); err != nil {
		return out, err
	}
	for i, r := range gc.Policy {
		p := config.GCPolicy{All: r.All, Filters: r.Filter}
		key := fmt.Sprintf("builder.gc.policy[%d]", i)
		if err := parseSizes([]sizeField{
			{key + ".keepStorage", r.KeepStorage, &p.ReservedSpace},
			{key + ".reservedSpace", r.ReservedSpace, &p.ReservedSpace},
			{key + ".maxUsedSpace", r.MaxUsedSpace, &p.MaxUsedSpace},
			{key + ".minFreeSpace", r.MinFreeSpace, &p.MinFreeSpace},
		}); err != nil {
			return out, err
		}
		if err := p.KeepDuration.UnmarshalText([]byte(r.KeepDuration)); err != nil {
			return out, fmt.Errorf("%s.keepDuration: %q is not a duration (e.g. 48h)", key, r.KeepDuration)
		}
		out.GCPolicy = append(out.GCPolicy, p)
	}
	return out, nil
}

// sizeField is a daemon.json size (such as "10GB" or "20%") and where it goes.
type sizeField struct {
	key string
	val string
	dst *config.DiskSpace
}

// parseSizes parses the set fields in order; an error names the key.
func parseSizes(fields []sizeField) error {
	for _, f := range fields {
		if f.val == "" {
			continue
		}
		if err := f.dst.UnmarshalText([]byte(f.val)); err != nil {
			return fmt.Errorf("%s: %q is not a size (e.g. 10GB or 20%%)", f.key, f.val)
		}
	}
	return nil
}
