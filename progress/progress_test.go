package progress

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Mode{
		"auto": Auto, "": Auto, "tty": TTY, "plain": Plain, "PLAIN": Plain,
		"rawjson": RawJSON, "quiet": Quiet, "none": Quiet,
	} {
		got, err := ParseMode(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseMode("fancy")
	require.ErrorContains(t, err, `invalid progress mode "fancy": use one of auto, plain, tty, rawjson, quiet`)
}

// loadFixture reads a status stream recorded with --progress=rawjson.
func loadFixture(t *testing.T, name string) []*client.SolveStatus {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var out []*client.SolveStatus
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var st client.SolveStatus
		require.NoError(t, json.Unmarshal(sc.Bytes(), &st))
		out = append(out, &st)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out)
	return out
}

func render(t *testing.T, mode Mode, statuses []*client.SolveStatus) string {
	t.Helper()
	var buf bytes.Buffer
	p, err := NewPrinter(t.Context(), &buf, nil, mode)
	require.NoError(t, err)
	for _, st := range statuses {
		p.Status() <- st
	}
	_, err = p.Wait()
	require.NoError(t, err)
	return buf.String()
}

// Durations of vertices still running at render time depend on the clock.
var runningDuration = regexp.MustCompile(`(?m)^(#\d+ [^\n]*?)\d+\.\d+s$`)

func normalize(s string) string {
	return runningDuration.ReplaceAllString(s, "${1}<t>")
}

func TestPlainGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"success", "failure"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := normalize(render(t, Plain, loadFixture(t, name+".rawjson")))
			golden := filepath.Join("testdata", name+".plain.golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func TestPlainShowsStepLogs(t *testing.T) {
	t.Parallel()
	got := render(t, Plain, loadFixture(t, "failure.rawjson"))
	assert.Contains(t, got, "boom")
	assert.Contains(t, got, "ERROR: process")
	assert.Contains(t, got, "exit code: 3")
}

func TestRawJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := loadFixture(t, "success.rawjson")
	got := render(t, RawJSON, in)
	var n int
	sc := bufio.NewScanner(bytes.NewBufferString(got))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var st client.SolveStatus
		require.NoError(t, json.Unmarshal(sc.Bytes(), &st))
		n++
	}
	assert.Equal(t, len(in), n)
}

func TestQuietPrintsNothing(t *testing.T) {
	t.Parallel()
	assert.Empty(t, render(t, Quiet, loadFixture(t, "success.rawjson")))
}

func TestTTYNeedsTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	_, err := NewPrinter(t.Context(), &buf, nil, TTY)
	require.ErrorIs(t, err, ErrNoTerminal)
	assert.Empty(t, buf.String(), "nothing drawn")
}

func TestPrintWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	PrintWarnings(&buf, []client.VertexWarning{{Short: []byte("FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)")}}, Plain)
	assert.Equal(t, "\n1 warning found:\n - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)\n", buf.String())
	buf.Reset()
	PrintWarnings(&buf, []client.VertexWarning{{Short: []byte("x")}}, Quiet)
	assert.Empty(t, buf.String())
}

// TestPrinterWarnings: the warnings of every status sent reach Wait, and
// a status sent by a second producer (another node's solve) is drawn too.
func TestPrinterWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p, err := NewPrinter(t.Context(), &buf, nil, Plain)
	require.NoError(t, err)
	in := loadFixture(t, "success.rawjson")
	now := time.Now()
	v := &client.Vertex{Digest: digest.FromString("step"), Name: "building linux/arm64 on node arm", Started: &now, Completed: &now}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Status() <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
	}()
	for _, st := range in {
		p.Status() <- st
	}
	p.Status() <- &client.SolveStatus{Warnings: []*client.VertexWarning{{Vertex: in[0].Vertexes[0].Digest, Short: []byte("a warning")}}}
	<-done
	warnings, err := p.Wait()
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	assert.Equal(t, "a warning", string(warnings[0].Short))
	assert.Contains(t, buf.String(), "building linux/arm64 on node arm")
}

// TestPrinterDedupsWarnings: the same warning reported by two steps (two
// nodes each running the Dockerfile frontend) is returned once.
func TestPrinterDedupsWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p, err := NewPrinter(t.Context(), &buf, nil, Quiet)
	require.NoError(t, err)
	now := time.Now()
	for _, node := range []string{"amd", "arm"} {
		d := digest.FromString(node)
		p.Status() <- &client.SolveStatus{
			Vertexes: []*client.Vertex{{Digest: d, Name: "[internal] load build definition from Dockerfile", Started: &now, Completed: &now}},
			Warnings: []*client.VertexWarning{
				{Vertex: d, Level: 1, Short: []byte("FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)")},
				{Vertex: d, Level: 1, Short: []byte("only on " + node)},
			},
		}
	}
	warnings, err := p.Wait()
	require.NoError(t, err)
	var got []string
	for _, w := range warnings {
		got = append(got, string(w.Short))
	}
	assert.Equal(t, []string{"FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)", "only on amd", "only on arm"}, got)
}
