package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func names(sets []Set) [][]string {
	var out [][]string
	for _, s := range sets {
		var n []string
		for _, f := range s.Files {
			n = append(n, f.Filename)
		}
		out = append(out, n)
	}
	return out
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	write("Dockerfile", "FROM scratch\n")
	write("Dockerfile.rego", "package docker\n")
	write("app.Dockerfile", "FROM scratch\n")
	write("extra.rego", "package docker\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "dir.Dockerfile.rego"), 0o755))
	yes := true
	debug := logrus.DebugLevel
	def := filepath.Join(dir, "Dockerfile.rego")
	tests := []struct {
		name       string
		dockerfile string
		configs    []Config
		want       [][]string
		wantStrict []bool
		wantErr    string
	}{
		{name: "default file", dockerfile: "Dockerfile", want: [][]string{{def}}, wantStrict: []bool{false}},
		{name: "no default file", dockerfile: "app.Dockerfile"},
		{name: "strict alone, no file", dockerfile: "app.Dockerfile", configs: []Config{{Strict: &yes}}, wantErr: "--policy strict=true: no policy found (no app.Dockerfile.rego beside the Dockerfile, no filename= given)"},
		{name: "strict on default", dockerfile: "Dockerfile", configs: []Config{{Strict: &yes}}, want: [][]string{{def}}, wantStrict: []bool{true}},
		{name: "extra file added", dockerfile: "Dockerfile", configs: []Config{{Files: []string{"extra.rego"}}}, want: [][]string{{def}, {"extra.rego"}}, wantStrict: []bool{false, false}},
		{name: "reset", dockerfile: "Dockerfile", configs: []Config{{Files: []string{"extra.rego"}, Reset: true}}, want: [][]string{{"extra.rego"}}, wantStrict: []bool{false}},
		{name: "pending strict goes to next", dockerfile: "app.Dockerfile", configs: []Config{{Strict: &yes}, {Files: []string{"extra.rego"}}}, want: [][]string{{"extra.rego"}}, wantStrict: []bool{true}},
		{name: "absolute inside context", dockerfile: "app.Dockerfile", configs: []Config{{Files: []string{filepath.Join(dir, "extra.rego")}}}, want: [][]string{{filepath.Join(dir, "extra.rego")}}, wantStrict: []bool{false}},
		{name: "disabled", dockerfile: "Dockerfile", configs: []Config{{Disabled: true}}},
		{name: "disabled combined", dockerfile: "Dockerfile", configs: []Config{{Disabled: true, LogLevel: &debug}}, wantErr: "disabled policy cannot be combined with other policy flags"},
		{name: "disabled with another entry", dockerfile: "Dockerfile", configs: []Config{{Disabled: true}, {Strict: &yes}}, wantErr: "disabled policy cannot be combined with other policy flags"},
		{name: "unreadable default file, disabled", dockerfile: "dir.Dockerfile", configs: []Config{{Disabled: true}}, wantErr: "failed to read policy file " + filepath.Join(dir, "dir.Dockerfile.rego")},
		{name: "unreadable default file, disabled combined", dockerfile: "dir.Dockerfile", configs: []Config{{Disabled: true, Reset: true}}, wantErr: "failed to read policy file " + filepath.Join(dir, "dir.Dockerfile.rego")},
		{name: "missing file", dockerfile: "Dockerfile", configs: []Config{{Files: []string{"nope.rego"}}}, wantErr: "policy file nope.rego not found"},
		{name: "outside the context", dockerfile: "Dockerfile", configs: []Config{{Files: []string{"../x.rego"}}}, wantErr: "failed to read policy file ../x.rego"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sets, err := Load(Inputs{ContextDir: dir, DockerfileDir: dir, DockerfileName: tc.dockerfile, Configs: tc.configs})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, names(sets))
			var strict []bool
			for _, s := range sets {
				strict = append(strict, s.Strict)
			}
			assert.Equal(t, tc.wantStrict, strict)
		})
	}
}

func TestLoadTarContext(t *testing.T) {
	t.Parallel()
	_, err := Load(Inputs{Configs: []Config{{Files: []string{"p.rego"}}}})
	require.Error(t, err)
	assert.Equal(t, "policy file p.rego: the build context is not a local directory, so its files cannot be read: name a local file as cwd://p.rego", err.Error())
}

// TestLoadRemoteContext: the policies of a Git context are its files,
// left for Attach to read through the builder; a cwd:// one is read here.
func TestLoadRemoteContext(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, os.WriteFile("ci.rego", []byte("package docker\n"), 0o600))
	sets, err := Load(Inputs{ContextURL: "https://github.com/org/repo.git#main", DockerfileName: "app.Dockerfile", Configs: []Config{{Files: []string{"more.rego", "cwd://ci.rego"}}}})
	require.NoError(t, err)
	require.Len(t, sets, 2)
	assert.Equal(t, "app.Dockerfile.rego", sets[0].Files[0].Filename)
	assert.Nil(t, sets[0].Files[0].Data, "read by Attach")
	assert.True(t, sets[0].optional["app.Dockerfile.rego"], "the default policy may be missing")
	assert.NotNil(t, sets[0].context)
	assert.Equal(t, "more.rego", sets[1].Files[0].Filename)
	assert.Nil(t, sets[1].Files[0].Data)
	assert.False(t, sets[1].optional["more.rego"], "a named file must exist")
	assert.Equal(t, "package docker\n", string(sets[1].Files[1].Data))
}

// TestLoadBuiltin: buildx's built-in policy goes first, alone when there
// is no other, and a disabled Config leaves it out too.
func TestLoadBuiltin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile.rego"), []byte("package docker\n"), 0o600))
	sets, err := Load(Inputs{ContextDir: dir, DockerfileDir: dir, DockerfileName: "Dockerfile", Builtin: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"buildx_default_policy.rego"}, {filepath.Join(dir, "Dockerfile.rego")}}, names(sets))
	assert.True(t, sets[0].builtin)
	assert.NotEmpty(t, sets[0].Files[0].Data)

	sets, err = Load(Inputs{ContextDir: t.TempDir(), Builtin: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"buildx_default_policy.rego"}}, names(sets))

	sets, err = Load(Inputs{ContextDir: dir, DockerfileDir: dir, Builtin: true, Configs: []Config{{Disabled: true}}})
	require.NoError(t, err)
	assert.Empty(t, sets)

	_, err = Load(Inputs{ContextDir: dir, DockerfileDir: dir, Builtin: true, Configs: []Config{{Disabled: true}, {Files: []string{"Dockerfile.rego"}}}})
	require.ErrorIs(t, err, ErrDisabledCombined)
}

// TestRemoteContextWithBuiltin: with the built-in policy on, which comes
// first and has no context, Attach still finds the remote context the
// other sets' files are read from.
func TestRemoteContextWithBuiltin(t *testing.T) {
	t.Parallel()
	sets, err := Load(Inputs{ContextURL: "https://github.com/org/repo.git#main", DockerfileName: "Dockerfile", Builtin: true})
	require.NoError(t, err)
	require.Len(t, sets, 2)
	require.True(t, sets[0].builtin)
	assert.Nil(t, sets[0].context)
	assert.Same(t, sets[1].context, remoteContext(sets))
	assert.NotNil(t, remoteContext(sets))
	assert.Nil(t, remoteContext(sets[:1]))
}
