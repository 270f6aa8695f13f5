package progress

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
)

// Mask is what a secret value is replaced by.
const Mask = "***"

// Masker replaces the secret values of a build by Mask in its solve status,
// before the status is drawn or recorded. A nil *Masker masks nothing: its
// methods pass the status through.
//
// Step output arrives in chunks, each vertex and stream apart, so a value
// may be split across chunks: Mask holds back the end of a chunk that could
// be the start of a value (at most the longest value's length less one
// byte) until the next chunk of that vertex and stream shows whether it is.
// What is held is released, masked, when the vertex completes or on Flush.
//
// Values are matched leftmost first and, at one place, longest first, so a
// value containing another is masked whole. A value made of '*' only is
// still masked, but the Mask text itself then holds it.
//
// A Masker is safe for concurrent use.
type Masker struct {
	values [][]byte  // longest first
	first  [256]bool // the first bytes of values

	mu     sync.Mutex
	held   map[logKey]*client.VertexLog
	masked int
}

type logKey struct {
	vertex digest.Digest
	stream int
}

// NewMasker returns a Masker of values; empty values are ignored, and
// with none left it returns nil, which masks nothing.
func NewMasker(values [][]byte) *Masker {
	var vs [][]byte
	for _, v := range values {
		if len(v) > 0 && !slices.ContainsFunc(vs, func(o []byte) bool { return bytes.Equal(o, v) }) {
			vs = append(vs, bytes.Clone(v))
		}
	}
	if len(vs) == 0 {
		return nil
	}
	slices.SortStableFunc(vs, func(a, b []byte) int { return len(b) - len(a) })
	m := &Masker{values: vs, held: map[logKey]*client.VertexLog{}}
	for _, v := range vs {
		m.first[v[0]] = true
	}
	return m
}

// Masked returns how many values were replaced so far.
func (m *Masker) Masked() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.masked
}

