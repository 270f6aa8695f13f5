package plugin

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/docker-build2/docker-build2/build"
	"github.com/docker/go-units"
	"github.com/moby/buildkit/client"
)

// imageUsage is the disk the embedded builder's stored images take, next
// to its build cache. An image keeps its content blobs (index, manifests,
// configs, layers), not snapshots; a layer built or pulled here is also
// the blob of a cache record, whose size in BuildKit's DiskUsage counts
// it: that part must not be counted twice, and pruning the record leaves
// it on disk for the image.
type imageUsage struct {
	// images is how many images images lists (tagged names).
	images int
	// size is the bytes of the content the images keep, each blob once.
	size int64
	// layers are the images' layer blobs, each once.
	layers []build.Blob
}

func newImageUsage(list []build.Image) imageUsage {
	u := imageUsage{images: len(imageRows(list))}
	seen := map[string]bool{}
	for _, img := range list {
		for _, b := range img.Blobs {
			if seen[b.Digest] {
				continue
			}
			seen[b.Digest] = true
			u.size += b.Size
			if b.Layer {
				u.layers = append(u.layers, b)
			}
		}
	}
	return u
}

// counted is the bytes of the images' layers that the sizes of the cache
// records for which in is true count: what those records' removal leaves
// on disk. A layer counted by two records is counted twice, as each
// record's size counts it.
func (u imageUsage) counted(in func(id string) bool) int64 {
	var n int64
	for _, b := range u.layers {
		for _, h := range b.Holders {
			if in(h) {
				n += b.Size
			}
		}
	}
	return n
}

// beyond is the bytes of the images' content that no cache record for
// which in is true counts: what they add to the build cache's total.
func (u imageUsage) beyond(in func(id string) bool) int64 {
	n := u.size
	for _, b := range u.layers {
		for _, h := range b.Holders {
			if in(h) {
				n -= b.Size
				break
			}
		}
	}
	return n
}

// String is "1 image, 4.2MB".
func (u imageUsage) String() string {
	noun := "images"
	if u.images == 1 {
		noun = "image"
	}
	return fmt.Sprintf("%d %s, %s", u.images, noun, units.HumanSize(float64(u.size)))
}

// printDiskSummary is buildx's du summary (Shared, Private, Reclaimable,
// Total) with the images counted: Reclaimable leaves out what prune
// --all leaves on disk for the images, the Images line tells how much
// they keep and how much of it the cache records above count already,
// and Total counts the rest once more. With no images it is buildx's.
func printDiskSummary(w io.Writer, du []*client.UsageInfo, iu imageUsage) {
	var total, reclaimable, shared int64
	records := map[string]*client.UsageInfo{}
	for _, u := range du {
		records[u.ID] = u
		if u.Size > 0 {
			total += u.Size
			if !u.InUse {
				reclaimable += u.Size
			}
		}
		if u.Shared {
			shared += u.Size
		}
	}
	inCache := func(id string) bool { _, ok := records[id]; return ok }
	reclaimable -= iu.counted(func(id string) bool { r, ok := records[id]; return ok && !r.InUse && r.Size > 0 })
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	if shared > 0 {
		fmt.Fprintf(tw, "Shared:\t%s\n", units.HumanSize(float64(shared)))
		fmt.Fprintf(tw, "Private:\t%s\n", units.HumanSize(float64(total-shared)))
	}
	fmt.Fprintf(tw, "Reclaimable:\t%s\n", units.HumanSize(float64(reclaimable)))
	if iu.images > 0 || iu.size > 0 {
		line := iu.String()
		if dup := iu.size - iu.beyond(inCache); dup > 0 {
			line += fmt.Sprintf(" (%s of it counted in the cache above)", units.HumanSize(float64(dup)))
		}
		fmt.Fprintf(tw, "Images:\t%s\n", line)
		total += iu.beyond(inCache)
	}
	fmt.Fprintf(tw, "Total:\t%s\n", units.HumanSize(float64(total)))
	_ = tw.Flush()
}

// printPruneSummary is buildx's prune total, and what prune kept: the
// stored images, and the part of the total their layers keep on disk.
func printPruneSummary(w io.Writer, total int64, removed map[string]bool, iu imageUsage) {
	tw := tabwriter.NewWriter(w, 1, 8, 1, '\t', 0)
	fmt.Fprintf(tw, "Total:\t%s\n", units.HumanSize(float64(total)))
	if iu.images > 0 || iu.size > 0 {
		line := iu.String()
		if kept := iu.counted(func(id string) bool { return removed[id] }); kept > 0 {
			line += fmt.Sprintf(" (%s of the total stays on disk as their layers)", units.HumanSize(float64(kept)))
		}
		fmt.Fprintf(tw, "Images kept:\t%s; docker build2 rmi removes them\n", line)
	}
	_ = tw.Flush()
}
