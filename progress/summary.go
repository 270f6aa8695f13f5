package progress

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
)

// slowest is how many of the slowest steps a summary names.
const slowest = 3

// minSlow is the shortest time for which a step is named among the
// slowest: what rounds to 0.1s.
const minSlow = 50 * time.Millisecond

// maxStepName is how many bytes of a step's name a summary shows.
const maxStepName = 72

// Summary accumulates a build's solve status (feed it what the display is
// fed, masked) and prints, after the build, what the build did:
//
//	Summary: 3.4s, 8 steps (5 run, 2 cached, 1 failed), 27.12kB of context sent, 1 warning
//	Slowest steps:
//	  2.1s [base 3/3] RUN make
//	  0.5s [internal] load build context
//	  0.1s exporting to image
//	Build record: REF (docker build2 history inspect REF)
//
// Steps are counted as BuildKit counts them in a build record: every vertex
// of the status, "[internal]" ones and the builder's own phases included,
// once each however often it restarts. A step is cached when BuildKit
// says so, failed when it reported an error (cancelled steps too), and run
// when it completed otherwise; the total also holds the steps that never
// ran (after a failure), and ", N failed" is shown only when N > 0. The
// slowest steps are those not cached that ran 0.05s or more. The time is from the first step's start to the last
// step's end. The context sent is what the "transferring …:" statuses of
// the "load build context" steps (and of named contexts' "load from
// client" steps) report, for every node and target. A step's duration is
// the time it ran, its restarts merged; a step still running counts until
// the last time the status shows. Warnings are counted as Printer.Wait
// returns them, each once.
//
// The zero Summary is ready to use, and it is safe for concurrent use.
type Summary struct {
	mu       sync.Mutex
	steps    map[digest.Digest]*summaryStep
	order    []digest.Digest
	sent     map[sentKey]int64
	warnings []client.VertexWarning
	first    time.Time
	last     time.Time
}

type summaryStep struct {
	name              string
	cached, completed bool
	failed            bool
	intervals         map[int64]interval
}

type interval struct{ start, stop time.Time }

type sentKey struct {
	vertex digest.Digest
	id     string
}

// Add accumulates st; a nil st is ignored.
func (s *Summary) Add(st *client.SolveStatus) {
	if st == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps == nil {
		s.steps = map[digest.Digest]*summaryStep{}
		s.sent = map[sentKey]int64{}
	}
	for _, v := range st.Vertexes {
		s.addVertex(v)
	}
	for _, vs := range st.Statuses {
		if strings.HasPrefix(vs.ID, "transferring ") && vs.ID != "transferring dockerfile:" {
			k := sentKey{vs.Vertex, vs.ID}
			s.sent[k] = max(s.sent[k], vs.Current)
		}
	}
	for _, w := range st.Warnings {
		s.warnings = append(s.warnings, *w)
	}
}

func (s *Summary) addVertex(v *client.Vertex) {
	step, ok := s.steps[v.Digest]
	if !ok {
		step = &summaryStep{intervals: map[int64]interval{}}
		s.steps[v.Digest] = step
		s.order = append(s.order, v.Digest)
	}
	if v.Name != "" {
		step.name = v.Name
	}
	step.cached = step.cached || v.Cached
	step.completed = step.completed || v.Completed != nil
	step.failed = step.failed || v.Error != ""
	if v.Started == nil {
		return
	}
	iv := interval{start: *v.Started}
	s.seen(iv.start)
	if v.Completed != nil {
		iv.stop = *v.Completed
		s.seen(iv.stop)
	}
	// As progressui, a start reported again with its end replaces itself.
	if prev, ok := step.intervals[iv.start.UnixNano()]; !ok || iv.stop.After(prev.stop) {
		step.intervals[iv.start.UnixNano()] = iv
	}
}

