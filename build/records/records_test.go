package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openStore(t *testing.T, limits Limits) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), limits)
	require.NoError(t, err)
	return s
}

func status(name string, cached bool, at time.Time) *client.SolveStatus {
	done := at.Add(time.Second)
	return &client.SolveStatus{
		Vertexes: []*client.Vertex{{Digest: digest.FromString(name), Name: name, Started: &at, Completed: &done, Cached: cached}},
		Logs:     []*client.VertexLog{{Vertex: digest.FromString(name), Data: []byte("output of " + name + "\n"), Timestamp: at}},
	}
}

func TestStartAddFinish(t *testing.T) {
	t.Parallel()
	s := openStore(t, Limits{})
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	w, err := s.Start(Record{Name: "app", LocalDir: "/src", Started: now, FrontendAttrs: map[string]string{"target": "app"}, SecretIDs: []string{"npm"}})
	require.NoError(t, err)
	assert.Len(t, w.Ref(), 25)

	got, err := s.Get(w.Ref())
	require.NoError(t, err)
	assert.Equal(t, Running, got.Status, "this process still runs")
	assert.Equal(t, os.Getpid(), got.PID)

	w.Add(status("[1/2] FROM alpine", true, now))
	w.Add(status("[2/2] RUN make", false, now))
	w.Add(status("[2/2] RUN make", false, now)) // the same vertex again
	w.Add(&client.SolveStatus{Warnings: []*client.VertexWarning{
		{Short: []byte("FromAsCasing: 'as' and 'FROM' keywords' casing do not match"), Detail: [][]byte{[]byte("d")}},
		{Short: []byte("FromAsCasing: 'as' and 'FROM' keywords' casing do not match"), Detail: [][]byte{[]byte("d")}},
	}})
	require.NoError(t, w.Finish(nil, func(r *Record) {
		r.Outputs = []Output{{Type: "image", Name: "app:latest", Digest: "sha256:abc"}}
		r.Ref = "changed"
	}))
	require.NoError(t, w.Finish(errors.New("again"), nil), "a second Finish does nothing")

	got, err = s.Get("^1")
	require.NoError(t, err)
	assert.Equal(t, Completed, got.Status)
	assert.Equal(t, w.Ref(), got.Ref, "update cannot change the ref")
	assert.Equal(t, 2, got.TotalSteps)
	assert.Equal(t, 1, got.CachedSteps)
	assert.Equal(t, "[2/2] RUN make", got.Steps[1].Name)
	assert.Len(t, got.Warnings, 1)
	assert.Equal(t, "app:latest", got.Outputs[0].Name)
	assert.Zero(t, got.PID)
	require.NotNil(t, got.Completed)

	rc, err := s.Logs(got.Ref)
	require.NoError(t, err)
	defer func() { _ = rc.Close() }()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, lines, 4, "one JSON line per status")
	assert.Contains(t, lines[1], `"name":"[2/2] RUN make"`)
}

func TestFinishOutcome(t *testing.T) {
	t.Parallel()
	s := openStore(t, Limits{})
	for _, tc := range []struct {
		err    error
		status Status
		msg    string
	}{
		{nil, Completed, ""},
		{fmt.Errorf("solve: %w", context.Canceled), Canceled, "solve: context canceled"},
		{errors.New("process \"/bin/sh -c false\" did not complete successfully: exit code: 1\nmore"), Failed, "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"},
	} {
		w, err := s.Start(Record{})
		require.NoError(t, err)
		require.NoError(t, w.Finish(tc.err, nil))
		got, err := s.Get(w.Ref())
		require.NoError(t, err)
		assert.Equal(t, tc.status, got.Status)
		assert.Equal(t, tc.msg, got.Error)
	}
}

