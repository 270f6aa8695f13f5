// Package statedir shares one state directory between docker-build2
// processes. One process holds <root>/buildkitd.lock, runs the solver and
// serves it on <root>/buildkitd.sock (owner only); another that finds the
// lock taken attaches to the socket and builds there, sharing the cache and
// deduplicating identical steps. The holder stays until the builds attached
// to it are done, and may keep serving for a while after (Linger).
//
// Acquire is the one acquire-or-attach loop, for root and for users whose
// solver runs in a user namespace; Server is the holder's side; Recover
// cleans up after a holder that died.
//
// Imports: BuildKit's client, flock, gRPC and the standard library; no
// project package.
package statedir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gofrs/flock"
	"github.com/moby/buildkit/client"
)

// LockPath is the lock the holder of root keeps for its lifetime.
func LockPath(root string) string { return filepath.Join(root, "buildkitd.lock") }

// SocketPath is where the holder of root serves its solver.
func SocketPath(root string) string { return filepath.Join(root, "buildkitd.sock") }

// IdlePath marks a holder that keeps serving after the process that
// started it exited: it holds the identity of the solver (its
// configuration and binary), and removing it asks the holder to stop as
// soon as no build is attached.
func IdlePath(root string) string { return filepath.Join(root, "buildkitd.idle") }

// ErrBusy says another process holds the state dir but does not serve it
// (yet, or any more): it is starting or exiting.
var ErrBusy = errors.New("the state dir is held by another process")

// Notify tells of a phase that is not a build (msg) as it starts, and
// returns the function that tells it ended.
type Notify func(msg string) (done func())

// Notices Acquire gives, through its notify function.
const (
	NoticeSharing = "sharing the builder of another docker-build2 process on %s"
	NoticeWaiting = "waiting for another docker-build2 process to release %s (Ctrl-C to stop)"
)

// How long Acquire waits before it tells about the wait, and between tries.
const (
	tellAfter = 500 * time.Millisecond
	retry     = 25 * time.Millisecond
)

// Acquire attaches to the process that serves root, or becomes that
// process through own. own returns ErrBusy while another process holds
// root without serving it; Acquire then tries both again until ctx is
// done. It never waits silently: notify hears once that it shares another
// process's solver, or that it waits (until the wait ends).
//
// A holder that lingers after its process exited (IdlePath) is shared
// silently when its identity is one of want; one with another identity
// (another configuration, another binary) is asked to stop, and Acquire
// owns root once it did.
func Acquire[T any](ctx context.Context, root string, want []string, own func(context.Context) (T, error), notify Notify) (owned T, attached *client.Client, err error) {
	waited := func() {}
	defer func() { waited() }()
	told := false
	var replaced os.FileInfo // the socket of a holder asked to stop
	start := time.Now()
	for {
		if !sameSocket(root, replaced) {
			if c, err := Attach(ctx, root); err == nil {
				id, idle := lingering(root)
				switch {
				case idle && slices.Contains(want, id):
					waited()
					waited = func() {}
					return owned, c, nil
				case idle:
					_ = c.Close()
					replaced, _ = os.Stat(SocketPath(root))
					_ = os.Remove(IdlePath(root))
				default:
					waited()
					waited = func() {}
					notify(fmt.Sprintf(NoticeSharing, root))()
					return owned, c, nil
				}
			}
		}
		owned, err = own(ctx)
		if err == nil {
			return owned, nil, nil
		}
		if !errors.Is(err, ErrBusy) {
			return owned, nil, err
		}
		// A holder that is starting up answers within a moment: tell only
		// about a wait that lasts.
		if !told && time.Since(start) > tellAfter {
			waited = notify(fmt.Sprintf(NoticeWaiting, LockPath(root)))
			told = true
		}
		select {
		case <-ctx.Done():
			return owned, nil, context.Cause(ctx)
		case <-time.After(retry):
		}
	}
}

// sameSocket reports whether root's socket is still the one of st.
func sameSocket(root string, st os.FileInfo) bool {
	if st == nil {
		return false
	}
	cur, err := os.Stat(SocketPath(root))
	return err == nil && os.SameFile(cur, st)
}

// lingering reports whether root's holder lingers, and its identity.
func lingering(root string) (id string, ok bool) {
	dt, err := os.ReadFile(IdlePath(root))
	if err != nil {
		return "", false
	}
	return string(dt), true
}

// TryLock takes root's lock, or returns ErrBusy when another process has it.
func TryLock(root string) (*flock.Flock, error) {
	lock := flock.New(LockPath(root))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", lock.Path(), err)
	}
	if !ok {
		return nil, ErrBusy
	}
	return lock, nil
}

// Busy reports whether another process holds root's lock: a probe that
// takes the lock and lets it go at once, cheaper than starting a process
// that would find the state dir busy.
func Busy(root string) bool {
	lock, err := TryLock(root)
	if err != nil {
		return errors.Is(err, ErrBusy)
	}
	_ = lock.Unlock()
	return false
}

// Attach connects to the socket of root's holder and checks that it answers.
func Attach(ctx context.Context, root string) (*client.Client, error) {
	sock := SocketPath(root)
	st, err := os.Stat(sock)
	if err != nil || st.Mode()&os.ModeSocket == 0 {
		return nil, errors.New("no shared builder socket")
	}
	c, err := client.New(ctx, "unix://"+sock)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeoutCause(ctx, 2*time.Second, errors.New("the shared builder did not answer"))
	defer cancel()
	if _, err := c.Info(pingCtx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Stale reports whether root has a socket left by a holder: one that exits
// normally removes it, so the last holder died and may have left
// containers and mounts for Recover.
func Stale(root string) bool {
	_, err := os.Lstat(SocketPath(root))
	return err == nil
}
