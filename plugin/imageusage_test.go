package plugin

import (
	"bytes"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
)

// usageImages is an image of a 3000-byte layer that record "run" counts
// and a 500-byte layer that "copy" and "copy2" count, plus a 100-byte
// manifest and config that no record counts; its name@digest record
// reaches the same blobs.
func usageImages() []build.Image {
	blobs := []build.Blob{
		{Digest: "sha256:m", Size: 60},
		{Digest: "sha256:c", Size: 40},
		{Digest: "sha256:l1", Size: 500, Layer: true, Holders: []string{"copy", "copy2", "a-temporary-lease"}},
		{Digest: "sha256:l2", Size: 3000, Layer: true, Holders: []string{"run"}},
	}
	return []build.Image{
		{Name: "docker.io/library/base:latest", Digest: "sha256:m", Size: 3600, Blobs: blobs},
		{Name: "docker.io/library/base@sha256:m", Digest: "sha256:m", Size: 3600, Blobs: blobs},
	}
}

func TestDiskSummary(t *testing.T) {
	t.Parallel()
	records := []*client.UsageInfo{
		{ID: "run", Size: 6000, Shared: true},
		{ID: "copy", Size: 1500, Shared: true},
		{ID: "copy2", Size: 1000, Shared: true, InUse: true},
		{ID: "ctx", Size: 2000},
	}
	for _, tc := range []struct {
		name    string
		du      []*client.UsageInfo
		images  []build.Image
		want    string
		buildxs bool
	}{
		{
			name: "no images", du: records, buildxs: true,
			want: "Shared:\t\t8.5kB\nPrivate:\t2kB\nReclaimable:\t9.5kB\nTotal:\t\t10.5kB\n",
		},
		{
			// Reclaimable leaves out the layers of run and copy (prune
			// --all leaves them to the image); Total adds the manifest and
			// config only.
			name: "layers in the cache", du: records, images: usageImages(),
			want: "Shared:\t\t8.5kB\nPrivate:\t2kB\nReclaimable:\t6kB\nImages:\t\t1 image, 3.6kB (3.5kB of it counted in the cache above)\nTotal:\t\t10.6kB\n",
		},
		{
			name: "cache pruned", images: usageImages(),
			want: "Reclaimable:\t0B\nImages:\t\t1 image, 3.6kB\nTotal:\t\t3.6kB\n",
		},
		{
			name: "no cache no images", buildxs: true,
			want: "Reclaimable:\t0B\nTotal:\t\t0B\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got bytes.Buffer
			printDiskSummary(&got, tc.du, newImageUsage(tc.images))
			assert.Equal(t, tc.want, got.String())
			if tc.buildxs {
				var buildx bytes.Buffer
				printSummary(&buildx, tc.du)
				assert.Equal(t, buildx.String(), got.String(), "with no images the summary is buildx's")
			}
		})
	}
}

func TestPruneSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		removed map[string]bool
		images  []build.Image
		want    string
	}{
		{name: "no images", removed: map[string]bool{"run": true}, want: "Total:\t6kB\n"},
		{
			name: "all", removed: map[string]bool{"run": true, "copy": true, "copy2": true, "ctx": true}, images: usageImages(),
			want: "Total:\t\t6kB\nImages kept:\t1 image, 3.6kB (4kB of the total stays on disk as their layers); docker build2 rmi removes them\n",
		},
		{
			name: "none of theirs", removed: map[string]bool{"ctx": true}, images: usageImages(),
			want: "Total:\t\t6kB\nImages kept:\t1 image, 3.6kB; docker build2 rmi removes them\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got bytes.Buffer
			printPruneSummary(&got, 6000, tc.removed, newImageUsage(tc.images))
			assert.Equal(t, tc.want, got.String())
		})
	}
}
