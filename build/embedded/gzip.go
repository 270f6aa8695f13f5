package embedded

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/moby/buildkit/cache"
	cacheconfig "github.com/moby/buildkit/cache/config"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	commonexptypes "github.com/moby/buildkit/exporter/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/util/compression"
	"github.com/moby/buildkit/util/progress"
	"github.com/moby/buildkit/worker/base"
	"golang.org/x/sync/errgroup"
)

// gzipBlockSize is where parallelGzip cuts the stream into blocks it
// compresses apart. It decides the compressed bytes, so it is a constant:
// changing it changes every new layer's digest.
const gzipBlockSize = 1 << 20

// parallelGzip is BuildKit's gzip compression with another compressor:
// klauspost/pgzip, which deflates blocks of gzipBlockSize on every CPU
// (each primed with the end of the one before) where compress/gzip deflates
// the stream on one. On bench/run's push data, klauspost's deflate alone is
// five times as fast as compress/flate at the same level and size, and the
// blocks halve that again on two CPUs. Everything else
// (media type, conversion checks, the name "gzip") is compression.Gzip's,
// so the blob is a gzip layer like any other. The stream depends on the
// data, the level and gzipBlockSize only, not on how it is written or on
// the number of CPUs: a layer gets the same digest on every run.
type parallelGzip struct{ compression.Type }

func (parallelGzip) Compress(_ context.Context, comp compression.Config) (compression.Compressor, compression.Finalizer) {
	return func(dest io.Writer, _ string) (io.WriteCloser, error) {
		return newParallelGzipWriter(dest, comp.Level)
	}, nil
}

// newParallelGzipWriter compresses into dest at level (nil: the default).
func newParallelGzipWriter(dest io.Writer, level *int) (*pgzip.Writer, error) {
	l := pgzip.DefaultCompression
	if level != nil {
		l = *level
	}
	w, err := pgzip.NewWriterLevel(dest, l)
	if err != nil {
		return nil, err
	}
	if err := w.SetConcurrency(gzipBlockSize, runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	// A zero time, as compress/gzip writes it (pgzip would write the
	// zero time.Time's seconds, cut to 32 bits).
	w.ModTime = time.Unix(0, 0)
	return w, nil
}

// gzipWorker is the worker whose image, OCI and Docker exporters compress
// the layers that have no blob yet with parallelGzip, before BuildKit's
// exporter runs and finds them there, when the export asks for gzip (the
// default). Other compressions, and layers that already have a blob, are
// left to the exporter. The exporter asks for an inline cache only while
// it exports, so those layers are compressed here too; two exports of one
// build compress a layer once (BuildKit computes a record's blob once).
type gzipWorker struct{ *base.Worker }

func (w gzipWorker) Exporter(name string, sm *session.Manager) (exporter.Exporter, error) {
	e, err := w.Worker.Exporter(name, sm)
	if err != nil {
		return nil, err
	}
	switch name {
	case client.ExporterImage, client.ExporterOCI, client.ExporterDocker:
		return gzipExporter{e}, nil
	}
	return e, nil
}

type gzipExporter struct{ exporter.Exporter }

// A reproducible build (a SOURCE_DATE_EPOCH, rewritten timestamps) is
// left to BuildKit's own compressor: its layers get the bytes, and so the
// digests, buildkitd gives them, which is how such a build is checked.
func (e gzipExporter) Resolve(ctx context.Context, id int, attrs map[string]string) (exporter.ExporterInstance, error) {
	inst, err := e.Exporter.Resolve(ctx, id, attrs)
	if err != nil {
		return nil, err
	}
	rewrite, _ := strconv.ParseBool(attrs[string(exptypes.OptKeyRewriteTimestamp)])
	if rewrite || attrs[string(exptypes.OptKeySourceDateEpoch)] != "" {
		return inst, nil
	}
	return gzipExporterInstance{inst}, nil
}

type gzipExporterInstance struct{ exporter.ExporterInstance }

func (e gzipExporterInstance) Export(ctx context.Context, src *exporter.Source, info exporter.ExportBuildInfo) (map[string]string, exporter.FinalizeFunc, exporter.DescriptorReference, error) {
	if !hasEpoch(src) {
		if err := compressLayers(ctx, src, e.Config().Compression(), session.NewGroup(info.SessionID)); err != nil {
			return nil, nil, nil, err
		}
	}
	return e.ExporterInstance.Export(ctx, src, info)
}

// hasEpoch reports whether the frontend gave the build a SOURCE_DATE_EPOCH
// (for all platforms, or one).
func hasEpoch(src *exporter.Source) bool {
	for k := range src.Metadata {
		if k == commonexptypes.ExporterEpochKey || strings.HasPrefix(k, commonexptypes.ExporterEpochKey+"/") {
			return true
		}
	}
	return false
}

// compressLayers computes, with parallelGzip, the blobs missing from the
// layer chains of src's refs when comp is gzip.
func compressLayers(ctx context.Context, src *exporter.Source, comp compression.Config, g session.Group) error {
	if comp.Type != compression.Type(compression.Gzip) {
		return nil
	}
	// A ref whose chain has every blob needs nothing: asking without
	// creating (and without force, which converts) answers without error.
	// Any error (ErrNoBlobs, or "no blob set" for a record made of others)
	// means work; one that is not comes back from the exporter.
	var missing []cache.ImmutableRef
	_ = src.EachRef(func(ref cache.ImmutableRef) error {
		if ref == nil {
			return nil
		}
		if _, err := ref.GetRemotes(ctx, false, cacheconfig.RefConfig{Compression: compression.New(compression.Gzip)}, false, g); err != nil {
			missing = append(missing, ref)
		}
		return nil
	})
	if len(missing) == 0 {
		return nil
	}
	done := progress.OneOff(ctx, "compressing layers")
	cfg := cacheconfig.RefConfig{Compression: compression.Config{Type: parallelGzip{compression.Gzip}, Force: comp.Force, Level: comp.Level}}
	eg, ctx := errgroup.WithContext(ctx)
	for _, ref := range missing {
		eg.Go(func() error {
			_, err := ref.GetRemotes(ctx, true, cfg, false, g)
			return err
		})
	}
	if err := done(eg.Wait()); err != nil {
		return fmt.Errorf("compressing layers: %w", err)
	}
	return nil
}
