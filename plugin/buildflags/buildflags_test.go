package buildflags

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutputs(t *testing.T) {
	t.Parallel()
	none := map[string]string{}
	tests := []struct {
		name    string
		specs   []string
		want    []build.Output
		wantErr string
	}{
		{name: "none", specs: nil, want: nil},
		{name: "local", specs: []string{"type=local,dest=out"}, want: []build.Output{{Type: "local", Dest: "out", Attrs: none}}},
		{name: "bare path is local", specs: []string{"out"}, want: []build.Output{{Type: "local", Dest: "out", Attrs: none}}},
		{name: "dash is tar on stdout", specs: []string{"-"}, want: []build.Output{{Type: "tar", Dest: "-", Attrs: none}}},
		{name: "keys are case-insensitive", specs: []string{"type=oci,DEST=x.tar,Name=a/b:1"}, want: []build.Output{{Type: "oci", Dest: "x.tar", Attrs: map[string]string{"name": "a/b:1"}}}},
		{name: "keys are trimmed", specs: []string{"type=docker, dest=x.tar"}, want: []build.Output{{Type: "docker", Dest: "x.tar", Attrs: none}}},
		{name: "quoted csv", specs: []string{`type=registry,"name=a/b:1,a/b:2"`}, want: []build.Output{{Type: "registry", Attrs: map[string]string{"name": "a/b:1,a/b:2"}}}},
		{name: "value with =", specs: []string{"type=local,dest=a=b"}, want: []build.Output{{Type: "local", Dest: "a=b", Attrs: none}}},
		{name: "image with push", specs: []string{"type=image,name=r/a:1,push=true"}, want: []build.Output{{Type: "image", Attrs: map[string]string{"name": "r/a:1", "push": "true"}}}},
		{name: "docker without dest", specs: []string{"type=docker"}, want: []build.Output{{Type: "docker", Attrs: none}}},
		{name: "cacheonly", specs: []string{"type=cacheonly"}, want: []build.Output{{Type: "cacheonly", Attrs: none}}},
		{name: "several", specs: []string{"type=tar,dest=a.tar", "type=docker,dest=b.tar"}, want: []build.Output{{Type: "tar", Dest: "a.tar", Attrs: none}, {Type: "docker", Dest: "b.tar", Attrs: none}}},
		{name: "unknown type", specs: []string{"type=bogus"}, wantErr: `--output "type=bogus": unknown type "bogus": use one of local, tar, oci, docker, image, registry, cacheonly`},
		{name: "type is case-sensitive", specs: []string{"type=Local,dest=x"}, wantErr: `unknown type "Local"`},
		{name: "missing type", specs: []string{"dest=out"}, wantErr: `--output "dest=out": type is missing`},
		{name: "local without dest", specs: []string{"type=local"}, wantErr: "type=local needs dest=PATH"},
		{name: "tar without dest is stdout", specs: []string{"type=tar,name=x"}, want: []build.Output{{Type: "tar", Dest: "-", Attrs: map[string]string{"name": "x"}}}},
		{name: "oci without dest is stdout", specs: []string{"type=oci"}, want: []build.Output{{Type: "oci", Dest: "-", Attrs: none}}},
		{name: "oci directory without dest", specs: []string{"type=oci,tar=false"}, wantErr: "type=oci needs dest=PATH"},
		{name: "field without value", specs: []string{"type=local,dest"}, wantErr: `"dest" is not of the form key=value`},
		{name: "bad csv", specs: []string{`type=local,"dest=x`}, wantErr: `--output "type=local,\"dest=x"`},
		{name: "empty", specs: []string{""}, wantErr: "--output: empty value"},
		{name: "a bad one among good ones", specs: []string{"out", "type=bogus"}, wantErr: `unknown type "bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Outputs(tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "--output")
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFormatOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out  build.Output
		want string
	}{
		{build.Output{Type: "local", Dest: "out"}, "type=local,dest=out"},
		{build.Output{Type: "docker"}, "type=docker"},
		{build.Output{Type: "image", Attrs: map[string]string{"push": "true", "name": "r/a:1"}}, "type=image,name=r/a:1,push=true"},
		{build.Output{Type: "registry", Attrs: map[string]string{"name": "a,b"}}, `type=registry,"name=a,b"`},
		{build.Output{Type: "local", Dest: ` sp"ace`}, `type=local,"dest= sp""ace"`},
	} {
		assert.Equal(t, tc.want, FormatOutput(tc.out))
	}
}

// outputRoundTrip checks that the spec FormatOutput gives for out parses
// back to out.
func outputRoundTrip(t *testing.T, out build.Output) {
	t.Helper()
	spec := FormatOutput(out)
	back, err := Outputs([]string{spec})
	require.NoError(t, err, "FormatOutput(%#v) = %q does not parse", out, spec)
	require.Len(t, back, 1)
	assert.Equal(t, out, back[0], "FormatOutput(%#v) = %q", out, spec)
}

func TestOutputRoundTrip(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"type=local,dest=out", "out", "-", "./a dir/with spaces", "type=tar,dest=-", "type=oci,dest=x.tar,name=a/b:1,oci-mediatypes=true",
		`type=registry,"name=a/b:1,a/b:2"`, "type=image,name=r/a:1,push=true,compression=zstd,force-compression=true",
		"type=docker", "type=cacheonly", "type=local,dest=a=b", `type=local,"dest=quo""te"`, `type=local,"dest= leading space"`,
		`type=local,"dest=new` + "\n" + `line"`, "type=docker,dest=x.tar,empty=", `a"b`, "type=local,dest=x,=anonymous",
	} {
		outs, err := Outputs([]string{spec})
		require.NoError(t, err, spec)
		require.Len(t, outs, 1, spec)
		outputRoundTrip(t, outs[0])
	}
}

