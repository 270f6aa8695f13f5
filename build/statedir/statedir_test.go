package statedir

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// busyOwner is an own function that finds the state dir busy a number of
// times, then owns it.
type busyOwner struct {
	busy  int
	calls atomic.Int32
	err   error // returned instead of ErrBusy, when set
}

func (b *busyOwner) own(context.Context) (string, error) {
	n := int(b.calls.Add(1))
	if b.err != nil {
		return "", b.err
	}
	if n <= b.busy {
		if n%2 == 0 {
			return "", fmt.Errorf("starting: %w", ErrBusy) // wrapped counts too
		}
		return "", ErrBusy
	}
	return "owned", nil
}

type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) add(m string) func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, m)
	return func() {}
}

func (n *notices) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

func TestAcquireWaitsForBusy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		busy     int
		wantTold bool
	}{
		{"free at once", 0, false},
		{"a short wait is not told", 2, false},
		{"a long wait is told once", int(tellAfter/retry) + 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			o := &busyOwner{busy: tc.busy}
			var n notices
			start := time.Now()
			owned, c, err := Acquire(t.Context(), root, nil, o.own, n.add)
			require.NoError(t, err)
			assert.Nil(t, c, "nobody serves root to attach to")
			assert.Equal(t, "owned", owned)
			assert.Equal(t, int32(tc.busy+1), o.calls.Load())
			assert.GreaterOrEqual(t, time.Since(start), time.Duration(tc.busy)*retry, "it waits between tries")
			if tc.wantTold {
				assert.Equal(t, []string{fmt.Sprintf(NoticeWaiting, LockPath(root))}, n.list())
			} else {
				assert.Empty(t, n.list())
			}
		})
	}
}

func TestAcquireOtherError(t *testing.T) {
	t.Parallel()
	failed := errors.New("runc is broken")
	o := &busyOwner{err: failed}
	var n notices
	start := time.Now()
	owned, c, err := Acquire(t.Context(), t.TempDir(), nil, o.own, n.add)
	require.ErrorIs(t, err, failed)
	assert.Empty(t, owned)
	assert.Nil(t, c)
	assert.Equal(t, int32(1), o.calls.Load(), "not tried again")
	assert.Less(t, time.Since(start), retry, "returned at once")
	assert.Empty(t, n.list())
}

func TestAcquireCanceled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		after  time.Duration
		cause  error
		notice bool
	}{
		{"canceled while waiting quietly", 150 * time.Millisecond, errors.New("interrupted"), false},
		{"canceled after telling", 700 * time.Millisecond, context.Canceled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			ctx, cancel := context.WithCancelCause(t.Context())
			timer := time.AfterFunc(tc.after, func() { cancel(tc.cause) })
			defer timer.Stop()
			o := &busyOwner{busy: 1 << 30}
			var n notices
			start := time.Now()
			_, c, err := Acquire(ctx, root, nil, o.own, n.add)
			require.ErrorIs(t, err, tc.cause)
			assert.Nil(t, c)
			assert.Less(t, time.Since(start), tc.after+time.Second, "it stops soon after the cancel")
			if tc.notice {
				assert.Equal(t, []string{fmt.Sprintf(NoticeWaiting, LockPath(root))}, n.list())
			} else {
				assert.Empty(t, n.list())
			}
		})
	}
}

func TestTryLock(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	l, err := TryLock(root)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "buildkitd.lock"), l.Path())
	_, err = TryLock(root)
	require.ErrorIs(t, err, ErrBusy, "flock locks conflict within one process too")
	require.NoError(t, l.Unlock())
	l, err = TryLock(root)
	require.NoError(t, err)
	require.NoError(t, l.Unlock())

	_, err = TryLock(filepath.Join(root, "missing"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrBusy)
	assert.Contains(t, err.Error(), "locking "+filepath.Join(root, "missing", "buildkitd.lock"))
}

func TestAttachNoSocket(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	_, err := Attach(t.Context(), root)
	require.EqualError(t, err, "no shared builder socket")

	// A file that is not a socket is not attached to.
	require.NoError(t, os.WriteFile(SocketPath(root), nil, 0o600))
	_, err = Attach(t.Context(), root)
	require.EqualError(t, err, "no shared builder socket")
}

