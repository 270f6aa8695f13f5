package statedir

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
)

// NoticeDraining is what Server.Drain tells while other processes' builds
// keep it serving.
const NoticeDraining = "waiting for the builds of other docker-build2 processes sharing this builder to finish"

// drainQuiet is how long the holder waits with no attached request in
// flight before it stops serving: clients make several calls per build.
const drainQuiet = 250 * time.Millisecond

// Server is the holder's side: the socket listener and a count of the
// requests other processes have in flight. Its zero value is ready; give it
// to grpc.NewServer as the stats handler and interceptors.
type Server struct {
	lis      net.Listener
	path     string
	inflight atomic.Int64
	last     atomic.Int64 // unix nanos of the last attached request's end
	conns    atomic.Int64 // connections open through the socket
	once     sync.Once
}

// TagConn, HandleConn, TagRPC and HandleRPC make Server a gRPC
// stats.Handler that counts the connections other processes hold open: a
// client keeps its connection for its whole build.
func (s *Server) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, socketConnKey{}, info.RemoteAddr != nil && info.RemoteAddr.Network() == "unix")
}

func (s *Server) HandleConn(ctx context.Context, st stats.ConnStats) {
	if fromSocket, _ := ctx.Value(socketConnKey{}).(bool); !fromSocket {
		return
	}
	switch st.(type) {
	case *stats.ConnBegin:
		s.conns.Add(1)
	case *stats.ConnEnd:
		s.last.Store(time.Now().UnixNano())
		s.conns.Add(-1)
	}
}

func (s *Server) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (s *Server) HandleRPC(context.Context, stats.RPCStats) {}

type socketConnKey struct{}

// Serve serves server on root's socket (owner only).
func (s *Server) Serve(server *grpc.Server, root string) error {
	path := SocketPath(root)
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

func (s *Server) begin() { s.inflight.Add(1) }

func (s *Server) end() {
	s.last.Store(time.Now().UnixNano())
	s.inflight.Add(-1)
}

// Drain waits until no other process has a request in flight and either
// none holds a connection open or none has made a request for drainQuiet,
// then stops accepting new ones.
func (s *Server) Drain(ctx context.Context, notify Notify) {
	s.once.Do(func() {
		done := func() {}
		defer func() { done() }()
		told := false
		for {
			quietFor := time.Since(time.Unix(0, s.last.Load()))
			if s.inflight.Load() == 0 && (s.conns.Load() == 0 || s.last.Load() == 0 || quietFor >= drainQuiet) {
				break
			}
			if !told && s.inflight.Load() > 0 {
				done = notify(NoticeDraining)
				told = true
			}
			select {
			case <-ctx.Done():
				s.stop()
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		s.stop()
	})
}

// lingerPoll is how often a lingering holder looks whether it is idle.
const lingerPoll = 50 * time.Millisecond

// Linger keeps serving after the process that started the holder exited:
// it marks root as lingering with the holder's identity id (IdlePath),
// tells marked, and returns once no other process has been attached for idle, once the
// mark was removed (another process wants a holder of another identity)
// and none is attached, or when ctx is done. It stops accepting
// connections before it removes the mark, so that a process that finds no
// mark never attaches to a holder that is leaving.
func (s *Server) Linger(ctx context.Context, root, id string, idle time.Duration, marked func()) error {
	if err := os.WriteFile(IdlePath(root), []byte(id), 0o600); err != nil {
		return fmt.Errorf("marking the builder idle: %w", err)
	}
	defer func() { _ = os.Remove(IdlePath(root)) }()
	marked()
	since := time.Now()
	for {
		busy := s.inflight.Load() > 0 || s.conns.Load() > 0
		if last := time.Unix(0, s.last.Load()); last.After(since) {
			since = last
		}
		if !busy {
			if _, err := os.Stat(IdlePath(root)); err != nil || time.Since(since) >= idle {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(lingerPoll):
		}
	}
	s.stop()
	return nil
}

func (s *Server) stop() {
	if s.lis != nil {
		_ = s.lis.Close()
		_ = os.Remove(s.path)
	}
}

// UnaryInterceptor and StreamInterceptor count the requests that come
// through the socket, which Drain waits for.
func (s *Server) UnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if fromOtherProcess(ctx) {
		s.begin()
		defer s.end()
	}
	return handler(ctx, req)
}

// StreamInterceptor is UnaryInterceptor for streams.
func (s *Server) StreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if fromOtherProcess(ss.Context()) {
		s.begin()
		defer s.end()
	}
	return handler(srv, ss)
}
