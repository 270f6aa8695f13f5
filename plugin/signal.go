package plugin

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/cli/cli"
	"github.com/spf13/cobra"
)

// signalError is the cause of a context cancelled by a signal; the exit
// code follows the shell's 128+signal convention (130 SIGINT, 143 SIGTERM).
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// signals cancels a command's context, with a signalError cause, on
// SIGINT or SIGTERM, and remembers the signal.
type signals struct {
	ch   chan os.Signal
	done chan struct{}
	got  chan syscall.Signal // holds the first signal received
}

// signalContext is cancelled, with a signalError cause, by SIGINT or SIGTERM.
func signalContext(ctx context.Context) (context.Context, *signals, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &signals{ch: make(chan os.Signal, 1), done: make(chan struct{}), got: make(chan syscall.Signal, 1)}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-s.ch:
			n, _ := sig.(syscall.Signal)
			s.got <- n
			cancel(signalError{sig: n})
		case <-s.done:
		}
	}()
	return ctx, s, func() {
		signal.Stop(s.ch)
		close(s.done)
		cancel(context.Canceled)
	}
}

// signalGrace is how long a command cancelled from outside waits for the
// signal that may have caused it: through docker, the CLI closes the
// plugin's connection on the same signal the plugin receives, and either
// can come first.
const signalGrace = 200 * time.Millisecond

// withSignalExit gives an error caused by a signal the signal's exit code,
// keeping the error itself for main to render.
func withSignalExit(ctx context.Context, s *signals, err error) error {
	if err == nil {
		return nil
	}
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return cli.StatusError{Cause: err, StatusCode: 128 + int(se.sig)}
	}
	if context.Cause(ctx) == nil {
		return err
	}
	select {
	case sig := <-s.got:
		return cli.StatusError{Cause: err, StatusCode: 128 + int(sig)}
	case <-time.After(signalGrace):
		return err
	}
}

// withSignals runs a command with a context that SIGINT and SIGTERM
// cancel, and the 128+signal exit code when they did.
func withSignals(run func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, sigs, stop := signalContext(cmd.Context())
		defer stop()
		return withSignalExit(ctx, sigs, run(ctx, args))
	}
}