// TestAttachNotAnswering: a socket whose server does not answer BuildKit's
// Info is not attached to.
func TestAttachNotAnswering(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	lis, err := net.Listen("unix", SocketPath(root))
	require.NoError(t, err)
	srv := grpc.NewServer() // no BuildKit service registered
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, err = Attach(t.Context(), root)
	require.Error(t, err)
}

func TestStale(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	assert.False(t, Stale(root))
	require.NoError(t, os.WriteFile(SocketPath(root), nil, 0o600))
	assert.True(t, Stale(root), "a socket left behind")
}

// TestServerServe: the holder's socket is the owner's only, and Drain with
// nobody attached stops it at once and removes it.
func TestServerServe(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// A socket left by a process that died is replaced.
	require.NoError(t, os.WriteFile(SocketPath(root), nil, 0o600))
	s := &Server{}
	srv := grpc.NewServer(grpc.UnaryInterceptor(s.UnaryInterceptor), grpc.StreamInterceptor(s.StreamInterceptor), grpc.StatsHandler(s))
	t.Cleanup(srv.Stop)
	require.NoError(t, s.Serve(srv, root))
	st, err := os.Stat(SocketPath(root))
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSocket)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	var n notices
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Drain(t.Context(), n.add)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Drain waited with nothing attached")
	}
	assert.Empty(t, n.list())
	assert.NoFileExists(t, SocketPath(root))
	s.Drain(t.Context(), n.add) // once only: returns at once
}

// TestServerDrainWaits: Drain waits for requests in flight through the
// socket, telling so once, and stops at once when its context is done.
func TestServerDrainWaits(t *testing.T) {
	t.Parallel()
	s := &Server{}
	s.begin()
	s.conns.Add(1)
	var n notices
	ctx, cancel := context.WithCancelCause(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Drain(ctx, n.add)
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Drain returned with a request in flight")
	default:
	}
	s.end()
	// The connection is still open, but quiet for drainQuiet: Drain ends.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not end once the request ended")
	}
	assert.Equal(t, []string{NoticeDraining}, n.list())
	cancel(nil)

	// A done context stops the wait.
	s = &Server{}
	s.begin()
	ctx, cancel = context.WithCancelCause(t.Context())
	cancel(nil)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.Drain(ctx, func(string) func() { return func() {} })
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Drain ignored its context")
	}
}

// TestServerLinger: a lingering holder marks root with its identity, keeps
// serving while a process is attached and for idle after, then stops
// serving before it removes the mark.
func TestServerLinger(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s := &Server{}
	srv := grpc.NewServer(grpc.StatsHandler(s))
	t.Cleanup(srv.Stop)
	require.NoError(t, s.Serve(srv, root))
	s.conns.Add(1) // a process attached

	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, s.Linger(t.Context(), root, "id-1", 300*time.Millisecond, func() {}))
	}()
	require.Eventually(t, func() bool { id, ok := lingering(root); return ok && id == "id-1" }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Linger returned with a process attached")
	default:
	}
	s.last.Store(time.Now().UnixNano())
	s.conns.Add(-1)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Linger did not end once idle")
	}
	assert.NoFileExists(t, SocketPath(root))
	assert.NoFileExists(t, IdlePath(root))
}

// TestServerLingerAskedToStop: removing the mark stops an idle holder at
// once, and a done context stops it too.
func TestServerLingerAskedToStop(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"mark removed", "context done"} {
		t.Run(how, func(t *testing.T) {
			root := t.TempDir()
			s := &Server{}
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				assert.NoError(t, s.Linger(ctx, root, "id", time.Hour, func() {}))
			}()
			require.Eventually(t, func() bool { _, ok := lingering(root); return ok }, 5*time.Second, 10*time.Millisecond)
			if how == "mark removed" {
				require.NoError(t, os.Remove(IdlePath(root)))
			} else {
				cancel(errors.New("stopped"))
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Linger did not stop (%s)", how)
			}
			assert.NoFileExists(t, IdlePath(root))
		})
	}
}