func TestCaches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flag    string
		specs   []string
		want    []build.CacheSpec
		wantErr string
	}{
		{name: "none", flag: "--cache-from", want: nil},
		{
			name:  "bare ref, local, registry",
			flag:  "--cache-from",
			specs: []string{"reg/app:cache", "type=local,src=dir", "type=registry,ref=r/a:c,mode=max"},
			want: []build.CacheSpec{
				{Type: "registry", Attrs: map[string]string{"ref": "reg/app:cache"}},
				{Type: "local", Attrs: map[string]string{"src": "dir"}},
				{Type: "registry", Attrs: map[string]string{"ref": "r/a:c", "mode": "max"}},
			},
		},
		{name: "inline", flag: "--cache-to", specs: []string{"type=inline"}, want: []build.CacheSpec{{Type: "inline", Attrs: map[string]string{}}}},
		{name: "keys are case-insensitive", flag: "--cache-to", specs: []string{"type=local,DEST=d,Mode=max"}, want: []build.CacheSpec{{Type: "local", Attrs: map[string]string{"dest": "d", "mode": "max"}}}},
		{name: "unknown type", flag: "--cache-to", specs: []string{"type=s4,ref=x"}, wantErr: `--cache-to "type=s4,ref=x": unknown cache type "s4": use one of registry, local, inline, gha, s3, azblob`},
		{name: "missing type", flag: "--cache-from", specs: []string{"ref=x"}, wantErr: `--cache-from "ref=x": unknown cache type ""`},
		{name: "field without value", flag: "--cache-from", specs: []string{"type=local,src"}, wantErr: `--cache-from "type=local,src": "src" is not of the form key=value`},
		{name: "bad csv", flag: "--cache-to", specs: []string{`type=local,"dest`}, wantErr: `--cache-to "type=local,\"dest"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Caches(tc.flag, tc.specs)
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

// cacheRoundTrip checks that the spec FormatCache gives for c parses back
// to c.
func cacheRoundTrip(t *testing.T, c build.CacheSpec) {
	t.Helper()
	spec := FormatCache(c)
	back, err := Caches("--cache-to", []string{spec})
	require.NoError(t, err, "FormatCache(%#v) = %q does not parse", c, spec)
	require.Len(t, back, 1)
	assert.Equal(t, c, back[0], "FormatCache(%#v) = %q", c, spec)
}

func TestCacheRoundTrip(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "type=registry,mode=max,ref=r/a:c", FormatCache(build.CacheSpec{Type: "registry", Attrs: map[string]string{"ref": "r/a:c", "mode": "max"}}))
	for _, spec := range []string{
		"reg/app:cache", "type=local,src=dir", "type=local,dest=d,mode=max", "type=registry,ref=r/a:c,mode=max,image-manifest=true",
		"type=inline", `type=registry,"ref=a,b"`, "a,b", "", `type=local,"src= padded "`, "type=local,src=x=y",
	} {
		cs, err := Caches("--cache-from", []string{spec})
		require.NoError(t, err, spec)
		require.Len(t, cs, 1, spec)
		cacheRoundTrip(t, cs[0])
	}
}

func TestBuildArgs(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FROM_ENV": "env-value", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		specs   []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", want: map[string]string{}},
		{name: "key=value", specs: []string{"A=1", "B=x=y"}, want: map[string]string{"A": "1", "B": "x=y"}},
		{name: "empty value", specs: []string{"A="}, want: map[string]string{"A": ""}},
		{name: "from environment", specs: []string{"FROM_ENV", "EMPTY"}, want: map[string]string{"FROM_ENV": "env-value", "EMPTY": ""}},
		{name: "unset environment is skipped", specs: []string{"NOT_SET"}, want: map[string]string{}},
		{name: "later wins", specs: []string{"A=1", "A=2"}, want: map[string]string{"A": "2"}},
		{name: "value keeps spaces", specs: []string{"A= x "}, want: map[string]string{"A": " x "}},
		{name: "empty name", specs: []string{"=x"}, wantErr: `--build-arg "=x": the name before "=" is empty`},
		{name: "blank name", specs: []string{" =x"}, wantErr: `the name before "=" is empty`},
		{name: "blank", specs: []string{""}, wantErr: `--build-arg "": the name before "=" is empty`},
		{name: "whitespace in name", specs: []string{"A B=1"}, wantErr: `--build-arg "A B=1": the name contains whitespace`},
		{name: "tab in name", specs: []string{"A\tB"}, wantErr: "whitespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := BuildArgs(tc.specs, lookup)
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

func TestLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", want: map[string]string{}},
		{name: "key=value", specs: []string{"a=1", "org.opencontainers.image.title=x=y"}, want: map[string]string{"a": "1", "org.opencontainers.image.title": "x=y"}},
		{name: "name alone is an empty label", specs: []string{"a"}, want: map[string]string{"a": ""}},
		{name: "later wins", specs: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{name: "empty name", specs: []string{"=x"}, wantErr: `--label "=x": the name before "=" is empty`},
		{name: "blank", specs: []string{""}, wantErr: `--label ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Labels(tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestExtraHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []string
		want    []string
		wantErr string
	}{
		{name: "none", want: []string{}},
		{name: "host:ip", specs: []string{"db:10.0.0.2"}, want: []string{"db=10.0.0.2"}},
		{name: "host=ip", specs: []string{"v6=::1"}, want: []string{"v6=::1"}},
		{name: "host:ipv6", specs: []string{"v6:::1"}, want: []string{"v6=::1"}},
		{name: "bracketed ipv6", specs: []string{"x:[fe80::1]"}, want: []string{"x=fe80::1"}},
		{name: "host-gateway", specs: []string{"gw:host-gateway"}, want: []string{"gw=host-gateway"}},
		{name: "several, in order", specs: []string{"b:1.1.1.1", "a:2.2.2.2"}, want: []string{"b=1.1.1.1", "a=2.2.2.2"}},
		{name: "no separator", specs: []string{"nohost"}, wantErr: `--add-host "nohost": use the format host:ip`},
		{name: "no host", specs: []string{":1.2.3.4"}, wantErr: `--add-host ":1.2.3.4": use the format host:ip`},
		{name: "no ip", specs: []string{"db="}, wantErr: `--add-host "db=": use the format host:ip`},
		{name: "not an ip", specs: []string{"db:notanip"}, wantErr: `--add-host "db:notanip": "notanip" is not an IP address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ExtraHosts(tc.specs)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPlatforms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []string
		want    []string
		wantErr string
	}{
		{name: "none", want: nil},
		{name: "one", specs: []string{"linux/amd64"}, want: []string{"linux/amd64"}},
		{name: "comma list and repeats, in order", specs: []string{"linux/arm64, linux/amd64", "linux/arm/v7"}, want: []string{"linux/arm64", "linux/amd64", "linux/arm/v7"}},
		{name: "empty items are skipped", specs: []string{",linux/amd64,,", ""}, want: []string{"linux/amd64"}},
		{name: "os alone", specs: []string{"linux"}, want: []string{"linux"}},
		{name: "bad", specs: []string{"linux//amd64"}, wantErr: `--platform "linux//amd64": `},
		{name: "bad in a list", specs: []string{"linux/amd64,not a platform"}, wantErr: `--platform "not a platform": `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Platforms("--platform", tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := Platforms("builder create --platform", []string{"x//y"})
	require.ErrorContains(t, err, `builder create --platform "x//y"`, "the flag named is the caller's")
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{in: "", want: ""},
		{in: "default", want: "default"},
		{in: "none", want: "none"},
		{in: "host", want: "host"},
		{in: "bridge", wantErr: `--network "bridge" is not supported: use default, none or host`},
		{in: "container:x", wantErr: `--network "container:x" is not supported`},
		{in: "Host", wantErr: `--network "Host" is not supported`},
	} {
		got, err := Network(tc.in)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		tags    []string
		wantErr string
	}{
		{name: "none"},
		{name: "short and full names", tags: []string{"app", "app:1", "example.com:5000/team/app:v1.2", "docker.io/library/app:latest"}},
		{name: "upper case", tags: []string{"app:1", "App:1"}, wantErr: `--tag "App:1": invalid reference format: repository name (library/App) must be lowercase`},
		{name: "empty", tags: []string{""}, wantErr: `--tag "": invalid reference format`},
		{name: "bad tag", tags: []string{"app:"}, wantErr: `--tag "app:": invalid reference format`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Tags(tc.tags)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.tags, got, "tags are kept as given")
		})
	}
}

func TestOneOf(t *testing.T) {
	t.Parallel()
	assert.Empty(t, oneOf(nil))
	assert.Equal(t, "a", oneOf([]string{"a"}))
	assert.Equal(t, "a or b", oneOf([]string{"a", "b"}))
	assert.Equal(t, "a, b or c", oneOf([]string{"a", "b", "c"}))
}

func FuzzOutputs(f *testing.F) {
	for _, s := range []string{
		"type=local,dest=out", "-", "out", `type=registry,"name=a,b"`, "type=bogus", "type=oci", "type=local,dest",
		`type=local,"dest= x"`, "type=docker,dest=x.tar,Name=y", `type=tar,"dest=a""b"`, "type=local,dest=x,=v", "type=image,push=true",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		outs, err := Outputs([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--output")
			return
		}
		require.Len(t, outs, 1)
		assert.Contains(t, OutputTypes, outs[0].Type)
		assert.NotNil(t, outs[0].Attrs)
		assert.NotContains(t, outs[0].Attrs, "dest", "dest is Output.Dest")
		outputRoundTrip(t, outs[0])
	})
}

func FuzzCaches(f *testing.F) {
	for _, s := range []string{"reg/app:cache", "type=local,src=dir", "type=registry,ref=r,mode=max", "type=", "x=y", "a,b", `type=local,"src= x"`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Caches("--cache-from", []string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--cache-from")
			return
		}
		require.Len(t, out, 1)
		assert.Contains(t, CacheTypes, out[0].Type)
		cacheRoundTrip(t, out[0])
	})
}

func FuzzBuildArgs(f *testing.F) {
	for _, s := range []string{"A=1", "A", "=x", "A B=1", "", "A==", " A=1", "A=\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := BuildArgs([]string{s}, func(k string) (string, bool) { return "env of " + k, true })
		if err != nil {
			assert.Contains(t, err.Error(), "--build-arg")
			return
		}
		require.Len(t, m, 1)
		for k, v := range m {
			assert.NotEmpty(t, strings.TrimSpace(k))
			assert.NotContains(t, k, "=")
			// KEY=VALUE gives back the same pair.
			back, err := BuildArgs([]string{k + "=" + v}, func(string) (string, bool) { return "", false })
			require.NoError(t, err, "%q=%q", k, v)
			assert.Equal(t, m, back)
		}
	})
}

func FuzzExtraHosts(f *testing.F) {
	for _, s := range []string{"db:10.0.0.2", "v6=::1", "v6:::1", "gw:host-gateway", "x:[fe80::1]", "nohost", ":", "a:b=1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ExtraHosts([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--add-host")
			return
		}
		require.Len(t, out, 1)
		host, ip, ok := strings.Cut(out[0], "=")
		require.True(t, ok, out[0])
		assert.NotEmpty(t, host)
		assert.NotEmpty(t, ip)
		// host=ip parses back to itself.
		back, err := ExtraHosts(out)
		require.NoError(t, err, out[0])
		assert.Equal(t, out, back)
	})
}

func FuzzPlatforms(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64,linux/amd64", " linux/arm/v7 ,", "linux//amd64", "", "windows/amd64/10.0.17763", "linux(5.10)/amd64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Platforms("--platform", []string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--platform")
			return
		}
		for _, p := range out {
			assert.NotEmpty(t, p)
			assert.Equal(t, strings.TrimSpace(p), p)
			assert.NotContains(t, p, ",")
		}
		// The platforms parse back to themselves, given one by one or as
		// one comma-separated list.
		back, err := Platforms("--platform", out)
		require.NoError(t, err, out)
		assert.Equal(t, out, back)
		if len(out) > 0 {
			joined, err := Platforms("--platform", []string{strings.Join(out, ",")})
			require.NoError(t, err, out)
			assert.True(t, slices.Equal(out, joined), "%q != %q", out, joined)
		}
	})
}
