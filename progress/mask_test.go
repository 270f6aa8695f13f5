package progress

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "s3cr3t-value"

func logOf(d digest.Digest, stream int, data string) *client.VertexLog {
	return &client.VertexLog{Vertex: d, Stream: stream, Data: []byte(data)}
}

// logText joins the data of the logs of every status, by stream.
func logText(sts ...*client.SolveStatus) map[int]string {
	out := map[int]string{}
	for _, st := range sts {
		if st == nil {
			continue
		}
		for _, l := range st.Logs {
			out[l.Stream] += string(l.Data)
		}
	}
	return out
}

// TestNewMaskerNoValues is not parallel: AllocsPerRun counts the whole
// process's allocations.
func TestNewMaskerNoValues(t *testing.T) {
	for _, values := range [][][]byte{nil, {}, {nil, {}}} {
		m := NewMasker(values)
		require.Nil(t, m)
		st := &client.SolveStatus{Logs: []*client.VertexLog{logOf("d", 1, secret)}}
		assert.Same(t, st, m.Mask(st))
		assert.Nil(t, m.Flush())
		assert.Zero(t, m.Masked())
		allocs := testing.AllocsPerRun(100, func() { _ = m.Mask(st) })
		assert.Zero(t, allocs)
	}
}

func TestMaskFields(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte(secret), nil})
	now := time.Now()
	d := digest.FromString("step")
	st := &client.SolveStatus{
		Vertexes: []*client.Vertex{
			{Digest: d, Name: "[1/2] RUN echo " + secret, Started: &now, Error: "process \"echo " + secret + "\" did not complete"},
			{Digest: "other", Name: "[2/2] COPY . /"},
		},
		Statuses: []*client.VertexStatus{
			{ID: "pulling " + secret, Vertex: d, Name: "fetch " + secret},
			{ID: "transferring context:", Vertex: d, Name: "transferring"},
		},
		Warnings: []*client.VertexWarning{
			{Vertex: d, Short: []byte("SecretsUsedInArgOrEnv: " + secret), Detail: [][]byte{[]byte("plain"), []byte(secret + secret)}, URL: "https://docs.docker.com"},
			{Vertex: d, Short: []byte("nothing here"), Detail: [][]byte{[]byte("nor here")}},
		},
	}
	before := st.Vertexes[0].Name
	got := m.Mask(st)

	assert.Equal(t, "[1/2] RUN echo ***", got.Vertexes[0].Name)
	assert.Equal(t, `process "echo ***" did not complete`, got.Vertexes[0].Error)
	assert.Same(t, st.Vertexes[1], got.Vertexes[1], "a vertex with no value is passed on as is")
	assert.Equal(t, "pulling ***", got.Statuses[0].ID)
	assert.Equal(t, "fetch ***", got.Statuses[0].Name)
	assert.Same(t, st.Statuses[1], got.Statuses[1])
	assert.Equal(t, "SecretsUsedInArgOrEnv: ***", string(got.Warnings[0].Short))
	assert.Equal(t, [][]byte{[]byte("plain"), []byte("******")}, got.Warnings[0].Detail)
	assert.Equal(t, "https://docs.docker.com", got.Warnings[0].URL)
	assert.Same(t, st.Warnings[1], got.Warnings[1])
	assert.Equal(t, 7, m.Masked())

	assert.Equal(t, before, st.Vertexes[0].Name, "the status given is not changed")
	assert.Equal(t, secret+secret, string(st.Warnings[0].Detail[1]))
}

func TestMaskOnlyDetail(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte(secret)})
	w := &client.VertexWarning{Short: []byte("short"), Detail: [][]byte{[]byte("a"), []byte("b " + secret), []byte("c")}}
	got := m.Mask(&client.SolveStatus{Warnings: []*client.VertexWarning{w}}).Warnings[0]
	assert.Equal(t, [][]byte{[]byte("a"), []byte("b ***"), []byte("c")}, got.Detail)
	assert.Equal(t, "b "+secret, string(w.Detail[1]))
}

func TestMaskLongestFirst(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte("abc"), []byte("abcdef"), []byte("abc")})
	got := m.Mask(&client.SolveStatus{Vertexes: []*client.Vertex{{Name: "x abcdef y abc z abcde"}}})
	assert.Equal(t, "x *** y *** z ***de", got.Vertexes[0].Name)
	assert.Equal(t, 3, m.Masked())
}

