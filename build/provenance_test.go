package build

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMetadataProvenance(t *testing.T) {
	for in, want := range map[string]MetadataProvenance{
		"": MetadataProvenanceMin, "min": MetadataProvenanceMin, "max": MetadataProvenanceMax,
		"disabled": MetadataProvenanceDisabled, "false": MetadataProvenanceDisabled, "0": MetadataProvenanceDisabled,
		"true": MetadataProvenanceMin, "bogus": MetadataProvenanceMin,
	} {
		assert.Equal(t, want, ParseMetadataProvenance(in), in)
	}
}

// An SLSA v1 predicate as BuildKit's history records it.
const slsa1Predicate = `{
  "buildDefinition": {
    "buildType": "https://mobyproject.org/buildkit@v1",
    "externalParameters": {"configSource": {"path": "Dockerfile"}, "request": {"frontend": "dockerfile.v0"}},
    "internalParameters": {"buildConfig": {"llbDefinition": [{"id": "step0"}]}},
    "resolvedDependencies": [{"uri": "pkg:docker/busybox@latest", "digest": {"sha256": "abc"}}]
  },
  "runDetails": {"builder": {"id": ""}, "metadata": {"invocationID": "ref1"}}
}`

func TestEncodeProvenance(t *testing.T) {
	decode := func(v string) map[string]json.RawMessage {
		dt, err := base64.StdEncoding.DecodeString(v)
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(dt, &m))
		return m
	}
	v, err := encodeProvenance([]byte(slsa1Predicate), "https://slsa.dev/provenance/v1", MetadataProvenanceMin)
	require.NoError(t, err)
	m := decode(v)
	assert.JSONEq(t, `"https://mobyproject.org/buildkit@v1"`, string(m["buildType"]), "SLSA v0.2 form")
	assert.Contains(t, string(m["materials"]), "pkg:docker/busybox@latest")
	assert.NotContains(t, m, "buildConfig")
	assert.NotContains(t, m, "metadata")

	v, err = encodeProvenance([]byte(slsa1Predicate), "https://slsa.dev/provenance/v1", MetadataProvenanceMax)
	require.NoError(t, err)
	m = decode(v)
	assert.Contains(t, string(m["buildConfig"]), "llbDefinition")
	assert.Contains(t, string(m["metadata"]), "ref1")

	_, err = encodeProvenance([]byte("{"), "https://slsa.dev/provenance/v1", MetadataProvenanceMin)
	assert.ErrorContains(t, err, "decoding the build's provenance")
}
