package bake

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/shlex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bakeArgs are the docker buildx bake arguments a golden case runs with.
type bakeArgs struct {
	files, sets, vars, targets []string
	print                      bool
	list                       string
}

func parseBakeArgs(t *testing.T, line string) bakeArgs {
	t.Helper()
	words, err := shlex.Split(line)
	require.NoError(t, err)
	var a bakeArgs
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, value, hasValue := strings.Cut(w, "=")
		next := func() string {
			if hasValue {
				return value
			}
			i++
			require.Less(t, i, len(words), "%s needs a value", w)
			return words[i]
		}
		switch name {
		case "-f", "--file":
			a.files = append(a.files, next())
		case "--set":
			a.sets = append(a.sets, next())
		case "--var":
			a.vars = append(a.vars, next())
		case "--list":
			a.list = next()
		case "--print":
			a.print = true
		default:
			require.False(t, strings.HasPrefix(w, "-"), "unknown flag %s", w)
			a.targets = append(a.targets, w)
		}
	}
	return a
}

// run is what docker build2 bake does with the arguments, writing what
// --print or --list writes.
func (a bakeArgs) run(env []string) (string, error) {
	files, err := ReadFiles(a.files, strings.NewReader(""))
	if err != nil {
		return "", err
	}
	opts := Options{Files: files, Targets: a.targets, Overrides: a.sets, Vars: a.vars, Env: env}
	var out bytes.Buffer
	if a.list != "" {
		err := List(&out, opts, a.list)
		return out.String(), err
	}
	d, err := Load(opts)
	if err != nil {
		return "", err
	}
	err = d.Print(&out)
	return out.String(), err
}

// TestGolden runs each testdata/CASE/NAME.args in CASE, with CASE/env as
// the environment, and compares the output with NAME.golden, which the
// real buildx wrote (testdata/gen.sh). Not parallel: the cases read files
// relative to their directory.
func TestGolden(t *testing.T) {
	argFiles, err := filepath.Glob("testdata/*/*.args")
	require.NoError(t, err)
	require.NotEmpty(t, argFiles)
	for _, af := range argFiles {
		dir, name := filepath.Dir(af), strings.TrimSuffix(filepath.Base(af), ".args")
		t.Run(filepath.Base(dir)+"/"+name, func(t *testing.T) {
			line, err := os.ReadFile(af)
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join(dir, name+".golden"))
			require.NoError(t, err, "run testdata/gen.sh to write the golden")
			var env []string
			if dt, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
				env = strings.Fields(string(dt))
			}
			args := parseBakeArgs(t, string(line))
			t.Chdir(dir)
			got, err := args.run(env)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}
