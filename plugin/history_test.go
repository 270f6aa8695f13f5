package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker-build2/docker-build2/build/records"
	"github.com/docker-build2/docker-build2/daemonconfig"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// historyFixture is a state root with three records made through the
// store, as a build makes them: a cached success, a failure with its
// Dockerfile excerpt, and a canceled build.
type historyFixture struct {
	root string
	refs []string // newest first
}

func newHistoryFixture(t *testing.T) historyFixture {
	t.Helper()
	root := t.TempDir()
	st, err := records.Open(root, records.Limits{})
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	now := time.Now().Truncate(time.Second)
	steps := func(w *records.Writer, at time.Time, names ...string) {
		for i, n := range names {
			start, done := at.Add(time.Duration(i)*time.Second), at.Add(time.Duration(i+1)*time.Second)
			w.Add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: digest.FromString(n), Name: n, Started: &start, Completed: &done, Cached: i == 0}}})
			w.Add(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: digest.FromString(n), Data: []byte("ran " + n + "\n"), Timestamp: done}}})
		}
	}
	var refs []string
	for _, b := range []struct {
		name, localDir string
		ago            time.Duration
		err            error
		steps          []string
	}{
		{name: "a-very-long-target-name-that-gets-cut-in-tables", localDir: "/elsewhere", ago: 50 * time.Hour, err: fmt.Errorf("solve: %w", context.Canceled), steps: []string{"[internal] load build definition from Dockerfile"}},
		{name: "app", localDir: wd, ago: 5 * time.Hour, err: dockerfileError(), steps: []string{"[1/2] FROM docker.io/library/alpine:3.20", "[2/2] RUN false"}},
		{name: "app", localDir: wd, ago: 3 * time.Hour, steps: []string{"[1/2] FROM docker.io/library/alpine:3.20", "[2/2] RUN make"}},
	} {
		started := now.Add(-b.ago)
		w, err := st.Start(records.Record{
			Name: b.name, LocalDir: b.localDir, Started: started, Frontend: "dockerfile.v0",
			FrontendAttrs: map[string]string{"target": b.name, "platform": "linux/amd64,linux/arm64", "build-arg:VERSION": "1.2", "build-arg:A": "x"},
			SecretIDs:     []string{"npm"}, SSHIDs: []string{"default"}, Context: ".", Dockerfile: "Dockerfile",
		})
		require.NoError(t, err)
		steps(w, started, b.steps...)
		require.NoError(t, w.Finish(b.err, func(r *records.Record) {
			done := started.Add(62 * time.Second)
			r.Completed = &done
			r.ContextBytes = 3 << 10
			if b.err == nil {
				r.Outputs = []records.Output{{Type: "image", Name: "docker.io/library/app:latest", Digest: "sha256:0123456789abcdef"}}
				r.Warnings = []records.Warning{{Short: "FromAsCasing: 'as' and 'FROM' keywords' casing do not match", Location: "Dockerfile:1"}}
			}
		}))
		refs = append([]string{w.Ref()}, refs...)
	}
	return historyFixture{root: root, refs: refs}
}

// maskRefs replaces the fixture's random refs by fixed text as wide.
func maskRefs(s string, refs []string) string {
	for i, ref := range refs {
		p := fmt.Sprintf("<ref%d>", i+1)
		s = strings.ReplaceAll(s, ref, p+strings.Repeat(".", len(ref)-len(p)))
	}
	return s
}

var regexpStarted = regexp.MustCompile(`(Started:\s+)\S+ \S+`)

func dockerfileError() error {
	src := &errdefs.Source{
		Info:   &pb.SourceInfo{Filename: "Dockerfile", Data: []byte("FROM alpine:3.20\nRUN false\n")},
		Ranges: []*pb.Range{{Start: &pb.Position{Line: 2}, End: &pb.Position{Line: 2}}},
	}
	return src.WrapError(errors.New(`process "/bin/sh -c false" did not complete successfully: exit code: 1`))
}

func runHistory(t *testing.T, f historyFixture, args ...string) (*clitest.FakeCLI, error) {
	t.Helper()
	dockerCLI := clitest.New(t)
	cmd := newHistoryCommand(dockerCLI)
	cmd.SetOut(dockerCLI.OutBuffer())
	cmd.SetErr(dockerCLI.ErrBuffer())
	args = append(args[:1:1], append([]string{"--root", f.root, "--daemon-config", filepath.Join(f.root, "no-daemon.json")}, args[1:]...)...)
	cmd.SetArgs(args)
	return dockerCLI, cmd.Execute()
}

