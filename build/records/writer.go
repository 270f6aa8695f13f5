package records

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc/codes"
)

// Writer records one build: Add stores its statuses, Finish its end. A
// nil Writer, or the Writer of a Store that does not record, does nothing.
// Add and Finish may be called from different goroutines.
type Writer struct {
	store *Store

	mu       sync.Mutex
	rec      Record
	log      *os.File
	buf      *bufio.Writer
	logErr   error
	steps    map[digest.Digest]int
	warnings map[string]bool
	done     bool
}

// Start stores rec as Running and opens its log. It fills Ref (a new one
// when empty), Started (now when zero), Status and the process fields.
func (s *Store) Start(rec Record) (*Writer, error) {
	if !s.Enabled() {
		return &Writer{done: true}, nil
	}
	if rec.Ref == "" {
		rec.Ref = newRef()
	}
	if !validRef(rec.Ref) {
		return nil, fmt.Errorf("invalid build record ref %q: lower-case letters and digits only", rec.Ref)
	}
	if rec.Started.IsZero() {
		rec.Started = s.now()
	}
	rec.Status = Running
	rec.Completed = nil
	rec.PID = os.Getpid()
	rec.PIDStart, _ = procStart(rec.PID)
	f, err := os.OpenFile(s.logPath(rec.Ref), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting build record: %w", err)
	}
	if err := s.writeRecord(&rec); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &Writer{
		store:    s,
		rec:      rec,
		log:      f,
		buf:      bufio.NewWriter(f),
		steps:    map[digest.Digest]int{},
		warnings: map[string]bool{},
	}, nil
}

// Ref is the record's ref ("" for a Writer that records nothing).
func (w *Writer) Ref() string {
	if w == nil {
		return ""
	}
	return w.rec.Ref
}

// Add appends st to the log, as one JSON line, and takes its vertices
// into the record's steps and its warnings into the record's. A write
// error is kept for Finish to return; the build goes on.
func (w *Writer) Add(st *client.SolveStatus) {
	if w == nil || st == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	if w.logErr == nil {
		dt, err := json.Marshal(st)
		if err == nil {
			_, err = w.buf.Write(append(dt, '\n'))
		}
		if err == nil && len(st.Vertexes) > 0 {
			// Flushed at each vertex change, so that "history logs"
			// of a running build shows what ran so far.
			err = w.buf.Flush()
		}
		w.logErr = err
	}
	for _, v := range st.Vertexes {
		w.addVertex(v)
	}
	for _, wn := range st.Warnings {
		w.addWarning(wn)
	}
}

func (w *Writer) addVertex(v *client.Vertex) {
	i, ok := w.steps[v.Digest]
	if !ok {
		i = len(w.rec.Steps)
		w.steps[v.Digest] = i
		w.rec.Steps = append(w.rec.Steps, Step{})
	}
	s := &w.rec.Steps[i]
	if v.Name != "" {
		s.Name = v.Name
	}
	if v.Started != nil {
		s.Started = v.Started
	}
	if v.Completed != nil {
		s.Completed = v.Completed
	}
	s.Cached = s.Cached || v.Cached
	if v.Error != "" {
		s.Error = firstLine(v.Error)
	}
}

func (w *Writer) addWarning(v *client.VertexWarning) {
	wn := Warning{Short: strings.TrimSpace(string(v.Short)), URL: v.URL}
	for _, d := range v.Detail {
		wn.Detail = append(wn.Detail, string(d))
	}
	if v.SourceInfo != nil {
		wn.Location = v.SourceInfo.Filename
		if len(v.Range) > 0 && v.Range[0].Start != nil {
			wn.Location += fmt.Sprintf(":%d", v.Range[0].Start.Line)
		}
	}
	key := wn.Short + "\x00" + wn.Location
	if w.warnings[key] {
		return
	}
	w.warnings[key] = true
	w.rec.Warnings = append(w.rec.Warnings, wn)
}

// Finish ends the record: Completed is now, Status follows err (nil:
// Completed; canceled: Canceled; else Failed, with Error, err's first line,
// and ErrorSource, the excerpt of the Dockerfile BuildKit attached). Then
// update, when not nil, may set what only the caller knows (Outputs,
// ContextBytes, …) before the record is written for good. Last, the
// store's Limits are applied. It returns an error writing the log or the
// record; calling it again does nothing.
func (w *Writer) Finish(err error, update func(*Record)) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	logErr := w.logErr
	if ferr := w.buf.Flush(); logErr == nil {
		logErr = ferr
	}
	if cerr := w.log.Close(); logErr == nil {
		logErr = cerr
	}
	rec := &w.rec
	now := w.store.now()
	rec.Completed = &now
	rec.PID, rec.PIDStart = 0, 0
	setOutcome(rec, err)
	for _, s := range rec.Steps {
		if s.Cached {
			rec.CachedSteps++
		}
	}
	rec.TotalSteps = len(rec.Steps)
	ref, started := rec.Ref, rec.Started
	if update != nil {
		update(rec)
	}
	rec.Ref, rec.Started = ref, started
	if werr := w.store.writeRecord(rec); werr != nil {
		return werr
	}
	if _, perr := w.store.Prune(); perr != nil {
		return perr
	}
	if logErr != nil {
		return fmt.Errorf("writing logs of build record %s: %w", rec.Ref, logErr)
	}
	return nil
}

// setOutcome sets Status, Error and ErrorSource from the build's error.
func setOutcome(rec *Record, err error) {
	switch {
	case err == nil:
		rec.Status = Completed
		return
	case errors.Is(err, context.Canceled) || grpcerrors.Code(err) == codes.Canceled:
		rec.Status = Canceled
	default:
		rec.Status = Failed
	}
	rec.Error = firstLine(err.Error())
	for _, src := range errdefs.Sources(err) {
		var b bytes.Buffer
		if src.Print(&b) == nil {
			rec.ErrorSource = append(rec.ErrorSource, strings.Split(strings.TrimRight(b.String(), "\n"), "\n")...)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
