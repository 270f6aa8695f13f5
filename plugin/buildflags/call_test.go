package buildflags

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec    string
		want    Call
		wantErr string
	}{
		{spec: "build", want: Call{Name: "build", Format: "text"}},
		{spec: "check", want: Call{Name: "check", Format: "text"}},
		{spec: "outline,format=json", want: Call{Name: "outline", Format: "json"}},
		{spec: "check,ignorestatus=true", want: Call{Name: "check", Format: "text", IgnoreStatus: true}},
		{spec: "Targets", want: Call{Name: "targets", Format: "text"}},
		{spec: "lint", wantErr: `unknown method "lint"`},
		{spec: "check,format=yaml", wantErr: `format "yaml"`},
		{spec: "check,json", wantErr: "key=value"},
		{spec: "check,colour=red", wantErr: `unknown key "colour"`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCall(tc.spec)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "--call")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			back, err := ParseCall(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, back, "round trip")
		})
	}
}

func FuzzParseCall(f *testing.F) {
	for _, s := range []string{"build", "check,format=json", "outline,ignorestatus=true", "x", "check,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCall(s)
		if err != nil {
			assert.Contains(t, err.Error(), "--call")
			return
		}
		back, err := ParseCall(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back)
	})
}
