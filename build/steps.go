package build

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
)

// Phases of a build that are not the solver's (starting or sharing the
// embedded solver, which node builds what, loading into the engine) are
// shown as steps of their own in the status, so that every progress mode,
// rawjson included, shows them the way it shows the solver's steps.

var stepSeq atomic.Int64

// stepDigest names a synthetic vertex; the sequence keeps two steps of the
// same name apart.
func stepDigest(name string) digest.Digest {
	return digest.FromString("docker-build2 step " + strconv.FormatInt(stepSeq.Add(1), 10) + " " + name)
}

// notice reports a finished step called msg on ch; a nil ch drops it.
func notice(ch chan<- *client.SolveStatus, msg string) {
	if ch == nil {
		return
	}
	now := time.Now()
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: stepDigest(msg), Name: msg, Started: &now, Completed: &now}}}
}

// step reports a step called name on ch as started; the function it
// returns reports it done, failed when err is not nil.
func step(ch chan<- *client.SolveStatus, name string) func(err error) {
	if ch == nil {
		return func(error) {}
	}
	start := time.Now()
	v := &client.Vertex{Digest: stepDigest(name), Name: name, Started: &start}
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{v}}
	return func(err error) {
		end := time.Now()
		done := *v
		done.Completed = &end
		if err != nil {
			done.Error = err.Error()
		}
		ch <- &client.SolveStatus{Vertexes: []*client.Vertex{&done}}
	}
}

// forward copies statuses from in to out until in is closed; it never
// closes out, which more than one solve may feed.
func forward(in <-chan *client.SolveStatus, out chan<- *client.SolveStatus) {
	for st := range in {
		if out != nil {
			out <- st
		}
	}
}
