package embedded

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/moby/buildkit/util/compression"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// layerLike is n bytes that compress as a layer does, in part: random
// runs between lines of numbers, from a fixed seed.
func layerLike(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%3 == 0 {
			chunk := make([]byte, 50_000)
			for j := range chunk {
				chunk[j] = byte(r.Uint32())
			}
			b.Write(chunk)
			continue
		}
		for k := range 10_000 {
			fmt.Fprintf(&b, "%d\n", i*10_000+k)
		}
	}
	return b.Bytes()[:n]
}

// compressParallel compresses data with parallelGzip, written in chunks of
// chunk bytes.
func compressParallel(t *testing.T, data []byte, chunk int, level *int) []byte {
	t.Helper()
	var out bytes.Buffer
	comp, finalize := parallelGzip{compression.Gzip}.Compress(context.Background(), compression.Config{Type: compression.Gzip, Level: level})
	assert.Nil(t, finalize)
	w, err := comp(&out, compression.Gzip.MediaType())
	require.NoError(t, err)
	for len(data) > 0 {
		n := min(chunk, len(data))
		_, err := w.Write(data[:n])
		require.NoError(t, err)
		data = data[n:]
	}
	require.NoError(t, w.Close())
	return out.Bytes()
}

func TestParallelGzip(t *testing.T) {
	t.Parallel()
	data := layerLike(5*gzipBlockSize + 12345)
	want := compressParallel(t, data, 32<<10, nil)

	// A gzip stream of the data, with no modification time.
	zr, err := gzip.NewReader(bytes.NewReader(want))
	require.NoError(t, err)
	assert.True(t, zr.ModTime.IsZero(), "modification time %v", zr.ModTime)
	got, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
	assert.Less(t, len(want), len(data)*3/4, "compressed")

	// The same bytes however the data is written.
	for _, chunk := range []int{1000, gzipBlockSize, len(data)} {
		assert.Equal(t, sha256.Sum256(want), sha256.Sum256(compressParallel(t, data, chunk, nil)), "written %d bytes at a time", chunk)
	}

	// And on any number of CPUs.
	for _, blocks := range []int{1, 8} {
		var out bytes.Buffer
		w, err := newParallelGzipWriter(&out, nil)
		require.NoError(t, err)
		require.NoError(t, w.SetConcurrency(gzipBlockSize, blocks))
		_, err = w.Write(data)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		assert.Equal(t, sha256.Sum256(want), sha256.Sum256(out.Bytes()), "%d blocks at once", blocks)
	}

	// The level is honoured: 0 stores.
	zero := 0
	assert.Greater(t, len(compressParallel(t, data, 32<<10, &zero)), len(data))

	// The type is BuildKit's gzip in all but its compressor.
	p := parallelGzip{compression.Gzip}
	assert.Equal(t, "gzip", p.String())
	assert.Equal(t, compression.Gzip.MediaType(), p.MediaType())
}
