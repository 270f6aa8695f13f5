package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretValue = "WARMACHINEROX-do-not-print"

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "mysecret.txt")
	require.NoError(t, os.WriteFile(file, []byte(secretValue), 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("x", 500*1024+1)), 0o600))
	unreadable := filepath.Join(dir, "unreadable")
	require.NoError(t, os.WriteFile(unreadable, []byte(secretValue), 0o000))
	named := filepath.Join(dir, "NAMED")
	require.NoError(t, os.WriteFile(named, []byte(secretValue), 0o600))
	environ := env(map[string]string{"MY_ENV": secretValue, "NAMED_VAR": secretValue})

	tests := []struct {
		name    string
		in      string
		want    Spec
		wantErr string
	}{
		{name: "src", in: "id=mysecret,src=" + file, want: Spec{ID: "mysecret", FilePath: file}},
		{name: "source alias", in: "id=mysecret,source=" + file, want: Spec{ID: "mysecret", FilePath: file}},
		{name: "keys are case-insensitive", in: "ID=mysecret,SRC=" + file, want: Spec{ID: "mysecret", FilePath: file}},
		{name: "type=file", in: "type=file,id=s,src=" + file, want: Spec{ID: "s", FilePath: file}},
		{name: "env", in: "id=foo,env=MY_ENV", want: Spec{ID: "foo", Env: "MY_ENV"}},
		{name: "type=env with src", in: "type=env,id=foo,src=MY_ENV", want: Spec{ID: "foo", Env: "MY_ENV"}},
		{name: "shorthand takes the variable", in: "id=NAMED_VAR", want: Spec{ID: "NAMED_VAR", Env: "NAMED_VAR"}},
		{name: "shorthand falls back to the file", in: "id=" + named, want: Spec{ID: named, FilePath: named}},
		{name: "missing id", in: "src=" + file, wantErr: "id is missing"},
		{name: "unknown key", in: "id=a,foo=b", wantErr: `unknown key "foo"`},
		{name: "bad type", in: "id=a,type=ssh", wantErr: `unsupported type "ssh"`},
		{name: "not key=value", in: "id=a,src", wantErr: `"src" is not of the form key=value`},
		{name: "both src and env", in: "id=a,src=" + file + ",env=MY_ENV", wantErr: "either src or env"},
		{name: "missing file", in: "id=a,src=/nonexistent/s", wantErr: `--secret id=a: reading "/nonexistent/s": no such file or directory`},
		{name: "directory", in: "id=a,src=" + dir, wantErr: "is a directory"},
		{name: "too big", in: "id=a,src=" + big, wantErr: "over BuildKit's limit of 512000 bytes"},
		{name: "unset env", in: "id=a,env=UNSET_VAR", wantErr: "--secret id=a: environment variable UNSET_VAR is not set"},
		{name: "shorthand with neither", in: "id=NEITHER_VAR_NOR_FILE", wantErr: `--secret id=NEITHER_VAR_NOR_FILE: reading "NEITHER_VAR_NOR_FILE"`},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name    string
			in      string
			want    Spec
			wantErr string
		}{name: "unreadable", in: "id=a,src=" + unreadable, wantErr: "permission denied"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.in, environ)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), secretValue, "a secret value in an error message")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseSpecsDuplicate(t *testing.T) {
	t.Parallel()
	environ := env(map[string]string{"A": "1"})
	_, err := ParseSpecs([]string{"id=x,env=A", "id=x,env=A"}, environ)
	require.ErrorContains(t, err, "--secret id=x is given more than once")
	specs, err := ParseSpecs([]string{"id=x,env=A", "id=y,env=A"}, environ)
	require.NoError(t, err)
	assert.Len(t, specs, 2)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"id=a,src=/p", "id=a,env=B", `"id=a,b",src=/p`, `id=a,"src=/x,y"`} {
		var s Spec
		require.NoError(t, s.UnmarshalText([]byte(in)), in)
		assert.Equal(t, in, s.String())
		var back Spec
		require.NoError(t, back.UnmarshalText([]byte(s.String())))
		assert.Equal(t, s, back)
	}
}

func TestStoreReadsLazily(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "s")
	require.NoError(t, os.WriteFile(file, []byte("v1"), 0o600))
	specs, err := ParseSpecs([]string{"id=s,src=" + file, "id=e,env=E"}, env(map[string]string{"E": "from-env"}))
	require.NoError(t, err)
	st := &store{specs: map[string]Spec{"s": specs[0], "e": specs[1]}, lookupEnv: env(map[string]string{"E": "from-env"})}

	// The file is read when the step asks, not when parsed.
	require.NoError(t, os.WriteFile(file, []byte("v2"), 0o600))
	dt, err := st.GetSecret(t.Context(), "s")
	require.NoError(t, err)
	assert.Equal(t, "v2", string(dt))
	dt, err = st.GetSecret(t.Context(), "e")
	require.NoError(t, err)
	assert.Equal(t, "from-env", string(dt))
	_, err = st.GetSecret(t.Context(), "missing")
	require.Error(t, err)
	require.NoError(t, os.Remove(file))
	_, err = st.GetSecret(t.Context(), "s")
	require.ErrorContains(t, err, "no such file")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"id=a,src=/p", "id=a,env=B", "type=env,id=x,src=Y", `"id=a,b",src=/p`, "id=", "src=x", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s Spec
		if err := s.UnmarshalText([]byte(in)); err != nil {
			return
		}
		var back Spec
		require.NoError(t, back.UnmarshalText([]byte(s.String())), "String() of %q = %q", in, s.String())
		assert.Equal(t, s, back)
	})
}