func (s *Summary) seen(t time.Time) {
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

// Print writes the summary to w in the tty and plain modes (and auto,
// which is one of them), and nothing in the others. ref is the build
// record's reference; "" leaves out the record's line. It writes at most
// six lines, none of them blank, and none at all when neither a step nor
// ref is known.
func (s *Summary) Print(w io.Writer, mode Mode, ref string) {
	if mode != Auto && mode != TTY && mode != Plain {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.steps) > 0 {
		s.printSteps(w)
	}
	if ref != "" {
		fmt.Fprintf(w, "Build record: %s (docker build2 history inspect %s)\n", ref, ref)
	}
}

func (s *Summary) printSteps(w io.Writer) {
	var run, cached, failed int
	type timed struct {
		name string
		d    time.Duration
	}
	var times []timed
	for _, dg := range s.order {
		step := s.steps[dg]
		switch {
		case step.cached:
			cached++
		case step.failed:
			failed++
		case step.completed:
			run++
		}
		if d := step.duration(s.last); d >= minSlow && !step.cached {
			times = append(times, timed{step.name, d})
		}
	}
	line := fmt.Sprintf("Summary: %s, %d %s (%d run, %d cached", seconds(s.last.Sub(s.first)), len(s.steps), plural(len(s.steps), "step", "steps"), run, cached)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	line += ")"
	if sent, ok := s.contextSent(); ok {
		line += fmt.Sprintf(", %s of context sent", formatBytes(sent))
	}
	n := len(dedupWarnings(s.warnings))
	line += fmt.Sprintf(", %d %s", n, plural(n, "warning", "warnings"))
	fmt.Fprintln(w, line)

	slices.SortStableFunc(times, func(a, b timed) int { return cmp.Compare(b.d, a.d) })
	times = times[:min(len(times), slowest)]
	if len(times) == 0 {
		return
	}
	fmt.Fprintln(w, "Slowest steps:")
	width := 0
	for _, t := range times {
		width = max(width, len(seconds(t.d)))
	}
	for _, t := range times {
		fmt.Fprintf(w, "  %*s %s\n", width, seconds(t.d), stepName(t.name))
	}
}

// ContextBytes is how many bytes of local context the build sent.
func (s *Summary) ContextBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := s.contextSent()
	return n
}

// contextSent sums the bytes the context steps report sent; ok when there
// is such a step.
func (s *Summary) contextSent() (sum int64, ok bool) {
	for k, n := range s.sent {
		if step, found := s.steps[k.vertex]; found && isContextStep(step.name) {
			sum += n
			ok = true
		}
	}
	return sum, ok
}

// isContextStep tells the steps that send a local context: the Dockerfile
// frontend's "[internal] load build context" and "[context NAME] load
// from client", also with a platform or target prefixed in the brackets.
func isContextStep(name string) bool {
	tag, rest, ok := strings.Cut(strings.TrimPrefix(name, "["), "] ")
	if !ok || !strings.HasPrefix(name, "[") {
		return false
	}
	words := strings.Fields(tag)
	switch rest {
	case "load build context":
		return len(words) > 0 && words[len(words)-1] == "internal"
	case "load from client":
		return slices.Contains(words, "context")
	}
	return false
}

// duration is how long the step ran, its intervals merged; an interval
// not ended ends at end.
func (step *summaryStep) duration(end time.Time) time.Duration {
	ivs := make([]interval, 0, len(step.intervals))
	for _, iv := range step.intervals {
		if iv.stop.IsZero() {
			iv.stop = end
		}
		ivs = append(ivs, iv)
	}
	slices.SortFunc(ivs, func(a, b interval) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur interval
	for i, iv := range ivs {
		switch {
		case i == 0:
			cur = iv
		case !iv.start.After(cur.stop):
			if iv.stop.After(cur.stop) {
				cur.stop = iv.stop
			}
		default:
			total += cur.stop.Sub(cur.start)
			cur = iv
		}
	}
	if len(ivs) > 0 {
		total += cur.stop.Sub(cur.start)
	}
	return total
}

// stepName is a step's name on one line, cut to maxStepName bytes.
func stepName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if len(name) <= maxStepName {
		return name
	}
	cut := maxStepName - len("...")
	for cut > 0 && !isRuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// seconds formats d as progressui does.
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// formatBytes formats n in decimal units as progressui shows transfers:
// "512B", "27.12kB", "1.98MB".
func formatBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	unit := 0
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	for f >= 1000 && unit < len(units)-1 {
		f /= 1000
		unit++
	}
	return fmt.Sprintf("%.2f%s", f, units[unit])
}