func TestMaskLogChunks(t *testing.T) {
	t.Parallel()
	d := digest.FromString("step")
	tests := []struct {
		name   string
		values []string
		chunks []string
		want   string
		masked int
	}{
		{name: "whole", values: []string{secret}, chunks: []string{"echo " + secret + "\n"}, want: "echo ***\n", masked: 1},
		{name: "split in two", values: []string{secret}, chunks: []string{"echo s3cr", "3t-value\n"}, want: "echo ***\n", masked: 1},
		{name: "one byte a chunk", values: []string{secret}, chunks: strings.Split("a "+secret+" b", ""), want: "a *** b", masked: 1},
		{name: "a false start", values: []string{secret}, chunks: []string{"s3cr", "3t-nope ", secret}, want: "s3cr3t-nope ***", masked: 1},
		{name: "longer value completes", values: []string{"abc", "abcdef"}, chunks: []string{"xabc", "defy"}, want: "x***y", masked: 1},
		{name: "longer value does not", values: []string{"abc", "abcdef"}, chunks: []string{"xabc", "dxy"}, want: "x***dxy", masked: 1},
		{name: "spans lines", values: []string{"line one\nline two"}, chunks: []string{"> line one\n", "line two\n"}, want: "> ***\n", masked: 1},
		{name: "held at the end", values: []string{secret}, chunks: []string{"tail s3cr3t"}, want: "tail s3cr3t", masked: 0},
		{name: "value at the end", values: []string{secret}, chunks: []string{"tail ", secret}, want: "tail ***", masked: 1},
		{name: "adjacent", values: []string{"ab"}, chunks: []string{"aba", "bab"}, want: "*********", masked: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var values [][]byte
			for _, v := range tc.values {
				values = append(values, []byte(v))
			}
			m := NewMasker(values)
			var out []*client.SolveStatus
			for _, c := range tc.chunks {
				out = append(out, m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(d, 1, c)}}))
			}
			out = append(out, m.Flush())
			assert.Equal(t, tc.want, logText(out...)[1])
			assert.Equal(t, tc.masked, m.Masked())
			assert.Nil(t, m.Flush(), "nothing is held after a flush")
		})
	}
}

// TestMaskHoldsNoMoreThanNeeded: only the end that could start a value is
// held, and a chunk held whole is left out of the status.
func TestMaskHoldsNoMoreThanNeeded(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte(secret)})
	d := digest.FromString("step")
	got := m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(d, 1, "hello s3c")}})
	require.Len(t, got.Logs, 1)
	assert.Equal(t, "hello ", string(got.Logs[0].Data))
	got = m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(d, 1, "r")}})
	assert.Empty(t, got.Logs, "a chunk held whole is not shown")
	got = m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(d, 1, "x")}})
	require.Len(t, got.Logs, 1)
	assert.Equal(t, "s3crx", string(got.Logs[0].Data))
	plain := logOf(d, 1, "nothing to hide\n")
	got = m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{plain}})
	assert.Same(t, plain, got.Logs[0])
}

// TestMaskStreamsApart: a value is joined across the chunks of one vertex
// and stream, never across streams or vertices.
func TestMaskStreamsApart(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte(secret)})
	a, b := digest.FromString("a"), digest.FromString("b")
	var out []*client.SolveStatus
	out = append(out,
		m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(a, 1, "s3cr"), logOf(a, 2, "s3cr3t-"), logOf(b, 1, "s3")}}),
		m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(b, 1, "!"), logOf(a, 2, "value"), logOf(a, 1, "3t-value")}}),
		m.Flush(),
	)
	var av, bv []string
	for _, st := range out {
		if st == nil {
			continue
		}
		for _, l := range st.Logs {
			if l.Vertex == a {
				av = append(av, string(l.Data))
			} else {
				bv = append(bv, string(l.Data))
			}
		}
	}
	assert.ElementsMatch(t, []string{"***", "***"}, av)
	assert.Equal(t, []string{"s3!"}, bv)
	assert.Equal(t, 2, m.Masked())
}

// TestMaskReleasesOnCompletion: a vertex that completes releases what was
// held of its streams, in the same status, masked.
func TestMaskReleasesOnCompletion(t *testing.T) {
	t.Parallel()
	m := NewMasker([][]byte{[]byte(secret), []byte("3t")})
	d, other := digest.FromString("step"), digest.FromString("other")
	now := time.Now()
	got := m.Mask(&client.SolveStatus{Logs: []*client.VertexLog{logOf(d, 1, "out s3cr3t"), logOf(d, 2, "err s"), logOf(other, 1, "s3")}})
	assert.Equal(t, map[int]string{1: "out ", 2: "err "}, logText(got))
	got = m.Mask(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Started: &now, Completed: &now}}})
	require.Len(t, got.Logs, 2)
	assert.Equal(t, "s3cr***", string(got.Logs[0].Data), "what is held is masked when released")
	assert.Equal(t, 1, got.Logs[0].Stream)
	assert.Equal(t, "s", string(got.Logs[1].Data))
	assert.Equal(t, 2, got.Logs[1].Stream)
	rest := m.Flush()
	require.NotNil(t, rest)
	require.Len(t, rest.Logs, 1)
	assert.Equal(t, other, rest.Logs[0].Vertex)
	assert.Equal(t, "s3", string(rest.Logs[0].Data))
}

