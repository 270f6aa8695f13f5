package embedded

import (
	"bytes"
	"context"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	cerrdefs "github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistoryFilter(t *testing.T) {
	backend, err := local.NewStore(t.TempDir())
	require.NoError(t, err)
	s := newHistoryFilter(backend)
	write := func(ctx context.Context, ref string, dt []byte) digest.Digest {
		t.Helper()
		d := digest.FromBytes(dt)
		require.NoError(t, content.WriteBlob(ctx, s, ref, bytes.NewReader(dt), ocispecs.Descriptor{Digest: d, Size: int64(len(dt))}))
		return d
	}
	hist := namespaces.WithNamespace(context.Background(), historyNamespace)

	// A provenance (JSON) is kept.
	prov := write(hist, "history-l1", []byte(`{"buildType":"x"}`))
	dt, err := content.ReadBlob(hist, s, ocispecs.Descriptor{Digest: prov})
	require.NoError(t, err)
	assert.JSONEq(t, `{"buildType":"x"}`, string(dt))

	// Step logs (protobuf) are not stored; their Info still answers.
	logs := []byte("\xae\x0f\x00\x00\nstep output SECRET")
	ld := write(hist, "history-l2", logs)
	info, err := s.Info(hist, ld)
	require.NoError(t, err)
	assert.Equal(t, int64(len(logs)), info.Size)
	_, err = backend.Info(hist, ld)
	assert.True(t, cerrdefs.IsNotFound(err), "not in the store: %v", err)

	// Everything else is stored as it comes: other namespaces, other
	// refs, the history's copies of exported blobs.
	for _, c := range []struct {
		ctx context.Context
		ref string
	}{
		{namespaces.WithNamespace(context.Background(), "buildkit"), "history-l3"},
		{hist, "layer-1"},
		{hist, "history-migrate-sha256:abc"},
	} {
		dt := []byte("\x1f\x8b binary " + c.ref)
		d := write(c.ctx, c.ref, dt)
		_, err := backend.Info(c.ctx, d)
		assert.NoError(t, err, c.ref)
	}
}
