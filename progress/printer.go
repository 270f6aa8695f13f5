package progress

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/console"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

// ErrNoTerminal is NewPrinter's error for TTY mode without a terminal.
var ErrNoTerminal = errors.New("--progress=tty needs a terminal on stderr: use --progress=plain")

// Printer owns the display of one command's solve status: it renders what
// is sent on Status until Wait closes it.
type Printer struct {
	ch       chan *client.SolveStatus
	done     chan struct{}
	warnings []client.VertexWarning
	err      error
}

// NewPrinter starts rendering in mode: on term when it is not nil and mode
// is Auto or TTY (the live view), else on w. ctx should outlive the
// build's context so that the final state is drawn. It fails at once, and
// renders nothing, when TTY mode has no terminal.
func NewPrinter(ctx context.Context, w io.Writer, term console.File, mode Mode) (*Printer, error) {
	out := w
	if term != nil && (mode == Auto || mode == TTY) {
		out = term
	}
	d, err := progressui.NewDisplay(out, progressui.DisplayMode(mode))
	if err != nil {
		if mode == TTY {
			return nil, ErrNoTerminal
		}
		return nil, err
	}
	p := &Printer{ch: make(chan *client.SolveStatus), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.warnings, p.err = d.UpdateFrom(ctx, p.ch)
		// Drain so that no producer blocks after a display error.
		for range p.ch {
			continue
		}
	}()
	return p, nil
}

// Status is where solve status goes; send nothing after Wait.
func (p *Printer) Status() chan<- *client.SolveStatus { return p.ch }

// Wait ends the display once what was sent is drawn, and returns the build
// warnings it saw, each once: the nodes of a build split across them each
// report a Dockerfile's warnings.
func (p *Printer) Wait() ([]client.VertexWarning, error) {
	close(p.ch)
	<-p.done
	return dedupWarnings(p.warnings), p.err
}

// dedupWarnings drops the warnings that say what an earlier one said, about
// the same place, whichever step reported it.
func dedupWarnings(in []client.VertexWarning) []client.VertexWarning {
	seen := map[string]bool{}
	var out []client.VertexWarning
	for _, w := range in {
		key := fmt.Sprintf("%d\x00%s\x00%q\x00%s", w.Level, w.Short, w.Detail, w.URL)
		if w.SourceInfo != nil {
			key += "\x00" + w.SourceInfo.Filename + fmt.Sprint(w.Range)
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, w)
	}
	return out
}
