package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheCommandsAfterCrash: du and prune work on a state dir whose
// serving process was killed mid-RUN, and see the cache it left.
func TestCacheCommandsAfterCrash(t *testing.T) {
	requireE2E(t)
	state := t.TempDir()
	ctx := writeFiles(t, map[string]string{"Dockerfile": dockerfile("FROM {{BASE}}\nRUN echo kept > /kept.txt\nRUN echo started-crash-du && sleep 4719\n")})
	cmd, stderr := startBuild2(t, "--root", state, "--progress=plain", ctx)
	waitFor(t, stderr, "started-crash-du")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	r := mustSucceed(t, docker(t, []string{"build2", "du", "--root", state, "--verbose"}))
	assert.Contains(t, r.stdout, "echo kept > /kept.txt", "the finished step's cache record is listed")
	r = mustSucceed(t, docker(t, []string{"build2", "prune", "--root", state, "-a", "-f"}))
	assert.Regexp(t, `Total:\s+\S+`, r.stdout)
	r = mustSucceed(t, docker(t, []string{"build2", "du", "--root", state}))
	assert.NotContains(t, r.stdout, "echo kept", "pruned")
	assert.Empty(t, leftovers(t, state))
}
