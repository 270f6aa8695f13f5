package bake

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const errorsHCL = `variable "V" {
  default = "a"
  validation {
    condition     = V != "bad"
    error_message = "V must not be bad."
  }
}
target "a" {
  tags = ["a"]
}
target "b" {
  inherits = ["c"]
}
target "c" {
  inherits = ["b"]
}
target "d" {
  inherits = ["nope"]
}
target "e" {
  contexts = { x = "target:f" }
}
target "f" {
  contexts = { y = "target:e" }
}
target "g" {
  contexts = { self = "target:g" }
}
`

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []File
		targets []string
		sets    []string
		vars    []string
		env     []string
		want    string
	}{
		{name: "no files", want: "no bake definition found: add a docker-bake.hcl or compose.yaml, or name one with -f"},
		{
			name:  "hcl syntax",
			files: []File{{Name: "docker-bake.hcl", Data: []byte("target \"a\" {\n  tags = [\"x\"\n}\n")}},
			want:  "docker-bake.hcl:3,1-2: Missing item separator; Expected a comma to mark the beginning of the next item.",
		},
		{
			name:  "json syntax",
			files: []File{{Name: "x.json", Data: []byte(`{"target": {"a": {"tags": [1,}}}`)}},
			want:  "x.json:1,30-31: Missing JSON value; A JSON value must start with a brace, a bracket, a number, a string, or a keyword., and 5 other diagnostic(s)",
		},
		{
			name:  "unsupported attribute",
			files: []File{{Name: "docker-bake.hcl", Data: []byte("target \"a\" {\n  resources = {}\n}\n")}},
			want:  `docker-bake.hcl:2,3-12: Unsupported argument; resources is not supported by docker build2 bake: remove it from target "a"`,
		},
		{
			name:    "bad policy",
			files:   []File{{Name: "docker-bake.hcl", Data: []byte("target \"a\" {\n  policy = [\"strict=maybe\"]\n}\n")}},
			targets: []string{"a"},
			want:    `docker-bake.hcl:2,12-13: Unsuitable value type; Unsuitable value: policy: strict=maybe: not a boolean: use true or false`,
		},
		{name: "unknown target", targets: []string{"nope"}, want: `unknown target "nope": known targets: a, b, c, d, e, f, g`},
		{name: "no default", want: `unknown target "default": known targets: a, b, c, d, e, f, g`},
		{name: "no match", targets: []string{"z*"}, want: `no target matches "z*": known targets: a, b, c, d, e, f, g`},
		{name: "inherits cycle", targets: []string{"b"}, want: "inherits cycle b -> c -> b: remove one of these inherits"},
		{name: "inherits unknown", targets: []string{"d"}, want: `target "d" inherits unknown target "nope": known targets: a, b, c, d, e, f, g`},
		{name: "context cycle", targets: []string{"e"}, want: `target "f": context "y" (target:e) makes a cycle e -> f -> e: remove one of these contexts`},
		{name: "context self", targets: []string{"g"}, want: `target "g": context "self" names the target itself (target:g): name another target or a path`},
		{name: "validation", vars: []string{"V=bad"}, targets: []string{"a"}, want: "docker-bake.hcl:4,21-31: Validation failed; V must not be bad."},
		{name: "validation from env", env: []string{"V=bad"}, targets: []string{"a"}, want: "docker-bake.hcl:4,21-31: Validation failed; V must not be bad."},
		{name: "bad var", vars: []string{"V"}, want: `--var "V": expected name=value`},
		{name: "set without key", targets: []string{"a"}, sets: []string{"a=1"}, want: `--set "a=1": expected pattern.key=value, e.g. --set '*.platform=linux/arm64'`},
		{name: "set without value", targets: []string{"a"}, sets: []string{"a.tags"}, want: `--set "a.tags": expected a.tag=value`},
		{name: "set unknown key", targets: []string{"a"}, sets: []string{"a.nope=1"}, want: `--set "a.nope=1": unknown key "nope": one of ` + setKeyNames},
		{name: "set sub-key", targets: []string{"a"}, sets: []string{"a.tags.x=1"}, want: `--set "a.tags.x=1": tag takes no sub-key: --set a.tag=value`},
		{name: "set needs name", targets: []string{"a"}, sets: []string{"a.args=1"}, want: `--set "a.args=1": arg requires a name: --set a.arg.NAME=value`},
		{name: "set no target", targets: []string{"a"}, sets: []string{"x*.tags=1"}, want: `--set "x*.tags=1": no target matches "x*" (known targets: a, b, c, d, e, f, g)`},
		{name: "set bad bool", targets: []string{"a"}, sets: []string{"a.pull=maybe"}, want: `--set a.pull: "maybe" is not a boolean: use true or false`},
		{name: "set bad output", targets: []string{"a"}, sets: []string{"a.output=type=image,x"}, want: `--set a.output: invalid value x`},
		{name: "set undeclared secret", targets: []string{"a"}, sets: []string{"a.secret.s=env=S"}, want: `--set a.secret.s: secret "s" must be declared before it can be overridden: declare it in the target, or use --set a.secrets=id=s,src=PATH`},
		{name: "set secrets sub-key", targets: []string{"a"}, sets: []string{"a.secrets.s=env=S"}, want: `--set "a.secrets.s=env=S": secrets takes no sub-key: --set a.secrets=id=ID,src=PATH, or --set a.secret.ID=src=PATH`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := tc.files
			if files == nil && tc.name != "no files" {
				files = []File{{Name: "docker-bake.hcl", Data: []byte(errorsHCL)}}
			}
			_, err := Load(Options{Files: files, Targets: tc.targets, Overrides: tc.sets, Vars: tc.vars, Env: tc.env})
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	files := []File{{Name: "docker-bake.hcl", Data: []byte(`target "a" {}`)}}
	for spec, want := range map[string]string{
		"nope":                     `--list "nope": invalid type "nope": expected targets, variables, or type=targets|variables[,format=table|json]`,
		"type=targets,format=yaml": `--list "type=targets,format=yaml": invalid format "yaml": expected targets, variables, or type=targets|variables[,format=table|json]`,
		"type=targets,x=1":         `--list "type=targets,x=1": unknown key "x": expected targets, variables, or type=targets|variables[,format=table|json]`,
	} {
		err := List(&bytes.Buffer{}, Options{Files: files}, spec)
		require.Error(t, err, spec)
		assert.Equal(t, want, err.Error())
	}
	// --list reads no targets: a definition without "default" lists.
	var out bytes.Buffer
	require.NoError(t, List(&out, Options{Files: files, Targets: []string{"nope"}, Overrides: []string{"bad"}}, "targets"))
	assert.Equal(t, "TARGET\tDESCRIPTION\na\t\n", out.String())
}

// TestFlags checks that each spec reads back as the build flag it stands
// for, and that the API gives what the runner needs.
func TestFlags(t *testing.T) {
	t.Parallel()
	hcl := `target "base" {}
target "app" {
  contexts = { base = "target:base" }
  output = [{ type = "image", name = "a,b", push = true }, "type=local,dest=out"]
  cache-from = ["user/cache", { type = "gha", scope = "x" }]
  cache-to = ["type=registry,ref=r,mode=max"]
  secret = [{ id = "s", env = "S" }, "id=f,src=f.txt"]
  ssh = ["default", { id = "k", paths = ["/a", "/b"] }]
  attest = ["type=sbom", { type = "provenance", mode = "max" }, "type=sbom,disabled=true"]
}`
	d, err := Load(Options{Files: []File{{Name: "docker-bake.hcl", Data: []byte(hcl)}}, Targets: []string{"app"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"app"}, d.Selected())
	app := d.Target("app")
	require.NotNil(t, app)
	assert.Equal(t, []string{`type=image,"name=a,b",push=true`, "type=local,dest=out"}, app.Outputs.Flags())
	assert.Equal(t, []string{"user/cache", "type=gha,scope=x"}, app.CacheFrom.Flags())
	assert.Equal(t, []string{"type=registry,mode=max,ref=r"}, app.CacheTo.Flags())
	assert.Equal(t, []string{"id=s,env=S", "id=f,src=f.txt"}, app.Secrets.Flags())
	assert.Equal(t, []string{"default", "k=/a,/b"}, app.SSH.Flags())
	assert.Equal(t, []string{"type=sbom,disabled=true", "type=provenance,mode=max"}, app.Attest.Flags())
	base := d.Target("base")
	require.NotNil(t, base)
	assert.True(t, base.Linked)
	assert.Equal(t, []string{"type=cacheonly"}, base.Outputs.Flags())
	assert.Equal(t, "target:base", app.Contexts["base"])
	assert.Nil(t, d.Target("nope"))
	assert.Equal(t, []string{"app"}, d.Groups()["default"].Targets)
}

func TestReadFilesStdin(t *testing.T) {
	t.Parallel()
	files, err := ReadFiles([]string{"-"}, strings.NewReader(`target "default" { tags = ["x"] }`))
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, "-", files[0].Name)
	d, err := Load(Options{Files: files})
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, d.Target("default").Tags)

	_, err = ReadFiles([]string{"missing.hcl"}, nil)
	require.ErrorContains(t, err, "missing.hcl")
}

func TestReadFilesDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	files, err := ReadFiles(nil, nil)
	require.NoError(t, err)
	assert.Empty(t, files)
}

// FuzzOverrides checks that no --set value panics, and that an accepted
// one applies (or fails) with an error that names --set on one line.
func FuzzOverrides(f *testing.F) {
	for _, s := range []string{
		"a.tags=x", "*.tags+=y", "a.args.X=1", "a.args.X", "a.output=", "a.platform=linux/arm64",
		"a.secret.s=env=S", "a.secrets=id=x,src=y", "a.push=true", "a.load=1", "a.ssh=default=/a,/b",
		"a.cache-from+=type=gha", "a.attest=type=sbom", "[.tags=x", "a..=", "=", ".", "a.contexts.x=target:a",
	} {
		f.Add(s)
	}
	hcl := []byte(`target "a" {
  secret = ["id=s,env=S"]
  output = ["type=image"]
}`)
	f.Fuzz(func(t *testing.T, set string) {
		_, err := Load(Options{Files: []File{{Name: "docker-bake.hcl", Data: hcl}}, Targets: []string{"a"}, Overrides: []string{set}})
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "--set ") && !strings.HasPrefix(msg, "target ") {
			t.Fatalf("--set %q: error does not name the flag: %s", set, msg)
		}
	})
}
