package plugin

import (
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []string
		want    []output
		wantErr string
	}{
		{name: "local", specs: []string{"type=local,dest=out"}, want: []output{{Type: "local", Attrs: map[string]string{"dest": "out"}}}},
		{name: "bare path is local", specs: []string{"out"}, want: []output{{Type: "local", Attrs: map[string]string{"dest": "out"}}}},
		{name: "dash is tar on stdout", specs: []string{"-"}, want: []output{{Type: "tar", Attrs: map[string]string{"dest": "-"}}}},
		{name: "keys are case-insensitive", specs: []string{"type=oci,DEST=x.tar,name=a/b:1"}, want: []output{{Type: "oci", Attrs: map[string]string{"dest": "x.tar", "name": "a/b:1"}}}},
		{name: "quoted csv", specs: []string{`type=registry,"name=a/b:1,a/b:2"`}, want: []output{{Type: "registry", Attrs: map[string]string{"name": "a/b:1,a/b:2"}}}},
		{name: "several", specs: []string{"type=tar,dest=a.tar", "type=docker,dest=b.tar"}, want: []output{{Type: "tar", Attrs: map[string]string{"dest": "a.tar"}}, {Type: "docker", Attrs: map[string]string{"dest": "b.tar"}}}},
		{name: "unknown type", specs: []string{"type=bogus"}, wantErr: `unknown type "bogus"`},
		{name: "missing type", specs: []string{"dest=out"}, wantErr: "type is missing"},
		{name: "local without dest", specs: []string{"type=local"}, wantErr: "type=local needs dest=PATH"},
		{name: "oci without dest", specs: []string{"type=oci"}, wantErr: "type=oci needs dest=PATH"},
		{name: "field without value", specs: []string{"type=local,dest"}, wantErr: `"dest" is not of the form key=value`},
		{name: "empty", specs: []string{""}, wantErr: "empty value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOutputs(tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "--output")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseBuildArgs(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FROM_ENV": "env-value", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		specs   []string
		want    map[string]string
		wantErr string
	}{
		{name: "key=value", specs: []string{"A=1", "B=x=y"}, want: map[string]string{"A": "1", "B": "x=y"}},
		{name: "empty value", specs: []string{"A="}, want: map[string]string{"A": ""}},
		{name: "from environment", specs: []string{"FROM_ENV", "EMPTY"}, want: map[string]string{"FROM_ENV": "env-value", "EMPTY": ""}},
		{name: "unset environment is skipped", specs: []string{"NOT_SET"}, want: map[string]string{}},
		{name: "later wins", specs: []string{"A=1", "A=2"}, want: map[string]string{"A": "2"}},
		{name: "empty name", specs: []string{"=x"}, wantErr: `--build-arg "=x": the name before "=" is empty`},
		{name: "blank", specs: []string{""}, wantErr: "--build-arg"},
		{name: "whitespace in name", specs: []string{"A B=1"}, wantErr: "whitespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBuildArgs(tc.specs, lookup)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseExtraHosts(t *testing.T) {
	t.Parallel()
	got, err := parseExtraHosts([]string{"db:10.0.0.2", "v6=::1", "gw:host-gateway", "x:[fe80::1]"})
	require.NoError(t, err)
	assert.Equal(t, []string{"db=10.0.0.2", "v6=::1", "gw=host-gateway", "x=fe80::1"}, got)

	for _, bad := range []string{"nohost", ":1.2.3.4", "db:notanip"} {
		_, err := parseExtraHosts([]string{bad})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "--add-host")
		assert.Contains(t, err.Error(), bad)
	}
}

func TestParseCacheSpecs(t *testing.T) {
	t.Parallel()
	got, err := parseCacheSpecs("--cache-from", []string{"reg/app:cache", "type=local,src=dir", "type=registry,ref=r/a:c,mode=max"})
	require.NoError(t, err)
	assert.Equal(t, []client.CacheOptionsEntry{
		{Type: "registry", Attrs: map[string]string{"ref": "reg/app:cache"}},
		{Type: "local", Attrs: map[string]string{"src": "dir"}},
		{Type: "registry", Attrs: map[string]string{"ref": "r/a:c", "mode": "max"}},
	}, got)

	_, err = parseCacheSpecs("--cache-to", []string{"type=s4,ref=x"})
	require.ErrorContains(t, err, `--cache-to "type=s4,ref=x": unknown cache type "s4"`)
}

func TestIsArchive(t *testing.T) {
	t.Parallel()
	tarHeader := make([]byte, 512)
	copy(tarHeader[257:], "ustar")
	assert.True(t, isArchive(tarHeader))
	assert.True(t, isArchive([]byte{0x1f, 0x8b, 8, 0}))
	assert.False(t, isArchive([]byte("FROM scratch\nCOPY . /\n")))
	assert.False(t, isArchive(nil))
}

func FuzzParseOutputs(f *testing.F) {
	for _, s := range []string{"type=local,dest=out", "-", "out", `type=registry,"name=a,b"`, "type=bogus", "type=oci"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		outs, err := parseOutputs([]string{s})
		if err != nil {
			return
		}
		require.Len(t, outs, 1)
		assert.Contains(t, outputTypes, outs[0].Type)
	})
}

func FuzzParseBuildArgs(f *testing.F) {
	for _, s := range []string{"A=1", "A", "=x", "A B=1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseBuildArgs([]string{s}, func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		for k := range m {
			assert.NotEmpty(t, k)
		}
	})
}

func FuzzParseCacheSpecs(f *testing.F) {
	for _, s := range []string{"reg/app:cache", "type=local,src=dir", "type=registry,ref=r,mode=max", "type=", "x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := parseCacheSpecs("--cache-from", []string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--cache-from")
			return
		}
		require.Len(t, out, 1)
		assert.Contains(t, []string{"registry", "local", "inline"}, out[0].Type)
	})
}

func FuzzParseExtraHosts(f *testing.F) {
	for _, s := range []string{"db:10.0.0.2", "v6=::1", "gw:host-gateway", "x:[fe80::1]", "nohost", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := parseExtraHosts([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--add-host")
			return
		}
		require.Len(t, out, 1)
		assert.Contains(t, out[0], "=")
	})
}
