package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"
)

// solveExport builds the Dockerfile of ctxDir on s into exports, FROM
// finding the image store's images first (as build does).
func solveExport(t *testing.T, s *Solver, ctxDir string, exports ...client.ExportEntry) error {
	t.Helper()
	fs, err := fsutil.NewFS(ctxDir)
	require.NoError(t, err)
	ch := make(chan *client.SolveStatus)
	go func() {
		for range ch {
		}
	}()
	_, err = s.Solve(t.Context(), client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": "Dockerfile", "image-resolve-mode": "local"},
		LocalMounts:   map[string]fsutil.FS{"context": fs, "dockerfile": fs},
		Exports:       exports,
	}, ch) // closes ch
	return err
}

func imageNamed(t *testing.T, s *Solver, name string) (Image, bool) {
	t.Helper()
	list, err := s.Images(t.Context())
	require.NoError(t, err)
	for _, img := range list {
		if img.Name == name {
			return img, true
		}
	}
	return Image{}, false
}

func records(t *testing.T, s *Solver) map[string]*client.UsageInfo {
	t.Helper()
	du, err := s.Client().DiskUsage(t.Context())
	require.NoError(t, err)
	out := map[string]*client.UsageInfo{}
	for _, u := range du {
		out[u.ID] = u
	}
	return out
}

// blobFiles is the bytes of the content store's files of blobs, and
// which of them are there.
func blobFiles(t *testing.T, root string, blobs []Blob) (int64, int) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, "runc-*", "content", "blobs"))
	require.NoError(t, err)
	require.Len(t, dirs, 1, "one content store")
	var size int64
	n := 0
	for _, b := range blobs {
		algo, hex, _ := strings.Cut(b.Digest, ":")
		st, err := os.Stat(filepath.Join(dirs[0], algo, hex))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		size += st.Size()
		n++
	}
	return size, n
}

// TestImageContentNextToCache: an image keeps its blobs, not snapshots;
// the cache records its layers were made from are Shared (and not in
// use) in BuildKit's DiskUsage, and each counts its layer's blob, which
// is the lease holder Images tells. A process sharing the solver sees
// the same. Pruning all the cache leaves the image whole (FROM builds
// from it); removing it removes the content nothing else keeps at once.
func TestImageContentNextToCache(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	takeSlot(t)
	root := t.TempDir()
	holder := openSolver(t, Config{Root: root})
	other := openSolver(t, Config{Root: root})
	require.IsType(t, attached{}, other.mode)
	const name = "docker.io/library/usage-base:latest"
	base := writeContext(t, "FROM scratch\nCOPY rootfs/ /\nRUN busybox dd if=/dev/urandom of=/big bs=1000 count=3000\n")
	require.NoError(t, solveExport(t, holder, base, client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{"name": name}}))

	img, ok := imageNamed(t, holder, name)
	require.True(t, ok, "the image is stored")
	var sum int64
	var layers []Blob
	for _, b := range img.Blobs {
		sum += b.Size
		if b.Layer {
			layers = append(layers, b)
		}
	}
	assert.Equal(t, sum, img.Size)
	assert.Greater(t, img.Size, int64(3_000_000), "the random layer does not compress")
	require.Len(t, layers, 2, "COPY and RUN")
	onDisk, n := blobFiles(t, root, img.Blobs)
	assert.Equal(t, len(img.Blobs), n)
	assert.Equal(t, img.Size, onDisk, "Size is the bytes of the image's files in the content store")

	recs := records(t, holder)
	for _, l := range layers {
		var rec *client.UsageInfo
		for _, h := range l.Holders {
			if r, ok := recs[h]; ok {
				require.Nil(t, rec, "one record holds layer %s", l.Digest)
				rec = r
			}
		}
		require.NotNil(t, rec, "a cache record holds layer %s: %v", l.Digest, l.Holders)
		// BuildKit marks such a record Shared, mostly: its image checker
		// matches the record's layer chain, which it may have cached
		// before the blobs were made; the accounting goes by the leases.
		t.Logf("record %s of layer %s: shared %v", rec.ID, l.Digest, rec.Shared)
		assert.False(t, rec.InUse, rec.Description)
		assert.GreaterOrEqual(t, rec.Size, l.Size, "the record's size counts its blob: %s", rec.Description)
	}

	// The process sharing the solver sees the same numbers.
	otherImg, ok := imageNamed(t, other, name)
	require.True(t, ok)
	assert.Equal(t, img, otherImg)
	assert.Equal(t, recs, records(t, other))

	ch := make(chan client.UsageInfo)
	removed := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			removed[u.ID] = true
		}
	}()
	require.NoError(t, other.Client().Prune(t.Context(), ch, client.PruneAll))
	close(ch)
	<-done
	for _, l := range layers {
		for _, h := range l.Holders {
			if _, ok := recs[h]; ok {
				assert.True(t, removed[h], "prune --all removes the records of the image's layers too")
			}
		}
	}
	after, ok := imageNamed(t, holder, name)
	require.True(t, ok, "prune keeps the image")
	assert.Equal(t, img.Size, after.Size)
	assert.Len(t, after.Blobs, len(img.Blobs))
	left := records(t, holder)
	for _, b := range after.Blobs {
		for _, h := range b.Holders {
			assert.NotContains(t, left, h, "no cache record holds the image's layers any more")
		}
	}
	onDisk, n = blobFiles(t, root, img.Blobs)
	assert.Equal(t, len(img.Blobs), n, "the image's content stays")
	assert.Equal(t, img.Size, onDisk)

	app := writeContext(t, "FROM "+name+"\nRUN busybox wc -c < /big > /n.txt\n")
	out := t.TempDir()
	require.NoError(t, solveExport(t, other, app, client.ExportEntry{Type: client.ExporterLocal, OutputDir: out}))
	assert.Equal(t, "3000000", readOut(t, out, "n.txt"), "FROM builds from the kept image")

	// Prune again: the image alone keeps its layers; removing it removes
	// them from the disk, without waiting for a prune.
	require.NoError(t, holder.Client().Prune(t.Context(), nil, client.PruneAll))
	_, n = blobFiles(t, root, img.Blobs)
	require.Equal(t, len(img.Blobs), n)
	require.NoError(t, other.RemoveImage(t.Context(), name))
	_, ok = imageNamed(t, holder, name)
	assert.False(t, ok, "removed")
	_, n = blobFiles(t, root, img.Blobs)
	assert.Zero(t, n, "the content only the image kept is gone")
	assert.ErrorIs(t, holder.RemoveImage(t.Context(), name), ErrImageNotFound)
}
