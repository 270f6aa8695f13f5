package build

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tarEntries reads a tarball's regular files.
func tarEntries(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			dt, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[strings.TrimPrefix(h.Name, "./")] = string(dt)
		}
	}
}

// leftovers lists the temporary files an output left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	require.NoError(t, err)
	return m
}

// TestRunOutputs: file outputs appear only when the build succeeded, and
// whole (written to a temporary file renamed into place); the image ID and
// metadata files likewise; devices and FIFOs are written in place.
func TestRunOutputs(t *testing.T) {
	requireSolver(t)
	t.Parallel()
	good := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /\n", "a.txt": "built"})
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY rootfs/ /\nRUN echo half > /a.txt && exit 1\n"})
	b := openBuilder(t, t.TempDir())

	t.Run("failed build writes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name, typ string
			previous  string // what the destination held before, "" none
		}{
			{"tar, new file", client.ExporterTar, ""},
			{"oci, new file", client.ExporterOCI, ""},
			{"tar, existing file kept", client.ExporterTar, "old"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				dest := filepath.Join(dir, "out.tar")
				if tc.previous != "" {
					require.NoError(t, os.WriteFile(dest, []byte(tc.previous), 0o644))
				}
				res, _, err := run(t, b, Options{
					ContextDir: bad, DockerfileDir: bad,
					Outputs:      []Output{{Type: tc.typ, Dest: dest}},
					IIDFile:      filepath.Join(dir, "iid"),
					MetadataFile: filepath.Join(dir, "metadata.json"),
				})
				require.Error(t, err)
				assert.Nil(t, res)
				if tc.previous == "" {
					assert.NoFileExists(t, dest)
				} else {
					dt, err := os.ReadFile(dest)
					require.NoError(t, err)
					assert.Equal(t, tc.previous, string(dt), "a failed build leaves the old file alone")
				}
				assert.Empty(t, leftovers(t, dir))
				assert.NoFileExists(t, filepath.Join(dir, "iid"))
				assert.NoFileExists(t, filepath.Join(dir, "metadata.json"))
			})
		}
	})

	t.Run("tar", func(t *testing.T) {
		dir := t.TempDir()
		dest := filepath.Join(dir, "out.tar")
		require.NoError(t, os.WriteFile(dest, []byte("old"), 0o644))
		_, _, err := run(t, b, Options{ContextDir: good, DockerfileDir: good, Outputs: []Output{{Type: client.ExporterTar, Dest: dest}}})
		require.NoError(t, err)
		f, err := os.Open(dest)
		require.NoError(t, err)
		defer func() { _ = f.Close() }()
		assert.Equal(t, map[string]string{"a.txt": "built"}, tarEntries(t, f))
		st, err := f.Stat()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "the solver's umask 0 does not leak into outputs")
		assert.Empty(t, leftovers(t, dir))
	})

	t.Run("oci with image ID and metadata", func(t *testing.T) {
		dir := t.TempDir()
		dest, iid, meta := filepath.Join(dir, "out.tar"), filepath.Join(dir, "iid"), filepath.Join(dir, "metadata.json")
		res, _, err := run(t, b, Options{
			ContextDir: good, DockerfileDir: good,
			Outputs: []Output{{Type: client.ExporterOCI, Dest: dest}},
			IIDFile: iid, MetadataFile: meta,
		})
		require.NoError(t, err)
		require.NotNil(t, res)
		f, err := os.Open(dest)
		require.NoError(t, err)
		entries := tarEntries(t, f)
		_ = f.Close()
		assert.Contains(t, entries, "index.json")
		assert.Contains(t, entries, "oci-layout")

		id, err := os.ReadFile(iid)
		require.NoError(t, err)
		assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, string(id))
		assert.Equal(t, res.ImageID(), string(id))

		dt, err := os.ReadFile(meta)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(dt, &m), "metadata is a JSON object: %s", dt)
		assert.Equal(t, string(id), m["containerimage.config.digest"])
		desc, ok := m["containerimage.descriptor"].(map[string]any)
		require.True(t, ok, "the descriptor is decoded JSON, not base64: %v", m["containerimage.descriptor"])
		assert.Equal(t, m["containerimage.digest"], desc["digest"])
		assert.Empty(t, leftovers(t, dir))
	})

	t.Run("device", func(t *testing.T) {
		dev := nullDevice(t)
		_, _, err := run(t, b, Options{ContextDir: good, DockerfileDir: good, Outputs: []Output{{Type: client.ExporterTar, Dest: dev}}})
		require.NoError(t, err)
		st, err := os.Stat(dev)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeCharDevice, "%s is still a device", dev)
		assert.Empty(t, leftovers(t, filepath.Dir(dev)))
	})

	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "pipe")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		var got bytes.Buffer
		var readErr error
		read := make(chan struct{})
		go func() {
			defer close(read)
			f, err := os.Open(fifo) // blocks until the exporter opens it
			if err != nil {
				readErr = err
				return
			}
			_, readErr = io.Copy(&got, f)
			_ = f.Close()
		}()
		_, _, err := run(t, b, Options{ContextDir: good, DockerfileDir: good, Outputs: []Output{{Type: client.ExporterTar, Dest: fifo}}})
		// Unblock the reader should the exporter never have opened the FIFO.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close()
		}
		select {
		case <-read:
		case <-time.After(30 * time.Second):
			t.Fatal("the FIFO's reader never finished")
		}
		require.NoError(t, err)
		require.NoError(t, readErr)
		assert.Equal(t, map[string]string{"a.txt": "built"}, tarEntries(t, &got))
		st, err := os.Lstat(fifo)
		require.NoError(t, err)
		assert.NotZero(t, st.Mode()&os.ModeNamedPipe, "the FIFO was written in place, not replaced")
		assert.Empty(t, leftovers(t, dir))
	})
}