func TestHistoryLs(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"history-ls.golden", []string{"ls"}},
		{"history-ls-no-trunc.golden", []string{"ls", "--no-trunc"}},
		{"history-ls-local.golden", []string{"ls", "--local"}},
		{"history-ls-filter.golden", []string{"ls", "--filter", "status=error", "--filter", "startedAt>24h"}},
		{"history-ls-template.golden", []string{"ls", "--format", "{{.Name}} {{.Status}} {{.Duration}}"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			dockerCLI, err := runHistory(t, f, tc.args...)
			require.NoError(t, err)
			assert.Empty(t, dockerCLI.ErrBuffer().String())
			clitest.Golden(t, tc.golden, []byte(maskRefs(dockerCLI.OutBuffer().String(), f.refs)))
		})
	}
}

func TestHistoryLsJSON(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	dockerCLI, err := runHistory(t, f, "ls", "--format", "json")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(dockerCLI.OutBuffer().String()), "\n")
	require.Len(t, lines, 3)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, f.refs[0], first["ref"])
	assert.Equal(t, "completed", first["status"])
	assert.InDelta(t, 2, first["total_steps"], 0)
	assert.Contains(t, first, "completed_at")
}

func TestHistoryFilters(t *testing.T) {
	t.Parallel()
	now := time.Now()
	done := now.Add(-time.Hour)
	rec := records.Record{Ref: "abc", Status: records.Failed, Started: now.Add(-2 * time.Hour), Completed: &done}
	for _, tc := range []struct {
		filter string
		match  bool
		err    string
	}{
		{filter: "status=error", match: true},
		{filter: "status=failed", match: true},
		{filter: "status!=error"},
		{filter: "status=completed"},
		{filter: "ref=ab", match: true},
		{filter: "ref!=ab"},
		{filter: "startedAt>3h", match: true},
		{filter: "startedAt>=1h"},
		{filter: "startedAt<" + now.Add(-90*time.Minute).UTC().Format(time.RFC3339), match: true},
		{filter: "completedAt>90m", match: true},
		{filter: "duration>30m", match: true},
		{filter: "duration<=30m"},
		{filter: "status=nope", err: `invalid status in "status=nope": use running, completed, error, canceled or crashed`},
		{filter: "status>1", err: `invalid operator in "status>1": status takes = or !=`},
		{filter: "startedAt=1h", err: `invalid operator in "startedAt=1h"`},
		{filter: "startedAt>yesterday", err: `invalid time in "startedAt>yesterday"`},
		{filter: "repository=x", err: `unsupported filter "repository=x"`},
		{filter: "status", err: `invalid filter "status": use key=value`},
	} {
		match, err := parseRecordFilters([]string{tc.filter}, now)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.filter)
			continue
		}
		require.NoError(t, err, tc.filter)
		assert.Equal(t, tc.match, match(&rec), tc.filter)
	}
}

func TestHistoryInspect(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"history-inspect.golden", []string{"inspect"}},
		{"history-inspect-error.golden", []string{"inspect", "^2"}},
		{"history-inspect-canceled.golden", []string{"inspect", "^3"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			dockerCLI, err := runHistory(t, f, tc.args...)
			require.NoError(t, err)
			out := maskRefs(dockerCLI.OutBuffer().String(), f.refs)
			// Started is the local time of a moment relative to now.
			out = regexpStarted.ReplaceAllString(out, "${1}<time>")
			clitest.Golden(t, tc.golden, []byte(out))
		})
	}

	dockerCLI, err := runHistory(t, f, "inspect", "--format", "json", f.refs[1][:6])
	require.NoError(t, err)
	var rec records.Record
	require.NoError(t, json.Unmarshal(dockerCLI.OutBuffer().Bytes(), &rec))
	assert.Equal(t, records.Failed, rec.Status)
	assert.Equal(t, []string{"npm"}, rec.SecretIDs)

	dockerCLI, err = runHistory(t, f, "inspect", "--format", "{{.Name}}/{{.Status}}")
	require.NoError(t, err)
	assert.Equal(t, "app/completed\n", dockerCLI.OutBuffer().String())
}

func TestHistoryErrors(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"inspect", "nope"}, `no build record "nope": see docker build2 history ls`},
		{[]string{"logs", "^9"}, `no build record "^9": there are 3: see docker build2 history ls`},
		{[]string{"rm"}, "rm requires at least one argument"},
		{[]string{"rm", "--all", "x"}, "rm requires either --all or at least one argument"},
		{[]string{"logs", "--progress", "quiet"}, `--progress: invalid progress mode "quiet": use plain, rawjson or tty`},
		{[]string{"ls", "--filter", "what"}, `--filter: invalid filter "what"`},
		{[]string{"import", "file.tar"}, `use --file file.tar`},
	} {
		_, err := runHistory(t, f, tc.args...)
		require.ErrorContains(t, err, tc.err, tc.args)
	}
	empty := historyFixture{root: t.TempDir()}
	_, err := runHistory(t, empty, "inspect")
	require.ErrorContains(t, err, `no build record "^1": there are 0: see docker build2 history ls`)
}

