package plugin

import (
	"testing"

	"github.com/docker-build2/docker-build2/build/bake"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestTargetBuildOptions(t *testing.T) {
	call, err := buildflags.ParseCall("build")
	require.NoError(t, err)
	tgt := &bake.Target{
		Name:       "app",
		Context:    ptr("web"),
		Dockerfile: ptr("app.Dockerfile"),
		Args:       map[string]*string{"B": ptr("2"), "A": ptr("1"), "UNSET": nil},
		Labels:     map[string]*string{"team": ptr("release")},
		ExtraHosts: map[string]*string{"db": ptr("10.0.0.2")},
		Contexts:   map[string]string{"base": "target:base", "lib": "libs"},
		Tags:       []string{"reg/app:1"},
		NoCache:    ptr(true),
		Target:     ptr("final"),
	}
	o := &bakeOptions{pull: true, allow: []string{"network.host"}, progress: "plain"}
	bo, contextArg, targets, err := targetBuildOptions(tgt, o, "build", call, "")
	require.NoError(t, err)
	assert.Equal(t, "web", contextArg)
	assert.Equal(t, "web/app.Dockerfile", bo.dockerfile, "relative to the context, as buildx")
	assert.Equal(t, []string{"A=1", "B=2"}, bo.buildArgs, "sorted, nil values left out")
	assert.Equal(t, []string{"team=release"}, bo.labels)
	assert.Equal(t, []string{"db=10.0.0.2"}, bo.addHosts)
	assert.Equal(t, []string{"lib=libs"}, bo.buildContexts)
	assert.Equal(t, map[string]string{"base": "base"}, targets)
	assert.True(t, bo.noCache)
	assert.True(t, bo.pull, "--pull applies to every target")
	assert.Equal(t, "final", bo.target)
	assert.Equal(t, "default", bo.network)
	assert.Equal(t, []string{"network.host"}, bo.allow)

	// In a remote definition, paths are the repository's.
	bo, contextArg, _, err = targetBuildOptions(tgt, o, "build", call, "https://example.com/r.git#v1")
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/r.git#v1:web", contextArg)
	assert.Equal(t, "app.Dockerfile", bo.dockerfile, "a path in the repository")
	assert.Equal(t, []string{"lib=https://example.com/r.git#v1:libs"}, bo.buildContexts)

	tgt.Attest = bake.Specs{flagSpec("type=sbom"), flagSpec("type=provenance,mode=max")}
	bo, _, _, err = targetBuildOptions(tgt, o, "build", call, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"type=sbom", "type=provenance,mode=max"}, bo.attests)
}

// flagSpec is a bake spec that is its flag.
type flagSpec string

func (f flagSpec) Flag() string { return string(f) }

// TestBakeAttestShorthands: --sbom and --provenance are --set *.attest=…
// after the --set given, as buildx has them.
func TestBakeAttestShorthands(t *testing.T) {
	t.Parallel()
	o := &bakeOptions{progress: "plain", call: "build", overrides: []string{"app.attest=type=sbom"}, sbom: "generator=r/s:1", provenance: "false"}
	_, _, _, err := o.parse()
	require.NoError(t, err)
	assert.Equal(t, []string{"app.attest=type=sbom", "*.attest=type=sbom,generator=r/s:1", "*.attest=type=provenance,disabled=true"}, o.overrides)
}

func TestInRemote(t *testing.T) {
	for _, c := range []struct{ remote, p, want, err string }{
		{"", "sub", "sub", ""},
		{"git://h/r.git#main", ".", "git://h/r.git#main", ""},
		{"git://h/r.git#main:dir", "sub", "git://h/r.git#main:dir/sub", ""},
		{"git://h/r.git", "sub", "git://h/r.git#:sub", ""},
		{"git://h/r.git#main", "cwd://local", "local", ""},
		{"git://h/r.git#main", "docker-image://alpine", "docker-image://alpine", ""},
		{"https://h/def.tar.gz", ".", "https://h/def.tar.gz", ""},
		{"https://h/def.tar.gz", "sub", "", "not a Git repository"},
	} {
		got, err := inRemote(c.remote, c.p)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%s %s", c.remote, c.p)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%s %s", c.remote, c.p)
	}
}

func TestLocalDests(t *testing.T) {
	assert.Equal(t, []string{"type=local,dest=out", "type=registry"}, localDests([]string{"type=local,dest=cwd://out", "type=registry"}))
}