// TestConcurrentWriters: two builds at once, each in a process of its own
// in real use; here goroutines on two Stores of one root. A listing taken
// meanwhile never fails nor skips a file.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	var warned []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	refs := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(root, Limits{})
			if !assert.NoError(t, err) {
				return
			}
			w, err := s.Start(Record{Name: fmt.Sprint("build", i)})
			if !assert.NoError(t, err) {
				return
			}
			refs[i] = w.Ref()
			for j := range 50 {
				w.Add(status(fmt.Sprintf("step %d", j), j%2 == 0, time.Now()))
			}
			assert.NoError(t, w.Finish(nil, nil))
		}()
	}
	reader, err := Open(root, Limits{})
	require.NoError(t, err)
	reader.Warn = func(err error) { mu.Lock(); warned = append(warned, err); mu.Unlock() }
	stop := make(chan struct{})
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		for {
			select {
			case <-stop:
				return
			default:
				_, err := reader.List()
				assert.NoError(t, err)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-listed
	assert.Empty(t, warned, "a listing never sees half a file")
	recs, err := reader.List()
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, Completed, r.Status)
		assert.Equal(t, 50, r.TotalSteps)
		assert.Equal(t, 25, r.CachedSteps)
		assert.Contains(t, refs, r.Ref)
	}
	entries, err := os.ReadDir(reader.Dir())
	require.NoError(t, err)
	assert.Len(t, entries, 4, "a record and a log each, no temporary files left")
}

func TestCrashed(t *testing.T) {
	t.Parallel()
	s := openStore(t, Limits{})
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	self, ok := procStart(os.Getpid())
	require.True(t, ok)

	for _, tc := range []struct {
		name  string
		pid   int
		start uint64
		want  Status
	}{
		{"dead pid", dead, 1, Crashed},
		{"pid reused by another process", os.Getpid(), self + 1, Crashed},
		{"no pid", 0, 0, Crashed},
		{"alive", os.Getpid(), self, Running},
	} {
		rec := Record{Ref: newRef(), Name: tc.name, Started: time.Now(), Status: Running, PID: tc.pid, PIDStart: tc.start}
		require.NoError(t, s.writeRecord(&rec))
		got, err := s.Get(rec.Ref)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got.Status, tc.name)
	}
	n, err := s.RemoveAll()
	require.NoError(t, err)
	assert.Equal(t, 3, n, "a crashed record is removed, a running one kept")
}

// fill stores n finished records, the i-th started i hours before now.
func fill(t *testing.T, s *Store, now time.Time, n int) []string {
	t.Helper()
	var refs []string
	for i := range n {
		started := now.Add(-time.Duration(i) * time.Hour)
		done := started.Add(time.Minute)
		rec := Record{Ref: newRef(), Name: fmt.Sprint("b", i), Started: started, Completed: &done, Status: Completed}
		require.NoError(t, s.writeRecord(&rec))
		refs = append(refs, rec.Ref)
	}
	return refs
}

func TestLimits(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := openStore(t, Limits{MaxEntries: 3, MaxAge: 5 * time.Hour})
	refs := fill(t, s, now, 10)
	n, err := s.Prune()
	require.NoError(t, err)
	// Kept: the 3 newest (0-2h), and those that completed less than 5h
	// ago (3h, 4h, and 5h ago, done a minute later).
	assert.Equal(t, 4, n)
	recs, err := s.List()
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, r.Ref)
	}
	assert.Equal(t, refs[:6], got, "newest first")

	// Finish prunes.
	s.limits.MaxAge = time.Minute
	w, err := s.Start(Record{})
	require.NoError(t, err)
	require.NoError(t, w.Finish(nil, nil))
	recs, err = s.List()
	require.NoError(t, err)
	assert.Len(t, recs, 3)
	assert.Equal(t, w.Ref(), recs[0].Ref)

	d := Limits{}.withDefaults()
	assert.Equal(t, Limits{MaxEntries: 50, MaxAge: 48 * time.Hour}, d, "BuildKit's defaults")

	off := openStore(t, Limits{MaxEntries: -1})
	assert.False(t, off.Enabled())
	w, err = off.Start(Record{})
	require.NoError(t, err)
	w.Add(status("x", false, now))
	require.NoError(t, w.Finish(nil, nil))
	recs, err = off.List()
	require.NoError(t, err)
	assert.Empty(t, recs, "recording off")
	var nilWriter *Writer
	nilWriter.Add(nil)
	require.NoError(t, nilWriter.Finish(nil, nil))
}

