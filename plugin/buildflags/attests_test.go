package buildflags

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		attests    []string
		sbom, prov string
		noDefault  bool
		want       map[string]string
		wantErr    string
	}{
		{name: "default provenance", want: map[string]string{"provenance": DefaultProvenance}},
		{name: "no default", noDefault: true, want: map[string]string{}},
		{name: "provenance false", prov: "false", want: map[string]string{}},
		{name: "provenance 0", prov: "0", want: map[string]string{}},
		{name: "provenance true", prov: "true", want: map[string]string{"provenance": "type=provenance"}},
		{name: "provenance true with no default", prov: "true", noDefault: true, want: map[string]string{"provenance": "type=provenance"}},
		{name: "provenance mode", prov: "mode=max", want: map[string]string{"provenance": "type=provenance,mode=max"}},
		{name: "sbom true", sbom: "true", want: map[string]string{"provenance": DefaultProvenance, "sbom": "type=sbom"}},
		{name: "sbom generator", sbom: "generator=reg/scanner:1", prov: "false", want: map[string]string{"sbom": "type=sbom,generator=reg/scanner:1"}},
		{name: "attest", attests: []string{"type=sbom", "type=provenance,mode=max,builder-id=x"}, want: map[string]string{
			"sbom": "type=sbom", "provenance": "type=provenance,builder-id=x,mode=max",
		}},
		{name: "attest disabled", attests: []string{"type=provenance,disabled=true"}, want: map[string]string{}},
		{name: "flag after attest wins", attests: []string{"type=provenance,mode=max"}, prov: "false", want: map[string]string{}},
		{name: "last of a type wins", attests: []string{"type=sbom", "type=sbom,disabled=true"}, noDefault: true, want: map[string]string{}},
		{name: "quoted value", attests: []string{`type=sbom,"generator=a,b"`}, prov: "0", want: map[string]string{"sbom": `type=sbom,"generator=a,b"`}},
		{name: "type case", attests: []string{"TYPE=sbom"}, noDefault: true, want: map[string]string{"sbom": "type=sbom"}},
		{name: "no type", attests: []string{"mode=max"}, wantErr: `--attest: "mode=max": attestation type not specified: give type=sbom or type=provenance`},
		{name: "unknown type", attests: []string{"type=vex"}, wantErr: `--attest: "type=vex": unknown attestation type "vex": use sbom or provenance`},
		{name: "not key=value", attests: []string{"type=sbom,foo"}, wantErr: `--attest: "type=sbom,foo": "foo" is not KEY=VALUE`},
		{name: "bad disabled", attests: []string{"type=sbom,disabled=maybe"}, wantErr: `--attest: "type=sbom,disabled=maybe": disabled=maybe: not a boolean`},
		{name: "bad mode", prov: "mode=full", wantErr: `--provenance: "type=provenance,mode=full": mode=full: provenance mode is min or max`},
		{name: "bad sbom", sbom: "yes please", wantErr: `--sbom: "type=sbom,yes please": "yes please" is not KEY=VALUE`},
		{name: "bad csv", attests: []string{`type=sbom,"x`}, wantErr: `--attest: "type=sbom,\"x": `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Attests(tc.attests, tc.sbom, tc.prov, tc.noDefault)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestAttestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"type=sbom", "type=sbom,disabled=true", "type=provenance,mode=max", `type=sbom,"generator=a,b",x=1`} {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			var a Attest
			require.NoError(t, a.UnmarshalText([]byte(s)))
			assert.Equal(t, s, a.String())
			var b Attest
			require.NoError(t, b.UnmarshalText([]byte(a.String())))
			assert.Equal(t, a, b)
		})
	}
}

func TestCanonicalAttest(t *testing.T) {
	t.Parallel()
	assert.Empty(t, CanonicalAttest("sbom", ""))
	assert.Equal(t, "type=sbom,disabled=false", CanonicalAttest("sbom", "true"))
	assert.Equal(t, "type=provenance,disabled=true", CanonicalAttest("provenance", "false"))
	assert.Equal(t, "type=provenance,mode=max", CanonicalAttest("provenance", "mode=max"))
}

func FuzzAttest(f *testing.F) {
	f.Add("type=sbom,generator=x")
	f.Add(`type=provenance,"a=b,c",mode=min`)
	f.Fuzz(func(t *testing.T, s string) {
		var a Attest
		if a.UnmarshalText([]byte(s)) != nil {
			return
		}
		var b Attest
		require.NoError(t, b.UnmarshalText([]byte(a.String())), a.String())
		assert.Equal(t, a, b)
	})
}
