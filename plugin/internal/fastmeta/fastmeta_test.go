package fastmeta

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJSON: the metadata is written as docker/cli's plugin package writes
// it, escaping included.
func TestJSON(t *testing.T) {
	for _, version := range []string{"v0.1.0-dev", "845fbc5-dirty", `odd"ver\sion` + "\t\x01<&>"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "     ")
		require.NoError(t, enc.Encode(struct {
			SchemaVersion    string
			Vendor           string
			Version          string
			ShortDescription string
			URL              string
		}{SchemaVersion, Vendor, version, ShortDescription, URL}))
		assert.Equal(t, want.String(), string(JSON(version)), version)
	}
}
