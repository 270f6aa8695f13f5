package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBaseImages: the images a Dockerfile starts FROM, by named-context
// name and full name, without scratch, stages, build args or names a
// context replaces.
func TestBaseImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(`ARG V=1
FROM base AS build
FROM example.com/team/app:2
FROM build
FROM scratch
FROM img:$V
FROM replaced
FROM BUILD AS again
`), 0o644))
	got := baseImages(Options{DockerfileDir: dir, Contexts: map[string]NamedContext{"replaced": {Kind: ContextImage, Value: "x"}}})
	assert.Equal(t, map[string]string{
		"base":                   "docker.io/library/base:latest",
		"example.com/team/app:2": "example.com/team/app:2",
	}, got)
	assert.Nil(t, baseImages(Options{ContextURL: "https://example.com/x.git"}), "no local Dockerfile")
}