func TestRemoveBefore(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := openStore(t, Limits{})
	fill(t, s, now, 5)
	n, err := s.RemoveBefore(now.Add(-150 * time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the ones of 3h and 4h ago")
}

func TestGet(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := openStore(t, Limits{})
	refs := []string{"aaaa1111111111111111111111"[:25], "aaab222222222222222222222", "bbbb333333333333333333333"}
	for i, ref := range refs {
		rec := Record{Ref: ref, Started: now.Add(-time.Duration(i) * time.Minute), Status: Completed}
		require.NoError(t, s.writeRecord(&rec))
	}
	for _, tc := range []struct {
		ref, want, err string
	}{
		{ref: "^1", want: refs[0]},
		{ref: "^2", want: refs[1]},
		{ref: "^3", want: refs[2]},
		{ref: "^4", err: `no build record "^4": there are 3`},
		{ref: "^0", err: `invalid build record offset "^0"`},
		{ref: "^x", err: `invalid build record offset "^x"`},
		{ref: refs[1], want: refs[1]},
		{ref: "aaab", want: refs[1]},
		{ref: "b", want: refs[2]},
		{ref: "aaa", err: `ambiguous build record prefix "aaa": it matches 2 records`},
		{ref: "zzz", err: `no build record "zzz"`},
		{ref: "../x", err: `no build record "../x"`},
	} {
		got, err := s.Get(tc.ref)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.ref)
			continue
		}
		if assert.NoError(t, err, tc.ref) {
			assert.Equal(t, tc.want, got.Ref, tc.ref)
		}
	}
	_, err := s.Get("zzz")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Get("aaa")
	require.ErrorIs(t, err, ErrAmbiguous)

	require.ErrorIs(t, s.Remove("b", "zzz"), ErrNotFound)
	recs, err := s.List()
	require.NoError(t, err)
	assert.Len(t, recs, 3, "nothing removed when a ref names none")
	require.NoError(t, s.Remove("b", "^1"))
	recs, err = s.List()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, refs[1], recs[0].Ref)
}

func TestExportImport(t *testing.T) {
	t.Parallel()
	src := openStore(t, Limits{})
	w, err := src.Start(Record{Name: "app", Context: ".", FrontendAttrs: map[string]string{"build-arg:A": "1"}})
	require.NoError(t, err)
	w.Add(status("[1/1] RUN true", false, time.Now()))
	require.NoError(t, w.Finish(errors.New("boom"), nil))

	var buf bytes.Buffer
	require.NoError(t, src.Export(w.Ref(), &buf))

	dst := openStore(t, Limits{})
	ref, err := dst.Import(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, w.Ref(), ref, "the ref is kept")
	want, err := src.Get(w.Ref())
	require.NoError(t, err)
	got, err := dst.Get(ref)
	require.NoError(t, err)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.FrontendAttrs, got.FrontendAttrs)
	assert.Equal(t, Failed, got.Status)
	assert.Equal(t, "boom", got.Error)
	assert.True(t, want.Started.Equal(got.Started))
	wantLog, err := os.ReadFile(src.logPath(w.Ref()))
	require.NoError(t, err)
	gotLog, err := os.ReadFile(dst.logPath(ref))
	require.NoError(t, err)
	assert.Equal(t, wantLog, gotLog)

	again, err := dst.Import(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.NotEqual(t, ref, again, "a ref the store has gets a new one")

	// A running record imports as crashed.
	run, err := src.Start(Record{Name: "running"})
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, src.Export(run.Ref(), &buf))
	ref, err = dst.Import(&buf)
	require.NoError(t, err)
	got, err = dst.Get(ref)
	require.NoError(t, err)
	assert.Equal(t, Crashed, got.Status)
	require.NoError(t, run.Finish(nil, nil))

	_, err = dst.Import(strings.NewReader("not a tar"))
	require.ErrorContains(t, err, "not an export of docker build2 history")
}

func TestCorruptSkipped(t *testing.T) {
	t.Parallel()
	s := openStore(t, Limits{})
	fill(t, s, time.Now(), 2)
	bad := newRef()
	require.NoError(t, os.WriteFile(s.recordPath(bad), []byte(`{"ref": "x`), 0o600))
	other := newRef()
	require.NoError(t, os.WriteFile(s.recordPath(other), []byte(`{"ref": "someoneelse"}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), ".tmp-half.json"), []byte(`{`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "README"), []byte(`x`), 0o600))
	var warned []string
	s.Warn = func(err error) { warned = append(warned, err.Error()) }
	recs, err := s.List()
	require.NoError(t, err)
	assert.Len(t, recs, 2)
	require.Len(t, warned, 2)
	assert.Contains(t, strings.Join(warned, "\n"), bad+".json")
	assert.Contains(t, strings.Join(warned, "\n"), `holds ref "someoneelse"`)
}

func TestNewRef(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		r := newRef()
		assert.Len(t, r, 25)
		assert.True(t, validRef(r), r)
		assert.False(t, seen[r])
		seen[r] = true
	}
}
