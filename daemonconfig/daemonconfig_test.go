package daemonconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		name    string
		json    string
		want    *Config
		wantErr string
	}{
		{name: "empty file", json: "", want: &Config{}},
		{
			name: "features and unknown keys", json: `{"features":{"buildkit":false},"log-driver":"json-file","bridge":"none"}`,
			want: &Config{Features: Features{BuildKit: &no}},
		},
		{
			name: "builder", json: `{"builder":{"gc":{"enabled":true,"defaultKeepStorage":"10GB","policy":[{"keepStorage":"1GB","filter":["unused-for=24h"]},{"all":true,"maxUsedSpace":"20%"}]},"entitlements":{"network-host":false,"security-insecure":true}}}`,
			want: &Config{Builder: Builder{
				GC:           GC{Enabled: &yes, DefaultKeepStorage: "10GB", Policy: []GCRule{{KeepStorage: "1GB", Filter: []string{"unused-for=24h"}}, {All: true, MaxUsedSpace: "20%"}}},
				Entitlements: Entitlements{NetworkHost: &no, SecurityInsecure: &yes},
			}},
		},
		{
			name: "registries", json: `{"registry-mirrors":["http://127.0.0.1:5000"],"insecure-registries":["127.0.0.1:5000"]}`,
			want: &Config{RegistryMirrors: []string{"http://127.0.0.1:5000"}, InsecureRegistries: []string{"127.0.0.1:5000"}},
		},
		{name: "malformed", json: "{\n  \"features\": {\n    \"buildkit\": true,\n  }\n}", wantErr: "daemon.json:4:3: malformed JSON"},
		{name: "buildkit not a bool", json: `{"features":{"buildkit":"yes"}}`, wantErr: `key "features.buildkit": got a JSON string, want a boolean`},
		{name: "gc enabled not a bool", json: "{\"builder\":\n {\"gc\":{\"enabled\":1}}}", wantErr: `daemon.json:2:20: key "builder.gc.enabled": got a JSON number, want a boolean`},
		{name: "mirrors not a list", json: `{"registry-mirrors":"http://x"}`, wantErr: `key "registry-mirrors": got a JSON string, want an array`},
		{name: "mirror without scheme", json: `{"registry-mirrors":["mirror.local"]}`, wantErr: `registry-mirrors[0]: "mirror.local" must start with http:// or https://`},
		{name: "entitlement not a bool", json: `{"builder":{"entitlements":{"network-host":"no"}}}`, wantErr: `key "builder.entitlements.network-host"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(strings.NewReader(tc.json), "daemon.json")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBuildKitAndEntitlements(t *testing.T) {
	t.Parallel()
	c, err := Load(strings.NewReader(`{"features":{"buildkit":false}}`), "x")
	require.NoError(t, err)
	v, set := c.BuildKit()
	assert.False(t, v)
	assert.True(t, set)
	assert.Equal(t, []string{"network.host"}, c.AllowedEntitlements())

	c, err = Load(strings.NewReader(`{"builder":{"entitlements":{"network-host":false,"security-insecure":true}}}`), "x")
	require.NoError(t, err)
	_, set = c.BuildKit()
	assert.False(t, set)
	assert.Equal(t, []string{"security.insecure"}, c.AllowedEntitlements())
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := LoadFile(filepath.Join(dir, "missing.json"))
	require.NoError(t, err)
	assert.Equal(t, &Config{}, c)

	p := filepath.Join(dir, "daemon.json")
	require.NoError(t, os.WriteFile(p, []byte("{oops"), 0o644))
	_, err = LoadFile(p)
	require.ErrorContains(t, err, p+":1:2: malformed JSON")

	_, err = LoadFile(dir)
	require.ErrorContains(t, err, dir)
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{`{}`, `{"features":{"buildkit":true}}`, `{"builder":{"gc":{"policy":[{}]}}}`, "{\n", `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Load(strings.NewReader(s), "daemon.json")
		if err != nil {
			assert.Contains(t, err.Error(), "daemon.json")
			return
		}
		require.NotNil(t, c)
	})
}

func TestLoadChecksGC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ json, want string }{
		{`{"builder":{"gc":{"defaultMaxUsedSpace":"lots"}}}`, `builder.gc.defaultMaxUsedSpace: "lots" is not a size`},
		{`{"builder":{"gc":{"policy":[{},{"keepDuration":"soon"}]}}}`, `builder.gc.policy[1].keepDuration: "soon" is not a duration`},
		{`{"builder":{"gc":{"policy":[{"reservedSpace":"12 parsecs"}]}}}`, `builder.gc.policy[0].reservedSpace: "12 parsecs" is not a size`},
	} {
		_, err := Load(strings.NewReader(tc.json), "daemon.json")
		require.ErrorContains(t, err, "daemon.json: "+tc.want)
	}
	cfg, err := Load(strings.NewReader(`{"builder":{"gc":{"defaultKeepStorage":"10GB","policy":[{"keepStorage":"1GB","keepDuration":"48h"}]}}}`), "daemon.json")
	require.NoError(t, err)
	gc, err := cfg.BuildKitGC()
	require.NoError(t, err)
	assert.Equal(t, int64(10<<30), gc.GCReservedSpace.Bytes, "sizes are docker's binary units")
	require.Len(t, gc.GCPolicy, 1)
	assert.Equal(t, int64(1<<30), gc.GCPolicy[0].ReservedSpace.Bytes)
	assert.Equal(t, "48h0m0s", gc.GCPolicy[0].KeepDuration.String())
}

func TestBuildHistory(t *testing.T) {
	t.Parallel()
	zero, fifty := int64(0), int64(50)
	for _, tc := range []struct {
		name, json string
		want       HistoryLimits
		err        string
	}{
		{name: "unset", json: `{}`},
		{name: "docker's example", json: `{"builder":{"history":{"maxAge":"48h","maxEntries":50}}}`, want: HistoryLimits{MaxAge: 48 * time.Hour, MaxEntries: &fifty}},
		{name: "off", json: `{"builder":{"history":{"maxEntries":0}}}`, want: HistoryLimits{MaxEntries: &zero}},
		{name: "bad age", json: `{"builder":{"history":{"maxAge":"two days"}}}`, err: `daemon.json: builder.history.maxAge: "two days" is not a duration (e.g. 48h)`},
		{name: "negative age", json: `{"builder":{"history":{"maxAge":"-1h"}}}`, err: `builder.history.maxAge: "-1h" is not a duration`},
		{name: "negative entries", json: `{"builder":{"history":{"maxEntries":-1}}}`, err: `daemon.json: builder.history.maxEntries: -1 is negative (0 turns build records off)`},
		{name: "entries a string", json: `{"builder":{"history":{"maxEntries":"50"}}}`, err: `key "builder.history.maxEntries": got a JSON string, want a number`},
		{name: "age a number", json: `{"builder":{"history":{"maxAge":172800}}}`, err: `key "builder.history.maxAge": got a JSON number, want a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(strings.NewReader(tc.json), "daemon.json")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			got, err := c.BuildHistory()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
