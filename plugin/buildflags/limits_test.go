package buildflags

import (
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShmSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "", want: 0},
		{in: "0", want: 0},
		{in: "65536", want: 65536},
		{in: "128m", want: 128 << 20},
		{in: "1G", want: 1 << 30},
		{in: "512kb", want: 512 << 10},
		{in: "1.5g", want: 3 << 29},
		{in: "lots", wantErr: `--shm-size "lots": not a size in bytes`},
		{in: "-1", wantErr: `--shm-size "-1"`},
		{in: "99999999999999999999p", wantErr: "too large"},
	} {
		got, err := ShmSize(tc.in)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestUlimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		specs   []string
		want    []build.Ulimit
		wantErr string
	}{
		{name: "none", want: []build.Ulimit{}},
		{name: "soft and hard", specs: []string{"nofile=1024:2048"}, want: []build.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}},
		{name: "soft only is both", specs: []string{"nproc=512"}, want: []build.Ulimit{{Name: "nproc", Soft: 512, Hard: 512}}},
		{name: "unlimited", specs: []string{"core=-1"}, want: []build.Ulimit{{Name: "core", Soft: -1, Hard: -1}}},
		{name: "soft below unlimited hard", specs: []string{"memlock=100:-1"}, want: []build.Ulimit{{Name: "memlock", Soft: 100, Hard: -1}}},
		{name: "later wins, sorted by name", specs: []string{"nproc=1", "nofile=2", "nproc=3:4"}, want: []build.Ulimit{{Name: "nofile", Soft: 2, Hard: 2}, {Name: "nproc", Soft: 3, Hard: 4}}},
		{name: "soft above hard", specs: []string{"nofile=2048:1024"}, wantErr: `--ulimit "nofile=2048:1024": ulimit soft limit must be less than or equal to hard limit`},
		{name: "unknown name", specs: []string{"files=10"}, wantErr: `--ulimit "files=10": invalid ulimit type: files`},
		{name: "no value", specs: []string{"nofile"}, wantErr: "use NAME=SOFT[:HARD]"},
		{name: "not a number", specs: []string{"nofile=many"}, wantErr: `--ulimit "nofile=many"`},
		{name: "three values", specs: []string{"nofile=1:2:3"}, wantErr: "too many limit value arguments"},
		{name: "negative", specs: []string{"nofile=-2"}, wantErr: "a limit is a number ≥ 0, or -1 for unlimited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Ulimits(tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFormatUlimitRoundTrip(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "nofile=1024:2048", FormatUlimit(build.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048}))
	for _, u := range []build.Ulimit{{Name: "nofile", Soft: 1, Hard: 2}, {Name: "core", Soft: -1, Hard: -1}, {Name: "stack", Soft: 8192, Hard: -1}} {
		back, err := Ulimits([]string{FormatUlimit(u)})
		require.NoError(t, err)
		assert.Equal(t, []build.Ulimit{u}, back)
	}
}

