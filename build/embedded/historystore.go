package embedded

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	digest "github.com/opencontainers/go-digest"
)

// historyNamespace is the content namespace of BuildKit's build history:
// the worker's ("buildkit") with "_history" added.
const historyNamespace = "buildkit_history"

// historyFilter keeps what BuildKit's build history stores to what
// docker-build2 reads back from it, the provenance of a build (JSON), and
// never stores the rest: a record's logs (every step's output, a secret a
// RUN step prints included) and error details, both protobuf. BuildKit
// writes each of these through a writer whose ref starts "history-";
// a dropped one is committed without being stored, and its Info answered
// (BuildKit checks a record's blobs exist before it keeps the record).
type historyFilter struct {
	content.Store
	dropped *droppedBlobs
}

func newHistoryFilter(s content.Store) historyFilter {
	return historyFilter{Store: s, dropped: &droppedBlobs{size: map[digest.Digest]int64{}}}
}

// droppedBlobs are the history blobs not stored, the latest
// maxDroppedBlobs: a record's Info check comes right after its commit.
type droppedBlobs struct {
	mu    sync.Mutex
	size  map[digest.Digest]int64
	order []digest.Digest
}

const maxDroppedBlobs = 256

func (d *droppedBlobs) add(dgst digest.Digest, size int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.size[dgst]; ok {
		return
	}
	d.size[dgst] = size
	d.order = append(d.order, dgst)
	if len(d.order) > maxDroppedBlobs {
		delete(d.size, d.order[0])
		d.order = d.order[1:]
	}
}

func (d *droppedBlobs) lookup(dgst digest.Digest) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	size, ok := d.size[dgst]
	return size, ok
}

func (s historyFilter) Info(ctx context.Context, dgst digest.Digest) (content.Info, error) {
	if ns, _ := namespaces.Namespace(ctx); ns == historyNamespace {
		if size, ok := s.dropped.lookup(dgst); ok {
			return content.Info{Digest: dgst, Size: size}, nil
		}
	}
	return s.Store.Info(ctx, dgst)
}

func (s historyFilter) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	var wo content.WriterOpts
	for _, o := range opts {
		if err := o(&wo); err != nil {
			return nil, err
		}
	}
	// "history-migrate-" copies the build's exported blobs into the
	// history: no step output there.
	if ns, _ := namespaces.Namespace(ctx); ns != historyNamespace || !strings.HasPrefix(wo.Ref, "history-") || strings.HasPrefix(wo.Ref, "history-migrate-") {
		return s.Store.Writer(ctx, opts...)
	}
	return &historyWriter{open: func() (content.Writer, error) { return s.Store.Writer(ctx, opts...) }, dropped: s.dropped}, nil
}

// historyWriter opens the store's writer on the first byte written, when
// that starts a JSON document; any other blob it drops.
type historyWriter struct {
	open    func() (content.Writer, error)
	w       content.Writer
	drop    bool
	dropped *droppedBlobs
}

func (h *historyWriter) Write(p []byte) (int, error) {
	if h.w == nil && !h.drop && len(p) > 0 {
		if p[0] != '{' {
			h.drop = true
		} else {
			w, err := h.open()
			if err != nil {
				return 0, err
			}
			h.w = w
		}
	}
	if h.drop {
		return len(p), nil
	}
	if h.w == nil {
		return 0, nil
	}
	return h.w.Write(p)
}

func (h *historyWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	if h.drop {
		h.dropped.add(expected, size)
		return nil
	}
	if h.w == nil {
		w, err := h.open()
		if err != nil {
			return err
		}
		h.w = w
	}
	return h.w.Commit(ctx, size, expected, opts...)
}

func (h *historyWriter) Close() error {
	if h.w == nil {
		return nil
	}
	return h.w.Close()
}

func (h *historyWriter) Digest() digest.Digest {
	if h.w == nil {
		return ""
	}
	return h.w.Digest()
}

func (h *historyWriter) Status() (content.Status, error) {
	if h.w == nil {
		return content.Status{}, nil
	}
	return h.w.Status()
}

func (h *historyWriter) Truncate(size int64) error {
	if h.w == nil {
		if size == 0 {
			return nil
		}
		return errors.New("history blob: nothing written to truncate")
	}
	return h.w.Truncate(size)
}
