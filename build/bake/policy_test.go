package bake

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPolicyEntry: an entry's Flag is the --policy value that parses back
// to it, and its JSON is buildx's PolicyConfig.
func TestPolicyEntry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, flag, json string }{
		{"filename=a.rego", "filename=a.rego", `{"Files":[{"Filename":"a.rego","Data":null}],"Reset":false,"Disabled":false,"Strict":null,"LogLevel":null}`},
		{"Strict=false,log-level=warn", "strict=false,log-level=warning", `{"Files":null,"Reset":false,"Disabled":false,"Strict":false,"LogLevel":"warning"}`},
		{`"filename=a,b.rego",reset=1`, `"filename=a,b.rego",reset=true`, `{"Files":[{"Filename":"a,b.rego","Data":null}],"Reset":true,"Disabled":false,"Strict":null,"LogLevel":null}`},
		{"disabled=true", "disabled=true", `{"Files":null,"Reset":false,"Disabled":true,"Strict":null,"LogLevel":null}`},
	} {
		e, err := parsePolicy(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.flag, e.Flag())
		again, err := parsePolicy(e.Flag())
		require.NoError(t, err)
		assert.Equal(t, e, again)
		dt, err := json.Marshal(e)
		require.NoError(t, err)
		assert.JSONEq(t, tc.json, string(dt))
	}
	_, err := parsePolicy("filename=a.rego,color=blue")
	require.EqualError(t, err, `policy: unknown key "color": use filename, reset, disabled, strict or log-level`)
}
