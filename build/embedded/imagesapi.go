package embedded

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/api/types"
	"google.golang.org/protobuf/types/known/timestamppb"

	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/docker-build2/docker-build2/build/statedir"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
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
	resp := &imagesapi.ListImagesResponse{}
	for _, img := range list {
		resp.Images = append(resp.Images, &imagesapi.Image{
			Name:      img.Name,
			Labels:    img.Labels,
			Target:    &types.Descriptor{MediaType: img.Target.MediaType, Digest: img.Target.Digest.String(), Size: img.Target.Size},
			CreatedAt: timestamppb.New(img.CreatedAt),
		})
	}
	return resp, nil
}

func (s imagesServer) Delete(ctx context.Context, req *imagesapi.DeleteImageRequest) (*emptypb.Empty, error) {
	if err := s.store.Delete(ctx, req.Name); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Image is an image of the embedded builder's image store.
type Image struct {
	// Name is the image's full name (docker.io/library/base:latest), or
	// its name and digest (…@sha256:…).
	Name    string
	Digest  string
	Size    int64
	Created time.Time
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
	resp, err := c.List(ctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing the builder's images: %w", errgrpc.ToNative(err))
	}
	out := make([]Image, 0, len(resp.Images))
	for _, img := range resp.Images {
		i := Image{Name: img.Name, Created: img.CreatedAt.AsTime()}
		if img.Target != nil {
			i.Digest, i.Size = img.Target.Digest, img.Target.Size
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
	if _, err := c.Delete(ctx, &imagesapi.DeleteImageRequest{Name: name}); err != nil {
		return fmt.Errorf("removing %s: %w", name, errgrpc.ToNative(err))
	}
	repo := name
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		repo = name[:i]
	}
	_, _ = c.Delete(ctx, &imagesapi.DeleteImageRequest{Name: repo + "@" + target})
	return nil
}
