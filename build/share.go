package build

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
)

// One process holds the state-dir lock and runs the controller; it also
// serves that controller on <root>/buildkitd.sock (owner only). Another
// docker-build2 that finds the lock taken attaches to the socket and builds
// there, sharing the cache and deduplicating identical steps. The holder
// stays until the builds attached to it are done.

// socketPath is where the lock holder serves its controller.
func socketPath(root string) string { return filepath.Join(root, "buildkitd.sock") }

// drainQuiet is how long the holder waits with no attached request in
// flight before it stops serving: clients make several calls per build.
const drainQuiet = 250 * time.Millisecond

// acquireOrAttach takes the state-dir lock, or attaches to the process that
// holds it. It never waits silently: while neither works (the holder is
// starting or exiting) it says so once through notify, and it stops when
// ctx is done.
func acquireOrAttach(ctx context.Context, root string, notify func(string)) (*flock.Flock, *client.Client, error) {
	lockPath := filepath.Join(root, "buildkitd.lock")
	lock := flock.New(lockPath)
	told := false
	start := time.Now()
	for {
		ok, err := lock.TryLock()
		if err != nil {
			return nil, nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if ok {
			return lock, nil, nil
		}
		if c, err := attach(ctx, socketPath(root)); err == nil {
			if notify != nil {
				notify(fmt.Sprintf("sharing the builder of another docker-build2 process on %s", root))
			}
			return nil, c, nil
		}
		// A holder that is starting up answers within a moment: tell only
		// about a wait that lasts.
		if !told && notify != nil && time.Since(start) > 500*time.Millisecond {
			notify(fmt.Sprintf("waiting for another docker-build2 process to release %s (Ctrl-C to stop)", lockPath))
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// attach connects to a holder's socket and checks that it answers.
func attach(ctx context.Context, sock string) (*client.Client, error) {
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

// sharedServer is the holder's side: the socket listener and a count of the
// requests other processes have in flight.
type sharedServer struct {
	lis      net.Listener
	path     string
	inflight atomic.Int64
	last     atomic.Int64 // unix nanos of the last attached request's end
	conns    atomic.Int64 // connections open through the socket
	once     sync.Once
}

// TagConn, HandleConn, TagRPC and HandleRPC make sharedServer a gRPC
// stats.Handler that counts the connections other processes hold open: a
// client keeps its connection for its whole build.
func (s *sharedServer) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, socketConnKey{}, info.RemoteAddr != nil && info.RemoteAddr.Network() == "unix")
}

func (s *sharedServer) HandleConn(ctx context.Context, st stats.ConnStats) {
	if fromSocket, _ := ctx.Value(socketConnKey{}).(bool); !fromSocket {
		return
	}
	switch st.(type) {
	case *stats.ConnBegin:
		s.conns.Add(1)
	case *stats.ConnEnd:
		s.conns.Add(-1)
	}
}

func (s *sharedServer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (s *sharedServer) HandleRPC(context.Context, stats.RPCStats) {}

type socketConnKey struct{}

// serve serves server on the socket at path (owner only).
func (s *sharedServer) serve(server *grpc.Server, path string) error {
	_ = os.Remove(path) // a socket left by a process that died
	lis, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("serving the builder on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = lis.Close()
		return err
	}
	s.lis, s.path = lis, path
	go func() { _ = server.Serve(lis) }()
	return nil
}

// fromOtherProcess reports whether a request came through the socket.
func fromOtherProcess(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	return ok && p.Addr != nil && p.Addr.Network() == "unix"
}

func (s *sharedServer) begin() { s.inflight.Add(1) }

func (s *sharedServer) end() {
	s.last.Store(time.Now().UnixNano())
	s.inflight.Add(-1)
}

// drain waits until no other process has a request in flight and either
// none holds a connection open or none has made a request for drainQuiet,
// then stops accepting new ones.
func (s *sharedServer) drain(ctx context.Context, notify func(string)) {
	s.once.Do(func() {
		told := false
		for {
			quietFor := time.Since(time.Unix(0, s.last.Load()))
			if s.inflight.Load() == 0 && (s.conns.Load() == 0 || s.last.Load() == 0 || quietFor >= drainQuiet) {
				break
			}
			if !told && notify != nil && s.inflight.Load() > 0 {
				notify("waiting for the builds of other docker-build2 processes sharing this builder to finish")
				told = true
			}
			select {
			case <-ctx.Done():
				_ = s.lis.Close()
				_ = os.Remove(s.path)
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		_ = s.lis.Close()
		_ = os.Remove(s.path)
	})
}

func (e *Engine) countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if e.shared != nil && fromOtherProcess(ctx) {
		e.shared.begin()
		defer e.shared.end()
	}
	return handler(ctx, req)
}

func (e *Engine) countStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if e.shared != nil && fromOtherProcess(ss.Context()) {
		e.shared.begin()
		defer e.shared.end()
	}
	return handler(srv, ss)
}

// Attached reports whether this Engine builds on another process's solver.
func (e *Engine) Attached() bool { return e.lock == nil && e.ctrl == nil && e.userns == nil }

// Unavailable reports whether err means the solver's process went away
// (the holder of a shared state dir exited, or a daemon stopped).
func Unavailable(err error) bool {
	return grpcerrors.Code(err) == codes.Unavailable
}