func TestResources(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		legacy  map[string]string
		specs   []string
		want    build.ResourceLimits
		wantErr string
	}{
		{name: "none"},
		{
			name:  "every --resource",
			specs: []string{"memory=1g", "memory-swap=2g", "cpu-shares=512", "cpu-period=100000", "cpu-quota=50000", "cpuset-cpus=0-3,5", "cpuset-mems=0"},
			want: build.ResourceLimits{
				Memory: 1 << 30, MemorySwap: 2 << 30, CPUShares: 512, CPUPeriod: 100000, CPUQuota: 50000, CPUSetCPUs: "0-3,5", CPUSetMems: "0",
			},
		},
		{name: "docker build's flags", legacy: map[string]string{"memory": "256m", "memory-swap": "-1", "cpuset-cpus": "1"}, want: build.ResourceLimits{Memory: 256 << 20, MemorySwap: -1, CPUSetCPUs: "1"}},
		{name: "--resource wins", legacy: map[string]string{"memory": "256m"}, specs: []string{"memory=128m"}, want: build.ResourceLimits{Memory: 128 << 20}},
		{name: "spaces trimmed", specs: []string{" memory = 64m "}, want: build.ResourceLimits{Memory: 64 << 20}},
		{name: "zero is no limit", specs: []string{"memory=0", "cpu-quota=0", "cpuset-cpus="}, want: build.ResourceLimits{}},
		{name: "cpuset made canonical", specs: []string{"cpuset-cpus=3,0,1,2, 7"}, want: build.ResourceLimits{CPUSetCPUs: "0-3,7"}},
		{name: "unlimited swap without memory", specs: []string{"memory-swap=-1"}, want: build.ResourceLimits{MemorySwap: -1}},
		{name: "bad memory flag", legacy: map[string]string{"memory": "lots"}, wantErr: `--memory "lots": not a size in bytes`},
		{name: "bad cpu-shares flag", legacy: map[string]string{"cpu-shares": "-5"}, wantErr: `--cpu-shares "-5": not a number of a relative weight`},
		{name: "unknown resource", specs: []string{"gpu=1"}, wantErr: `--resource "gpu=1": unknown resource "gpu": use one of memory, memory-swap`},
		{name: "no =", specs: []string{"memory"}, wantErr: `--resource "memory": use KEY=VALUE`},
		{name: "swap without memory", specs: []string{"memory-swap=1g"}, wantErr: "--resource memory-swap needs a memory limit"},
		{name: "swap flag without memory", legacy: map[string]string{"memory-swap": "1g"}, wantErr: "--memory-swap needs a memory limit"},
		{name: "swap below memory", legacy: map[string]string{"memory": "2g"}, specs: []string{"memory-swap=1g"}, wantErr: "--resource memory-swap 1073741824 is less than --memory 2147483648"},
		{name: "swap negative", specs: []string{"memory=1g", "memory-swap=-2"}, wantErr: `--resource "memory-swap=-2": not a size`},
		{name: "period too short", specs: []string{"cpu-period=999"}, wantErr: "from 1000 (1ms) to 1000000 (1s)"},
		{name: "period too long", specs: []string{"cpu-period=1000001"}, wantErr: "1000001 is more than 1000000 microseconds"},
		{name: "quota too short", legacy: map[string]string{"cpu-quota": "10"}, wantErr: `--cpu-quota "10": not a number of microseconds per period, at least 1000`},
		{name: "quota not a number", specs: []string{"cpu-quota=half"}, wantErr: `--resource "cpu-quota=half"`},
		{name: "bad cpuset", legacy: map[string]string{"cpuset-mems": "3-1"}, wantErr: `--cpuset-mems "3-1": not a list of CPUs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resources(tc.legacy, tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// resourcesRoundTrip checks that the values FormatResources gives for r
// parse back to r.
func resourcesRoundTrip(t *testing.T, r build.ResourceLimits) {
	t.Helper()
	specs := FormatResources(r)
	back, err := Resources(nil, specs)
	require.NoError(t, err, "FormatResources(%#v) = %q does not parse", r, specs)
	assert.Equal(t, r, back, "FormatResources(%#v) = %q", r, specs)
}

func TestResourcesRoundTrip(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"memory=1073741824", "memory-swap=-1", "cpuset-cpus=0-3"}, FormatResources(build.ResourceLimits{Memory: 1 << 30, MemorySwap: -1, CPUSetCPUs: "0-3"}))
	assert.Empty(t, FormatResources(build.ResourceLimits{}))
	for _, specs := range [][]string{
		nil, {"memory=1g", "memory-swap=3g"}, {"cpu-shares=2", "cpu-period=1000", "cpu-quota=1000000"}, {"cpuset-cpus=0,2-4", "cpuset-mems=1"}, {"memory-swap=-1"},
	} {
		r, err := Resources(nil, specs)
		require.NoError(t, err, specs)
		resourcesRoundTrip(t, r)
	}
}

func FuzzShmSize(f *testing.F) {
	for _, s := range []string{"", "0", "128m", "1.5GiB", "64 k", "lots", "-1", "9e18", "99999999999999999999p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ShmSize(s)
		if err != nil {
			assert.Contains(t, err.Error(), "--shm-size")
			return
		}
		assert.GreaterOrEqual(t, n, int64(0))
		back, err := ShmSize(FormatShmSize(n))
		require.NoError(t, err, n)
		assert.Equal(t, n, back)
	})
}

func FuzzUlimits(f *testing.F) {
	for _, s := range []string{"nofile=1024:2048", "nproc=1", "core=-1", "nofile=2:1", "bogus=1", "nofile", "nofile=+5", "stack=1:-1", "nofile=-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		us, err := Ulimits([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--ulimit")
			return
		}
		require.Len(t, us, 1)
		u := us[0]
		assert.True(t, u.Hard == -1 || (u.Soft >= 0 && u.Soft <= u.Hard), "%+v", u)
		assert.NotContains(t, FormatUlimit(u), ",", "BuildKit reads the ulimits as one CSV record")
		back, err := Ulimits([]string{FormatUlimit(u)})
		require.NoError(t, err, FormatUlimit(u))
		assert.Equal(t, us, back)
	})
}

func FuzzResources(f *testing.F) {
	for _, s := range []string{"memory=1g", "memory-swap=-1", "cpu-shares=512", "cpu-period=100000", "cpu-quota=1000", "cpuset-cpus=0-3,5", "cpuset-mems= 1 , 0", "gpu=1", "memory", "cpuset-cpus=9999-1"} {
		f.Add(s, "")
	}
	f.Add("memory=1g", "memory-swap=512m")
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := Resources(nil, []string{a, b})
		if err != nil {
			assert.Contains(t, err.Error(), "--resource")
			return
		}
		for _, v := range []int64{r.Memory, r.CPUShares, r.CPUPeriod, r.CPUQuota} {
			assert.GreaterOrEqual(t, v, int64(0))
		}
		assert.GreaterOrEqual(t, r.MemorySwap, int64(-1))
		assert.False(t, strings.ContainsAny(r.CPUSetCPUs+r.CPUSetMems, " \t"), "cpusets are canonical")
		resourcesRoundTrip(t, r)
	})
}
