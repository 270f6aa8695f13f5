package policy

import (
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/identity"
	"github.com/opencontainers/go-digest"
)

// window is how long the policy step stays open after its last line, as
// buildx has it: checks that come later (a stage's image resolved after
// another's steps ran) reopen it.
const window = 500 * time.Millisecond

// logger is the policy's step in the progress ("loading policies FILE"):
// each line the policies log is one of its log lines.
type logger struct {
	ch   chan<- *client.SolveStatus
	dgst digest.Digest
	name string

	mu      sync.Mutex
	started time.Time
	open    bool
	closed  bool
	gen     int
	timer   *time.Timer
}

func newLogger(ch chan<- *client.SolveStatus, name string) *logger {
	return &logger{ch: ch, dgst: digest.FromString(identity.NewID()), name: name}
}

// Log adds msg as a line of the step, opening it when it is not.
func (l *logger) Log(msg string) {
	if l.ch == nil || msg == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if !l.open {
		l.open = true
		l.gen++
		l.started = time.Now()
		l.send(nil, "")
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	gen := l.gen
	l.timer = time.AfterFunc(window, func() { l.complete(gen) })
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	l.ch <- &client.SolveStatus{Logs: []*client.VertexLog{{Vertex: l.dgst, Stream: 1, Data: []byte(msg), Timestamp: time.Now()}}}
}

func (l *logger) complete(gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.open || gen != l.gen {
		return
	}
	l.open = false
	now := time.Now()
	l.send(&now, "")
}

// Close ends the step, failed with err when it is not nil; nothing is
// sent after.
func (l *logger) Close(err error) {
	if l.ch == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.open || (err != nil && !l.started.IsZero()) {
		now := time.Now()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		l.send(&now, msg)
	}
	l.open = false
}

func (l *logger) send(completed *time.Time, errMsg string) {
	started := l.started
	l.ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: l.dgst, Name: l.name, Started: &started, Completed: completed, Error: errMsg}}}
}
