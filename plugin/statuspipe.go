package plugin

import (
	"fmt"
	"io"

	"github.com/docker-build2/docker-build2/progress"
	"github.com/moby/buildkit/client"
)

// statusPipe sits between the builds and the display: each status is
// masked for the display (secret values become ***), counted for the
// summary, and given, unmasked, to the observers (the build records,
// which mask with maskers of their own).
type statusPipe struct {
	in      chan *client.SolveStatus
	done    chan struct{}
	live    *progress.Masker
	summary progress.Summary
}

// newStatusPipe forwards to out what is sent on Status until Close;
// live nil shows the values.
func newStatusPipe(out chan<- *client.SolveStatus, live *progress.Masker, observers ...func(*client.SolveStatus)) *statusPipe {
	p := &statusPipe{in: make(chan *client.SolveStatus), done: make(chan struct{}), live: live}
	go func() {
		defer close(p.done)
		for st := range p.in {
			for _, o := range observers {
				o(st)
			}
			st = p.live.Mask(st)
			p.summary.Add(st)
			out <- st
		}
		if st := p.live.Flush(); st != nil {
			p.summary.Add(st)
			out <- st
		}
	}()
	return p
}

// Status is where the builds send their status; nothing after Close.
func (p *statusPipe) Status() chan<- *client.SolveStatus { return p.in }

// Close passes on what is left and returns once all of it reached out.
func (p *statusPipe) Close() {
	close(p.in)
	<-p.done
}

// finish prints, after the display, the masking notice and the summary,
// in the modes that show a human log (not quiet, rawjson or none).
func (p *statusPipe) finish(w io.Writer, mode progress.Mode, ref string) {
	if mode == progress.Quiet || mode == progress.RawJSON || mode == "none" {
		return
	}
	if n := progress.MaskNotice(p.live.Masked()); n != "" {
		fmt.Fprintln(w, n)
	}
	p.summary.Print(w, mode, ref)
}

// liveMasker masks the build's secret values in its live output, unless
// DOCKER_BUILD2_SHOW_SECRETS asks to show them for this build.
func liveMasker(values [][]byte) *progress.Masker {
	if showSecrets() {
		return nil
	}
	return progress.NewMasker(values)
}
