package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func targetContext(name string) map[string]NamedContext {
	return map[string]NamedContext{"base": {Kind: ContextTarget, Value: name}}
}

func TestContextTargets(t *testing.T) {
	t.Parallel()
	jobs := []Job{
		{Name: "app", Options: Options{Contexts: targetContext("base")}},
		{Name: "base"},
		{Name: "other", Options: Options{Contexts: map[string]NamedContext{"x": {Kind: ContextImage, Value: "alpine"}}}},
	}
	byName := map[string]*Job{}
	for i := range jobs {
		byName[jobs[i].Name] = &jobs[i]
	}
	used, err := contextTargets(jobs, byName)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"base": true}, used)

	jobs[1].Options.Contexts = targetContext("app")
	_, err = contextTargets(jobs, byName)
	var je *JobError
	require.ErrorAs(t, err, &je)
	assert.Contains(t, err.Error(), "cycle (app -> base -> app)")

	delete(byName, "base")
	_, err = contextTargets(jobs[:1], byName)
	require.ErrorAs(t, err, &je)
	assert.Equal(t, `target "app": context base=target:base: no target "base" is built with it`, err.Error())
}

// TestRunAllTargetContext builds, on the real solver, a target on another
// target's result: the base is built once, the app sees its files, a
// context-only job has no result, and a failing job fails the run, named.
func TestRunAllTargetContext(t *testing.T) {
	requireSolver(t)
	b := openBuilder(t, t.TempDir())
	dir := writeContext(t, map[string]string{
		"base.Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo from-base > /base.txt\n",
		"app.Dockerfile":  "FROM base\nRUN cat /base.txt > /app.txt && echo app >> /app.txt\n",
		"bad.Dockerfile":  "FROM scratch\nCOPY rootfs/ /\nRUN exit 4\n",
	})
	out := t.TempDir()
	opts := func(df string) Options {
		return Options{ContextDir: dir, DockerfileDir: dir, DockerfileName: df, NetworkMode: "default"}
	}
	app := opts("app.Dockerfile")
	app.Contexts = targetContext("base")
	app.Outputs = []Output{{Type: client.ExporterLocal, Dest: out}}
	status := make(chan *client.SolveStatus)
	var names []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range status {
			for _, v := range st.Vertexes {
				if v.Completed != nil {
					names = append(names, v.Name)
				}
			}
		}
	}()
	res, err := RunAll(t.Context(), b, []Job{{Name: "app", Options: app}, {Name: "base", Options: opts("base.Dockerfile"), ContextOnly: true}}, status)
	close(status)
	<-done
	require.NoError(t, err)
	assert.Contains(t, res, "app")
	assert.NotContains(t, res, "base", "a context-only job has no result")
	dt, err := os.ReadFile(filepath.Join(out, "app.txt"))
	require.NoError(t, err)
	assert.Equal(t, "from-base\napp\n", string(dt))
	var baseRuns int
	for _, n := range names {
		if strings.Contains(n, "RUN echo from-base") {
			baseRuns++
		}
	}
	assert.Equal(t, 1, baseRuns, "the base is built once: %v", names)

	status = make(chan *client.SolveStatus)
	go func() {
		for range status {
		}
	}()
	_, err = RunAll(t.Context(), b, []Job{{Name: "ok", Options: opts("base.Dockerfile")}, {Name: "bad", Options: opts("bad.Dockerfile")}}, status)
	close(status)
	var je *JobError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, "bad", je.Job)
	assert.NotErrorIs(t, err, errDependencyFailed)
}
