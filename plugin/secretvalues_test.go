package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, value string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(value), 0o600))
		return p
	}
	file := write("file", "from-file")
	withNewline := write("newline", "token\n")
	empty := write("empty", "")
	big := write("big", strings.Repeat("x", secretsprovider.MaxSecretSize+1))
	atLimit := write("limit", strings.Repeat("y", secretsprovider.MaxSecretSize))
	named := write("NAMED_FILE", "from-named-file")
	environ := func(k string) (string, bool) {
		v, ok := map[string]string{"TOKEN": "from-env", "NAMED_VAR": "from-named-var", "EMPTY": "", "CRLF": "line\r\n"}[k]
		return v, ok
	}

	tests := []struct {
		name    string
		specs   []string
		want    []string
		wantErr string
	}{
		{name: "none"},
		{name: "src", specs: []string{"id=a,src=" + file}, want: []string{"from-file"}},
		{name: "source", specs: []string{"id=a,source=" + file}, want: []string{"from-file"}},
		{name: "type=file", specs: []string{"type=file,id=a,src=" + file}, want: []string{"from-file"}},
		{name: "env", specs: []string{"id=a,env=TOKEN"}, want: []string{"from-env"}},
		{name: "type=env with src", specs: []string{"type=env,id=a,src=TOKEN"}, want: []string{"from-env"}},
		{name: "id names a variable", specs: []string{"id=NAMED_VAR"}, want: []string{"from-named-var"}},
		{name: "id names a file", specs: []string{"id=" + named}, want: []string{"from-named-file"}},
		{name: "a line break is also left off", specs: []string{"id=a,src=" + withNewline, "id=b,env=CRLF"}, want: []string{"token\n", "token", "line\r\n", "line"}},
		{name: "empty values", specs: []string{"id=a,src=" + empty, "id=b,env=EMPTY"}},
		{name: "too big is skipped", specs: []string{"id=a,src=" + big, "id=b,env=TOKEN", "id=" + big}, want: []string{"from-env"}},
		{name: "at the limit", specs: []string{"id=a,src=" + atLimit}, want: []string{strings.Repeat("y", secretsprovider.MaxSecretSize)}},
		{name: "missing file", specs: []string{"id=a,src=" + filepath.Join(dir, "missing")}, wantErr: `--secret id=a: reading "` + filepath.Join(dir, "missing") + `": no such file or directory`},
		{name: "directory", specs: []string{"id=a,src=" + dir}, wantErr: "is a directory"},
		{name: "unset variable", specs: []string{"id=a,env=UNSET"}, wantErr: "environment variable UNSET is not set"},
		{name: "syntax", specs: []string{"id=a,foo=from-env"}, wantErr: `unknown key "foo"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := secretValues(tc.specs, environ)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				for _, v := range []string{"from-env", "from-file", "from-named"} {
					assert.NotContains(t, err.Error(), v, "a secret value in an error message")
				}
				return
			}
			require.NoError(t, err)
			var values []string
			for _, v := range got {
				values = append(values, string(v))
			}
			assert.Equal(t, tc.want, values)
		})
	}
}
