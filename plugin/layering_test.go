package plugin

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/docker-build2/docker-build2"

// layering lists, for each package of the module, the packages of the
// module it may import; a package not listed may import none.
var layering = map[string][]string{
	"cmd/docker-build2":         {"plugin"},
	"hack/docsgen":              {"plugin"},
	"plugin":                    {"plugin/buildflags", "plugin/internal/clitest", "plugin/internal/fastmeta", "build", "build/bake", "build/imagetools", "build/nodes", "build/policy", "build/records", "progress", "secrets", "sshforward", "daemonconfig"},
	"plugin/buildflags":         {"build", "build/policy"},
	"build":                     {"build/embedded", "build/imageindex", "build/imagetools", "build/nodes", "build/policy", "build/remote", "build/usernet", "build/internal/atomicfile", "daemonconfig"},
	"build/embedded":            {"build/statedir", "build/userns", "build/usernet", "build/remote", "daemonconfig"},
	"build/nodes":               {"build/remote", "build/internal/atomicfile"},
	"build/statedir":            nil,
	"build/userns":              nil,
	"build/usernet":             nil,
	"build/remote":              nil,
	"build/imageindex":          nil,
	"build/imagetools":          nil,
	"build/bake":                nil,
	"build/records":             nil,
	"build/policy":              nil,
	"progress":                  nil,
	"secrets":                   nil,
	"sshforward":                nil,
	"daemonconfig":              nil,
	"e2e":                       nil,
	"bench/report":              nil,
	"bench/plot":                nil,
	"build/internal/atomicfile": nil,
	"plugin/internal/clitest":   nil,
	"plugin/internal/fastmeta":  nil,
}

// TestLayering reads the real import graph (go list), tests included, and
// fails on an edge between the module's packages that the layout does not
// allow, or on a package the layout does not know.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the whole module")
	}
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}`, module+"/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		allowed, known := layering[pkg]
		if !assert.True(t, known, "package %s is not in the layout: add it to layering with the packages it may import", pkg) {
			continue
		}
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok || dep == pkg {
				continue
			}
			assert.True(t, slices.Contains(allowed, dep), "%s imports %s, which the layout does not allow", pkg, dep)
		}
	}
}
