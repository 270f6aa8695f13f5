package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synthetic is a build's status with known times: t(ms) is that many
// milliseconds after its start.
func synthetic() []*client.SolveStatus {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	t := func(ms int) *time.Time { v := t0.Add(time.Duration(ms) * time.Millisecond); return &v }
	def, ignore, ctx := digest.FromString("def"), digest.FromString("ignore"), digest.FromString("ctx")
	run, cp, never, export := digest.FromString("run"), digest.FromString("copy"), digest.FromString("never"), digest.FromString("export")
	long := digest.FromString("long")
	warn := func(short string) *client.VertexWarning {
		return &client.VertexWarning{Vertex: def, Level: 1, Short: []byte(short)}
	}
	return []*client.SolveStatus{
		{Vertexes: []*client.Vertex{{Digest: def, Name: "[internal] load build definition from Dockerfile"}}},
		// A restart: progressui merges the two runs.
		{Vertexes: []*client.Vertex{{Digest: def, Name: "[internal] load build definition from Dockerfile", Started: t(0), Completed: t(10)}}},
		{Vertexes: []*client.Vertex{{Digest: def, Name: "[internal] load build definition from Dockerfile", Started: t(20)}}},
		{Vertexes: []*client.Vertex{{Digest: def, Name: "[internal] load build definition from Dockerfile", Started: t(20), Completed: t(120)}}},
		{Statuses: []*client.VertexStatus{{ID: "transferring dockerfile:", Vertex: def, Current: 221}}},
		{Vertexes: []*client.Vertex{{Digest: ignore, Name: "[internal] load .dockerignore", Started: t(120), Completed: t(130)}}},
		{Statuses: []*client.VertexStatus{{ID: "transferring context:", Vertex: ignore, Current: 2}}},
		{Warnings: []*client.VertexWarning{warn("FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)")}},
		{Vertexes: []*client.Vertex{
			{Digest: ctx, Name: "[internal] load build context", Started: t(130)},
			{Digest: never, Name: "[3/3] RUN never-runs", Inputs: []digest.Digest{run}},
		}},
		{Statuses: []*client.VertexStatus{{ID: "transferring context:", Vertex: ctx, Current: 26}}},
		{Statuses: []*client.VertexStatus{{ID: "transferring context:", Vertex: ctx, Current: 1982887}}},
		{Vertexes: []*client.Vertex{{Digest: ctx, Name: "[internal] load build context", Started: t(130), Completed: t(630)}}},
		{Vertexes: []*client.Vertex{{Digest: cp, Name: "[1/3] COPY . /", Started: t(630), Completed: t(630), Cached: true}}},
		{Vertexes: []*client.Vertex{{Digest: run, Name: "[2/3] RUN <<EOF\n  make\n  make install\nEOF", Started: t(640)}}},
		{Logs: []*client.VertexLog{{Vertex: run, Stream: 1, Data: []byte("building\n")}}},
		{Vertexes: []*client.Vertex{{Digest: run, Name: "[2/3] RUN <<EOF\n  make\n  make install\nEOF", Started: t(640), Completed: t(12740)}}},
		{Warnings: []*client.VertexWarning{warn("FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"), warn("JSONArgsRecommended: JSON arguments recommended for CMD (line 9)")}},
		{Vertexes: []*client.Vertex{{Digest: long, Name: "[linux/arm64 stage-1 4/4] RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git", Started: t(12740), Completed: t(13540)}}},
		{Vertexes: []*client.Vertex{{Digest: export, Name: "exporting to image", Started: t(13540), Completed: t(13600)}}},
	}
}

func summaryOf(statuses []*client.SolveStatus, mode Mode, ref string) string {
	var s Summary
	for _, st := range statuses {
		s.Add(st)
	}
	var buf bytes.Buffer
	s.Print(&buf, mode, ref)
	return buf.String()
}

func TestSummaryGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fixture string // a recorded stream; "" for synthetic()
		ref     string
	}{
		{name: "synthetic", ref: "qkc7ukzn1xvvtam0f9xe0m6rw"},
		{name: "success", fixture: "success.rawjson"},
		{name: "failure", fixture: "failure.rawjson", ref: "default/abc"},
		{name: "nothing", fixture: "-", ref: "default/abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var statuses []*client.SolveStatus
			switch tc.fixture {
			case "":
				statuses = synthetic()
			case "-":
			default:
				statuses = loadFixture(t, tc.fixture)
			}
			got := summaryOf(statuses, Plain, tc.ref)
			assert.LessOrEqual(t, strings.Count(got, "\n"), 6)
			golden := filepath.Join("testdata", "summary-"+tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func TestSummaryModes(t *testing.T) {
	t.Parallel()
	plain := summaryOf(synthetic(), Plain, "ref")
	require.NotEmpty(t, plain)
	for _, mode := range []Mode{Auto, TTY} {
		assert.Equal(t, plain, summaryOf(synthetic(), mode, "ref"), mode)
	}
	for _, mode := range []Mode{Quiet, RawJSON} {
		assert.Empty(t, summaryOf(synthetic(), mode, "ref"), mode)
	}
	assert.Empty(t, summaryOf(nil, Plain, ""), "nothing seen, no record")
	assert.NotContains(t, summaryOf(synthetic(), Plain, ""), "Build record")
}

// TestSummaryCounts: the counts are BuildKit's history record's, by digest.
func TestSummaryCounts(t *testing.T) {
	t.Parallel()
	now := time.Now()
	got := summaryOf([]*client.SolveStatus{
		{Vertexes: []*client.Vertex{{Digest: "a", Name: "[1/2] FROM x", Started: &now, Completed: &now, Cached: true}}},
		{Vertexes: []*client.Vertex{{Digest: "a", Name: "[1/2] FROM x", Started: &now, Completed: &now, Cached: true}}},
		{Vertexes: []*client.Vertex{{Digest: "b", Name: "[2/2] RUN x", Started: &now, Completed: &now}}},
	}, Plain, "")
	assert.Equal(t, "Summary: 0.0s, 2 steps (1 run, 1 cached), 0 warnings\n", got, "no context step, no slow step")
}

func TestSummaryConcurrentAdd(t *testing.T) {
	t.Parallel()
	var s Summary
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, st := range synthetic() {
				s.Add(st)
			}
		}()
	}
	for range 4 {
		<-done
	}
	s.Add(nil)
	var buf bytes.Buffer
	s.Print(&buf, Plain, "")
	assert.Equal(t, summaryOf(synthetic(), Plain, ""), buf.String(), "the same status added again counts once")
}

func TestIsContextStep(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"[internal] load build context":                      true,
		"[linux/arm64 internal] load build context":          true,
		"[web internal] load build context":                  true,
		"[context base] load from client":                    true,
		"[web context base] load from client":                true,
		"[internal] load .dockerignore":                      false,
		"[internal] load build definition from Dockerfile":   false,
		"[1/2] COPY . /":                                     false,
		"load build context":                                 false,
		"[stage-1 internal] load build context from the net": false,
		"[internal]": false,
	} {
		assert.Equal(t, want, isContextStep(name), name)
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0B", 999: "999B", 1000: "1.00kB", 27119: "27.12kB", 1982887: "1.98MB", 3_500_000_000: "3.50GB",
	} {
		assert.Equal(t, want, formatBytes(n), n)
	}
}

func TestStepName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "[2/3] RUN <<EOF make EOF", stepName("[2/3] RUN <<EOF\n  make\nEOF"))
	long := stepName(strings.Repeat("é", 50))
	assert.LessOrEqual(t, len(long), maxStepName)
	assert.True(t, strings.HasSuffix(long, "é..."), long)
}
