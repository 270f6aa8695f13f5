package policy

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// fakeRef is a solved context holding files, counting the reads.
type fakeRef struct {
	gwclient.Reference
	files map[string]string
	stats int
	reads int
}

func (f *fakeRef) StatFile(_ context.Context, req gwclient.StatRequest) (*fstypes.Stat, error) {
	f.stats++
	dt, ok := f.files[req.Path]
	if !ok {
		return nil, errors.New("stat " + req.Path + ": no such file or directory")
	}
	return &fstypes.Stat{Path: req.Path, Size: int64(len(dt)), Mode: 0o644}, nil
}

func (f *fakeRef) ReadFile(_ context.Context, req gwclient.ReadRequest) ([]byte, error) {
	f.reads++
	return []byte(f.files[req.Filename]), nil
}

func fakeRemoteFS(t *testing.T, ref *fakeRef) *remoteFS {
	t.Helper()
	r := &remoteFS{ctx: t.Context()}
	r.once.Do(func() { r.ref = ref })
	return r
}

// TestRemoteFSStat: Stat asks the builder for the file's stat alone, not
// its data.
func TestRemoteFSStat(t *testing.T) {
	t.Parallel()
	ref := &fakeRef{files: map[string]string{"lib/util.rego": "package util\n"}}
	r := fakeRemoteFS(t, ref)

	fi, err := r.Stat("/lib/util.rego")
	require.NoError(t, err)
	assert.Equal(t, "util.rego", fi.Name())
	assert.Equal(t, int64(len("package util\n")), fi.Size())
	assert.False(t, fi.IsDir())
	assert.Equal(t, 1, ref.stats)
	assert.Equal(t, 0, ref.reads)

	_, err = r.Stat("missing.rego")
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, 0, ref.reads)

	dt, err := fs.ReadFile(r, "lib/util.rego")
	require.NoError(t, err)
	assert.Equal(t, "package util\n", string(dt))
	assert.Equal(t, 1, ref.reads)
}