// Mask returns st with every value replaced by Mask in its vertices' names
// and errors, its statuses' names and IDs, its logs' data and its
// warnings' short and detail texts. st is never changed; what is returned
// may share with st the elements that hold no value. A log chunk all of
// whose data is held back is left out; the data of the vertices that st
// completes is released in the logs returned. A nil st, or a nil m,
// returns st.
func (m *Masker) Mask(st *client.SolveStatus) *client.SolveStatus {
	if m == nil || st == nil {
		return st
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &client.SolveStatus{}
	var completed []digest.Digest
	for _, v := range st.Vertexes {
		out.Vertexes = append(out.Vertexes, m.vertex(v))
		if v.Completed != nil {
			completed = append(completed, v.Digest)
		}
	}
	for _, s := range st.Statuses {
		out.Statuses = append(out.Statuses, m.status(s))
	}
	for _, l := range st.Logs {
		if c := m.log(l); c != nil {
			out.Logs = append(out.Logs, c)
		}
	}
	for _, d := range completed {
		out.Logs = append(out.Logs, m.release(func(k logKey) bool { return k.vertex == d })...)
	}
	for _, w := range st.Warnings {
		out.Warnings = append(out.Warnings, m.warning(w))
	}
	return out
}

// Flush returns the log data still held back, masked, or nil when none
// is: send it before the status stream ends.
func (m *Masker) Flush() *client.SolveStatus {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	logs := m.release(func(logKey) bool { return true })
	if len(logs) == 0 {
		return nil
	}
	return &client.SolveStatus{Logs: logs}
}

// MaskNotice is the line printed after a build whose output had n values
// masked; it is empty when n is 0.
func MaskNotice(n int) string {
	if n <= 0 {
		return ""
	}
	what := "secret values were"
	if n == 1 {
		what = "secret value was"
	}
	return fmt.Sprintf("notice: %d %s masked as %s in this output; DOCKER_BUILD2_SHOW_SECRETS=1 shows them for one build (never in build records)", n, what, Mask)
}

func (m *Masker) vertex(v *client.Vertex) *client.Vertex {
	name, nameOK := m.maskString(v.Name)
	verr, errOK := m.maskString(v.Error)
	if nameOK && errOK {
		return v
	}
	c := *v
	c.Name, c.Error = name, verr
	return &c
}

func (m *Masker) status(s *client.VertexStatus) *client.VertexStatus {
	id, idOK := m.maskString(s.ID)
	name, nameOK := m.maskString(s.Name)
	if idOK && nameOK {
		return s
	}
	c := *s
	c.ID, c.Name = id, name
	return &c
}

func (m *Masker) warning(w *client.VertexWarning) *client.VertexWarning {
	short, same := m.maskBytes(w.Short)
	var detail [][]byte
	for i, d := range w.Detail {
		md, ok := m.maskBytes(d)
		if ok && detail == nil {
			continue
		}
		if detail == nil {
			detail = slices.Clone(w.Detail)
		}
		detail[i] = md
	}
	if same && detail == nil {
		return w
	}
	c := *w
	c.Short = short
	if detail != nil {
		c.Detail = detail
	}
	return &c
}

// log masks one chunk, joined to what was held of its vertex and stream,
// and holds back its end that could start a value; nil when nothing is
// left to show.
func (m *Masker) log(l *client.VertexLog) *client.VertexLog {
	k := logKey{l.Vertex, l.Stream}
	data := l.Data
	if h, ok := m.held[k]; ok {
		data = append(slices.Clip(h.Data), l.Data...)
		delete(m.held, k)
	}
	out, rest, n := m.replace(data, false)
	m.masked += n
	if len(rest) > 0 {
		h := *l
		h.Data = bytes.Clone(rest)
		m.held[k] = &h
	}
	if len(out) == 0 {
		return nil
	}
	if n == 0 && len(rest) == 0 && len(data) == len(l.Data) {
		return l
	}
	c := *l
	c.Data = out
	return &c
}

// release returns, masked, what is held for the keys that match, in a
// stable order.
func (m *Masker) release(match func(logKey) bool) []*client.VertexLog {
	var keys []logKey
	for k := range m.held {
		if match(k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b logKey) int {
		if c := strings.Compare(string(a.vertex), string(b.vertex)); c != 0 {
			return c
		}
		return a.stream - b.stream
	})
	var out []*client.VertexLog
	for _, k := range keys {
		h := m.held[k]
		delete(m.held, k)
		data, _, n := m.replace(h.Data, true)
		m.masked += n
		h.Data = data
		out = append(out, h)
	}
	return out
}

// maskString masks s; ok when it held no value.
func (m *Masker) maskString(s string) (_ string, ok bool) {
	if s == "" {
		return s, true
	}
	out, _, n := m.replace([]byte(s), true)
	if n == 0 {
		return s, true
	}
	m.masked += n
	return string(out), false
}

// maskBytes masks b; ok when it held no value, and then b is returned.
func (m *Masker) maskBytes(b []byte) (_ []byte, ok bool) {
	out, _, n := m.replace(b, true)
	if n == 0 {
		return b, true
	}
	m.masked += n
	return out, false
}

// replace replaces the values in data, and returns the result and how many
// it replaced. Unless final, it stops where the rest of data could be the
// start of a value, and returns that rest. With nothing replaced or held,
// data itself is returned.
func (m *Masker) replace(data []byte, final bool) (out, rest []byte, n int) {
	start := 0 // data[start:pos] is still to be copied to out
	for pos := 0; pos < len(data); pos++ {
		if !m.first[data[pos]] {
			continue
		}
		l, hold := m.matchAt(data[pos:], final)
		switch {
		case hold:
			if out == nil && start == 0 {
				return data[:pos], data[pos:], n
			}
			return append(out, data[start:pos]...), data[pos:], n
		case l > 0:
			out = append(append(out, data[start:pos]...), Mask...)
			n++
			pos += l - 1
			start = pos + 1
		}
	}
	if out == nil && start == 0 {
		return data, nil, n
	}
	return append(out, data[start:]...), nil, n
}

// matchAt returns the length of the longest value b starts with, or,
// unless final, hold when b is shorter than a value it could be the start
// of, longer than any value it starts with.
func (m *Masker) matchAt(b []byte, final bool) (l int, hold bool) {
	for _, v := range m.values {
		if len(b) >= len(v) {
			if bytes.HasPrefix(b, v) {
				return len(v), false
			}
			continue
		}
		if !final && bytes.HasPrefix(v, b) {
			return 0, true
		}
	}
	return 0, false
}
