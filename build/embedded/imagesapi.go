package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/containerd/containerd/api/types"
	"google.golang.org/protobuf/types/known/timestamppb"

	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	"github.com/containerd/containerd/v2/core/images"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/docker-build2/docker-build2/build/statedir"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
)

// contentHeader, in a List request's metadata, asks the server to tell
// each image's content in its contentLabel: containerd's images API has
// no call for it, and the content store's database is open in the
// serving process only.
const (
	contentHeader = "docker-build2-image-content"
	contentLabel  = "docker-build2.image-content"
)

// imagesServer serves the image store to the processes that share the
// solver, over containerd's images API on the state dir's socket: the
// store's database is open in the serving process only.
type imagesServer struct {
	imagesapi.UnimplementedImagesServer
	store images.Store
}

func (s imagesServer) List(ctx context.Context, req *imagesapi.ListImagesRequest) (*imagesapi.ListImagesResponse, error) {
	list, err := s.store.List(ctx, req.Filters...)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	var content map[string][]Blob
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(contentHeader)) > 0 {
		if content, err = s.content(ctx, list); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	}
	resp := &imagesapi.ListImagesResponse{}
	for _, img := range list {
		labels := img.Labels
		if blobs, ok := content[img.Name]; ok {
			dt, err := json.Marshal(blobs)
			if err != nil {
				return nil, err
			}
			labels = maps.Clone(labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[contentLabel] = string(dt)
		}
		resp.Images = append(resp.Images, &imagesapi.Image{
			Name:      img.Name,
			Labels:    labels,
			Target:    &types.Descriptor{MediaType: img.Target.MediaType, Digest: img.Target.Digest.String(), Size: img.Target.Size},
			CreatedAt: timestamppb.New(img.CreatedAt),
		})
	}
	return resp, nil
}

// content lists the blobs of each image of list, by name, with the
// leases holding their layers.
func (s imagesServer) content(ctx context.Context, list []images.Image) (map[string][]Blob, error) {
	ic, ok := s.store.(imageContent)
	if !ok {
		return nil, nil
	}
	out := map[string][]Blob{}
	byTarget := map[digest.Digest][]Blob{}
	layers := map[digest.Digest]bool{}
	for _, img := range list {
		blobs, ok := byTarget[img.Target.Digest]
		if !ok {
			var err error
			if blobs, err = ic.blobs(ctx, img.Target); err != nil {
				return nil, fmt.Errorf("reading the content of image %s: %w", img.Name, err)
			}
			byTarget[img.Target.Digest] = blobs
		}
		for _, b := range blobs {
			if b.Layer {
				layers[digest.Digest(b.Digest)] = true
			}
		}
		out[img.Name] = blobs
	}
	held, err := ic.holders(ctx, layers)
	if err != nil {
		return nil, fmt.Errorf("listing the leases of the images' layers: %w", err)
	}
	for name, blobs := range out {
		withHolders := make([]Blob, len(blobs))
		for i, b := range blobs {
			b.Holders = held[digest.Digest(b.Digest)]
			withHolders[i] = b
		}
		out[name] = withHolders
	}
	return out, nil
}

func (s imagesServer) Delete(ctx context.Context, req *imagesapi.DeleteImageRequest) (*emptypb.Empty, error) {
	if err := s.store.Delete(ctx, req.Name); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if ic, ok := s.store.(imageContent); ok && req.Sync {
		// The content only the image kept leaves the disk now, not at the
		// next prune: du no longer counts it.
		if err := ic.collect(ctx); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("removing the content of %s: %w", req.Name, err))
		}
	}
	return &emptypb.Empty{}, nil
}

// Image is an image of the embedded builder's image store.
type Image struct {
	// Name is the image's full name (docker.io/library/base:latest), or
	// its name and digest (…@sha256:…).
	Name string
	// Digest is the digest of the image's manifest or index.
	Digest string
	// Size is the bytes of the content the image keeps on disk: the sum
	// of Blobs' sizes.
	Size    int64
	Created time.Time
	// Blobs are the content the image keeps, each blob once: its index,
	// manifests, configs and layers (of the platforms stored).
	Blobs []Blob
}

// Blob is a piece of content an image keeps.
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Layer is set for a layer's blob. A layer built or pulled here is the
	// blob of a cache record too, whose size in BuildKit's DiskUsage
	// counts it (and its snapshot): pruning the record leaves the blob to
	// the image.
	Layer bool `json:"layer,omitempty"`
	// Holders are the IDs of the leases holding a layer's blob besides
	// the image: BuildKit's cache records hold their blobs in a lease of
	// the record's ID (the others are a build's temporary leases).
	Holders []string `json:"holders,omitempty"`
}

// ErrImageNotFound is RemoveImage's error for a name the store lacks.
var ErrImageNotFound = errors.New("no such image in the builder's image store")

// imagesClient dials the images API of the process serving the state dir.
func (s *Solver) imagesClient() (imagesapi.ImagesClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+statedir.SocketPath(s.cfg.Root), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the builder's image store: %w", err)
	}
	return imagesapi.NewImagesClient(conn), func() { _ = conn.Close() }, nil
}

// Images lists the image store.
func (s *Solver) Images(ctx context.Context) ([]Image, error) {
	c, done, err := s.imagesClient()
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := c.List(metadata.AppendToOutgoingContext(ctx, contentHeader, "1"), &imagesapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing the builder's images: %w", errgrpc.ToNative(err))
	}
	out := make([]Image, 0, len(resp.Images))
	for _, img := range resp.Images {
		i := Image{Name: img.Name, Created: img.CreatedAt.AsTime()}
		if img.Target != nil {
			i.Digest = img.Target.Digest
		}
		if dt, ok := img.Labels[contentLabel]; ok {
			if err := json.Unmarshal([]byte(dt), &i.Blobs); err != nil {
				return nil, fmt.Errorf("reading the content of image %s: %w", img.Name, err)
			}
		}
		for _, b := range i.Blobs {
			i.Size += b.Size
		}
		out = append(out, i)
	}
	return out, nil
}

// RemoveImage removes the image called name (its full name) and the
// record of its name and digest.
func (s *Solver) RemoveImage(ctx context.Context, name string) error {
	c, done, err := s.imagesClient()
	if err != nil {
		return err
	}
	defer done()
	list, err := c.List(ctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		return fmt.Errorf("listing the builder's images: %w", errgrpc.ToNative(err))
	}
	var target string
	for _, img := range list.Images {
		if img.Name == name && img.Target != nil {
			target = img.Target.Digest
		}
	}
	if target == "" {
		return fmt.Errorf("%s: %w", name, ErrImageNotFound)
	}
	repo := name
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
	}
	// Sync: the content no other image or cache record keeps is removed
	// with the last of them.
	if _, err := c.Delete(ctx, &imagesapi.DeleteImageRequest{Name: name, Sync: !hasName(list.Images, repo+"@"+target)}); err != nil {
		return fmt.Errorf("removing %s: %w", name, errgrpc.ToNative(err))
	}
	if hasName(list.Images, repo+"@"+target) {
		if _, err := c.Delete(ctx, &imagesapi.DeleteImageRequest{Name: repo + "@" + target, Sync: true}); err != nil && !errors.Is(errgrpc.ToNative(err), cerrdefs.ErrNotFound) {
			return fmt.Errorf("removing %s@%s: %w", repo, target, errgrpc.ToNative(err))
		}
	}
	return nil
}

func hasName(list []*imagesapi.Image, name string) bool {
	for _, img := range list {
		if img.Name == name {
			return true
		}
	}
	return false
}
