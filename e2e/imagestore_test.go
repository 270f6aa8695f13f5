package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFromImageBuiltHere: an image built with -t is kept in the state
// dir's image store, and a later build's FROM and COPY --from find it
// there before the registry, with or without a Docker engine; --pull asks
// the registry only.
func TestFromImageBuiltHere(t *testing.T) {
	requireE2E(t)
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []runOpt
	}{
		{"no engine", func(*testing.T) []runOpt { return nil }},
		{"engine", func(t *testing.T) []runOpt {
			t.Helper()
			return []runOpt{withEngine(requireEngine(t))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			state := t.TempDir()
			name := "e2e-local-base-" + filepath.Base(state)
			base := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo from-the-local-base > /base.txt\n")})
			mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-t", name, base}, opts...))

			app := writeFiles(t, map[string]string{"Dockerfile.app": "FROM " + name + "\nRUN cat /base.txt > /app.txt\nFROM scratch\nCOPY --from=0 /app.txt /\nCOPY --from=" + name + " /base.txt /\n"})
			out := t.TempDir()
			r := mustSucceed(t, docker(t, []string{"build2", "--root", state, "--progress=plain", "-f", filepath.Join(app, "Dockerfile.app"), "-o", out, app}, opts...))
			assert.Equal(t, "from-the-local-base", readFile(t, filepath.Join(out, "app.txt")), r.String())
			assert.Equal(t, "from-the-local-base", readFile(t, filepath.Join(out, "base.txt")))

			// --pull goes to the registry, which has no such image.
			r = docker(t, []string{"build2", "--root", state, "--progress=plain", "--pull", "-f", filepath.Join(app, "Dockerfile.app"), "-o", t.TempDir(), app}, opts...)
			assert.Equal(t, 1, r.code, r.String())
			assert.Contains(t, r.stderr, name)
			noCrash(t, r)
		})
	}
}