func TestMaskNotice(t *testing.T) {
	t.Parallel()
	assert.Empty(t, MaskNotice(0))
	assert.Equal(t, "notice: 1 secret value was masked as *** in this output; DOCKER_BUILD2_SHOW_SECRETS=1 shows them for one build (never in build records)", MaskNotice(1))
	assert.Equal(t, "notice: 2 secret values were masked as *** in this output; DOCKER_BUILD2_SHOW_SECRETS=1 shows them for one build (never in build records)", MaskNotice(2))
}

// refReplace replaces values in text, leftmost first and longest first at
// one place, the plain way.
func refReplace(text string, values []string) (string, int) {
	vs := slices.Clone(values)
	slices.SortStableFunc(vs, func(a, b string) int { return len(b) - len(a) })
	var out strings.Builder
	n := 0
next:
	for i := 0; i < len(text); {
		for _, v := range vs {
			if v != "" && strings.HasPrefix(text[i:], v) {
				out.WriteString(Mask)
				i += len(v)
				n++
				continue next
			}
		}
		out.WriteByte(text[i])
		i++
	}
	return out.String(), n
}

// FuzzMaskChunks: however the text is cut into chunks, on two streams at
// once, the masked output is the text with the values replaced, as if it
// came whole, and holds no value.
func FuzzMaskChunks(f *testing.F) {
	f.Add("s3cr3t", "cr3", []byte("echo s3cr3t and cr3 and s3cr"), []byte{1, 2, 3}, false)
	f.Add("line one\nline two", "two", []byte("line one\nline one\nline two\n"), []byte{4, 9}, true)
	f.Add("aaa", "aa", []byte("aaaaaaa"), []byte{1}, false)
	f.Add("abc", "bcd", []byte("abcd bcd abc"), []byte{2, 5, 1}, true)
	f.Fuzz(func(t *testing.T, a, b string, filler, cuts []byte, complete bool) {
		values := []string{a, b}
		// The text holds each value at least once, between filler.
		third := len(filler) / 3
		text := string(filler[:third]) + a + string(filler[third:2*third]) + b + string(filler[2*third:]) + a
		want, wantN := refReplace(text, values)

		m := NewMasker([][]byte{[]byte(a), []byte(b)})
		if m == nil {
			require.Empty(t, a+b)
			return
		}
		d := digest.FromString("step")
		var out []*client.SolveStatus
		for i, j, k := 0, 0, 0; i < len(text) || j < len(text); k++ {
			st := &client.SolveStatus{}
			// Stream 1 is cut by cuts, stream 2 a byte at a time.
			if i < len(text) {
				size := 1
				if len(cuts) > 0 {
					size = int(cuts[k%len(cuts)])%16 + 1
				}
				end := min(i+size, len(text))
				st.Logs = append(st.Logs, logOf(d, 1, text[i:end]))
				i = end
			}
			if j < len(text) {
				st.Logs = append(st.Logs, logOf(d, 2, text[j:j+1]))
				j++
			}
			out = append(out, m.Mask(st))
		}
		if complete {
			now := time.Now()
			out = append(out, m.Mask(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Completed: &now}}}))
			assert.Nil(t, m.Flush())
		} else {
			out = append(out, m.Flush())
		}
		got := logText(out...)
		assert.Equal(t, want, got[1], "stream 1")
		assert.Equal(t, want, got[2], "stream 2")
		assert.Equal(t, 2*wantN, m.Masked())
		assert.Equal(t, strings.NewReplacer(longestFirst(values)...).Replace(text), got[1], "as strings.Replacer replaces")
		if !strings.Contains(a+b, "*") {
			for _, v := range values {
				if v != "" {
					assert.NotContains(t, got[1], v)
				}
			}
		}
	})
}

// longestFirst is the arguments of a strings.Replacer of values by Mask,
// longest first.
func longestFirst(values []string) []string {
	vs := slices.Clone(values)
	slices.SortStableFunc(vs, func(a, b string) int { return len(b) - len(a) })
	var args []string
	for _, v := range vs {
		if v != "" {
			args = append(args, v, Mask)
		}
	}
	return args
}

func BenchmarkMaskLogs(b *testing.B) {
	m := NewMasker([][]byte{[]byte(secret), []byte("another-secret")})
	line := bytes.Repeat([]byte("compiling some/package/path.go with flags -O2\n"), 100)
	st := &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: "d", Stream: 1, Data: line}}}
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = m.Mask(st)
	}
}
