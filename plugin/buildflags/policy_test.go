package buildflags

import (
	"testing"

	"github.com/docker-build2/docker-build2/build/policy"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	debug := logrus.DebugLevel
	tests := []struct {
		name    string
		specs   []string
		want    []policy.Config
		wantErr string
	}{
		{name: "none"},
		{name: "filename", specs: []string{"filename=a.rego"}, want: []policy.Config{{Files: []string{"a.rego"}}}},
		{name: "two files", specs: []string{"filename=a.rego,filename=cwd://b.rego"}, want: []policy.Config{{Files: []string{"a.rego", "cwd://b.rego"}}}},
		{name: "all keys", specs: []string{"filename=a.rego,reset=true,strict=false,log-level=debug"}, want: []policy.Config{{Files: []string{"a.rego"}, Reset: true, Strict: &no, LogLevel: &debug}}},
		{name: "strict alone", specs: []string{"strict=true"}, want: []policy.Config{{Strict: &yes}}},
		{name: "disabled", specs: []string{"disabled=1"}, want: []policy.Config{{Disabled: true}}},
		{name: "key case and space", specs: []string{" Strict=true"}, want: []policy.Config{{Strict: &yes}}},
		{name: "several", specs: []string{"filename=a.rego", "log-level=debug"}, want: []policy.Config{{Files: []string{"a.rego"}}, {LogLevel: &debug}}},
		{name: "unknown key", specs: []string{"foo=bar"}, wantErr: `--policy foo=bar: unknown key "foo": use filename, reset, disabled, strict or log-level`},
		{name: "not key=value", specs: []string{"a.rego"}, wantErr: `--policy a.rego: "a.rego" is not KEY=VALUE: use filename, reset, disabled, strict or log-level`},
		{name: "empty filename", specs: []string{"filename="}, wantErr: `--policy filename=: filename= is empty: name a .rego file`},
		{name: "bad bool", specs: []string{"strict=maybe"}, wantErr: `--policy strict=maybe: strict=maybe: not a boolean: use true or false`},
		{name: "bad level", specs: []string{"log-level=loud"}, wantErr: `--policy log-level=loud: log-level=loud: not a log level: use error, warn, info, debug or trace`},
		{name: "empty", specs: []string{""}, wantErr: `--policy : empty: give filename=PATH`},
		{name: "bad csv", specs: []string{`filename="a`}, wantErr: `--policy filename="a: `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Policies("--policy", tc.specs)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