func TestHistoryLogs(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	dockerCLI, err := runHistory(t, f, "logs", "--progress", "rawjson")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(dockerCLI.OutBuffer().String()), "\n")
	require.Len(t, lines, 4)
	var ss client.SolveStatus
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ss))
	assert.Equal(t, "[1/2] FROM docker.io/library/alpine:3.20", ss.Vertexes[0].Name)

	dockerCLI, err = runHistory(t, f, "logs")
	require.NoError(t, err)
	out := dockerCLI.OutBuffer().String()
	assert.Contains(t, out, "#2 [2/2] RUN make")
	assert.Contains(t, out, "ran [2/2] RUN make")
	assert.Contains(t, out, "#1 CACHED")
}

func TestHistoryRm(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	_, err := runHistory(t, f, "rm", f.refs[0], "^3")
	require.NoError(t, err)
	dockerCLI, err := runHistory(t, f, "ls", "--format", "{{.Ref}}")
	require.NoError(t, err)
	assert.Equal(t, f.refs[1]+"\n", dockerCLI.OutBuffer().String())
	_, err = runHistory(t, f, "rm", "--all")
	require.NoError(t, err)
	dockerCLI, err = runHistory(t, f, "ls", "--format", "{{.Ref}}")
	require.NoError(t, err)
	assert.Empty(t, dockerCLI.OutBuffer().String())
}

func TestHistoryExportImport(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	file := filepath.Join(t.TempDir(), "build.tar")
	_, err := runHistory(t, f, "export", "^2", "-o", file)
	require.NoError(t, err)
	dockerCLI, err := runHistory(t, f, "export", f.refs[1])
	require.NoError(t, err)
	onStdout := dockerCLI.OutBuffer().Bytes()
	fromFile, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, fromFile, onStdout)

	other := historyFixture{root: t.TempDir()}
	dockerCLI, err = runHistory(t, other, "import", "-f", file)
	require.NoError(t, err)
	assert.Equal(t, f.refs[1]+"\n", dockerCLI.OutBuffer().String())

	dockerCLI = clitest.New(t, clitest.WithIn(bytes.NewReader(onStdout)))
	cmd := newHistoryCommand(dockerCLI)
	cmd.SetArgs([]string{"import", "--root", other.root, "--daemon-config", filepath.Join(other.root, "none.json"), "-"})
	require.NoError(t, cmd.Execute())
	assert.Len(t, strings.TrimSpace(dockerCLI.OutBuffer().String()), 25, "a new ref: the store has the exported one")

	dockerCLI, err = runHistory(t, other, "inspect", "--format", "{{.Error}}", f.refs[1])
	require.NoError(t, err)
	assert.Equal(t, "process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n", dockerCLI.OutBuffer().String())
}

func TestRecordLimits(t *testing.T) {
	t.Parallel()
	zero, ten := int64(0), int64(10)
	for _, tc := range []struct {
		cfg  daemonconfig.History
		want records.Limits
	}{
		{daemonconfig.History{}, records.Limits{}},
		{daemonconfig.History{MaxAge: "1h", MaxEntries: &ten}, records.Limits{MaxAge: time.Hour, MaxEntries: 10}},
		{daemonconfig.History{MaxEntries: &zero}, records.Limits{MaxEntries: -1}},
	} {
		got, err := recordLimits(&daemonconfig.Config{Builder: daemonconfig.Builder{History: tc.cfg}})
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}

// TestPruneRecords: prune's --filter until= removes the older records,
// --all the rest, with one line saying how many; none removed, no line.
func TestPruneRecords(t *testing.T) {
	t.Parallel()
	f := newHistoryFixture(t)
	o := pruneOptions{state: stateOptions{root: f.root, daemonConfig: filepath.Join(f.root, "none.json")}}
	dockerCLI := clitest.New(t)
	require.NoError(t, pruneRecords(dockerCLI, o, 0))
	assert.Empty(t, dockerCLI.OutBuffer().String(), "no until, no --all: records stay")

	require.NoError(t, pruneRecords(dockerCLI, o, 4*time.Hour))
	assert.Equal(t, "Build records removed: 2\n", dockerCLI.OutBuffer().String())
	dockerCLI.ResetOutputBuffers()
	require.NoError(t, pruneRecords(dockerCLI, o, 4*time.Hour))
	assert.Empty(t, dockerCLI.OutBuffer().String())

	o.all = true
	require.NoError(t, pruneRecords(dockerCLI, o, 0))
	assert.Equal(t, "Build records removed: 1\n", dockerCLI.OutBuffer().String())
}
