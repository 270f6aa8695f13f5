package build

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value string
		want        string // the value's JSON in the metadata file
	}{
		{"base64 JSON object", b64(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":42}`), `{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":42}`},
		{"base64 JSON array", b64(`[{"a":1},{"b":2}]`), `[{"a":1},{"b":2}]`},
		{"base64 JSON with spaces around", b64("\n  {\"a\": 1}\n"), `{"a":1}`},
		{"digest", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", `"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`},
		{"base64 of text", b64("hello"), `"` + b64("hello") + `"`},
		{"base64 of a JSON string", b64(`"quoted"`), `"` + b64(`"quoted"`) + `"`},
		{"base64 of a JSON number", b64(`42`), `"` + b64(`42`) + `"`},
		{"base64 of broken JSON", b64(`{"a":`), `"` + b64(`{"a":`) + `"`},
		{"plain word that is base64", "true", `"true"`},
		{"empty", "", `""`},
		{"image name", "docker.io/library/app:latest,docker.io/library/app:1", `"docker.io/library/app:latest,docker.io/library/app:1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := Metadata(map[string]string{"key": tc.value})
			require.Len(t, m, 1)
			dt, err := json.Marshal(m)
			require.NoError(t, err)
			assert.JSONEq(t, `{"key":`+tc.want+`}`, string(dt))
		})
	}
	assert.Empty(t, Metadata(nil))
}

func TestResultImageID(t *testing.T) {
	t.Parallel()
	const cfg, mf = "sha256:c0ffee", "sha256:beef"
	for _, tc := range []struct {
		name string
		resp map[string]string
		want string
	}{
		{"config digest first", map[string]string{exporterConfigDigest: cfg, exporterImageDigest: mf}, cfg},
		{"manifest digest else", map[string]string{exporterImageDigest: mf}, mf},
		{"empty config digest", map[string]string{exporterConfigDigest: "", exporterImageDigest: mf}, mf},
		{"no image", map[string]string{"other": "x"}, ""},
		{"no response", nil, ""},
	} {
		assert.Equal(t, tc.want, (&Result{ExporterResponse: tc.resp}).ImageID(), tc.name)
	}
	assert.Equal(t, "containerimage.config.digest", exporterConfigDigest)
	assert.Equal(t, "containerimage.digest", exporterImageDigest)
}

// fakeEngine is an ImageLoader that keeps what it is given.
type fakeEngine struct {
	down    error
	waitErr error
	loaded  bytes.Buffer
	loads   int
}

func (e *fakeEngine) Endpoint() string                { return "unix:///fake/docker.sock" }
func (e *fakeEngine) Available(context.Context) error { return e.down }
func (e *fakeEngine) Load(context.Context) (io.WriteCloser, func() error, error) {
	e.loads++
	return nopWriteCloser{&e.loaded}, func() error { return e.waitErr }, nil
}

func (e *fakeEngine) Image(context.Context, string) (io.ReadCloser, bool, error) {
	return nil, false, nil
}

func TestNewOutputsExports(t *testing.T) {
	t.Parallel()
	up, down := &fakeEngine{}, &fakeEngine{down: errors.New("connection refused")}
	for _, tc := range []struct {
		name      string
		opts      Options
		want      []client.ExportEntry // Output writers compared by presence
		cacheOnly bool
		wantErr   string
	}{
		{
			name:      "no output, no engine: cache only",
			want:      []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{}}},
			cacheOnly: true,
		},
		{
			name:      "no output, engine down: cache only",
			opts:      Options{Engine: down, Tags: []string{"app"}},
			want:      []client.ExportEntry{{Type: client.ExporterImage, Attrs: map[string]string{}}},
			cacheOnly: true,
		},
		{
			name: "no output, engine up: load it",
			opts: Options{Engine: up, Tags: []string{"app:1", "app:2"}},
			want: []client.ExportEntry{{Type: client.ExporterDocker, Attrs: map[string]string{"name": "app:1,app:2"}, Output: func(map[string]string) (io.WriteCloser, error) { return nil, nil }}},
		},
		{
			name: "tags name the outputs that take a name",
			opts: Options{Tags: []string{"app"}, Outputs: []Output{
				{Type: "image"},
				{Type: "registry"},
				{Type: "image", Attrs: map[string]string{"name": "own", "push": "true"}},
				{Type: "local", Dest: "/tmp/x"},
				{Type: "cacheonly"},
			}},
			want: []client.ExportEntry{
				{Type: client.ExporterImage, Attrs: map[string]string{"name": "docker.io/library/app:latest"}},
				{Type: client.ExporterImage, Attrs: map[string]string{"name": "app", "push": "true"}},
				{Type: client.ExporterImage, Attrs: map[string]string{"name": "own", "push": "true"}},
				{Type: client.ExporterLocal, Attrs: map[string]string{}, OutputDir: "/tmp/x"},
			},
		},
		{
			name:    "unknown type",
			opts:    Options{Outputs: []Output{{Type: "floppy"}}},
			wantErr: `output type "floppy" is not one docker-build2 knows`,
		},
		{
			name:    "docker with no engine",
			opts:    Options{Outputs: []Output{{Type: "docker"}}},
			wantErr: "loading the image into Docker: no Docker engine is configured",
		},
		{
			name:    "docker with the engine down",
			opts:    Options{Engine: down, Outputs: []Output{{Type: "docker"}}},
			wantErr: "loading the image into Docker: no engine answers at unix:///fake/docker.sock: connection refused",
		},
		{
			name:    "docker with several platforms",
			opts:    Options{Engine: up, Platforms: []string{"linux/amd64", "linux/arm64"}, Outputs: []Output{{Type: "docker"}}},
			wantErr: "a multi-platform image (linux/amd64, linux/arm64) cannot be loaded into the Docker engine at unix:///fake/docker.sock",
		},
		{
			name:    "file in a missing directory",
			opts:    Options{Outputs: []Output{{Type: "tar", Dest: "/nonexistent/dir/out.tar"}}},
			wantErr: "output type=tar,dest=/nonexistent/dir/out.tar: ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := newOutputs(t.Context(), tc.opts)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, o)
				return
			}
			require.NoError(t, err)
			defer o.discard()
			assert.Equal(t, tc.cacheOnly, o.cacheOnly)
			require.Len(t, o.exports, len(tc.want))
			for i, w := range tc.want {
				got := o.exports[i]
				assert.Equal(t, w.Type, got.Type, i)
				assert.Equal(t, w.Attrs, got.Attrs, i)
				assert.Equal(t, w.OutputDir, got.OutputDir, i)
				assert.Equal(t, w.Output != nil, got.Output != nil, "export %d has a writer", i)
			}
		})
	}
}

// TestNewOutputsKeepsAttrs: the caller's attributes are not changed.
func TestNewOutputsKeepsAttrs(t *testing.T) {
	t.Parallel()
	attrs := map[string]string{"compression": "zstd"}
	o, err := newOutputs(t.Context(), Options{Tags: []string{"app"}, Outputs: []Output{{Type: "registry", Attrs: attrs}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"compression": "zstd", "name": "app", "push": "true"}, o.exports[0].Attrs)
	assert.Equal(t, map[string]string{"compression": "zstd"}, attrs)
}

// writeExport writes dt through export i as the exporter would.
func writeExport(t *testing.T, o *outputs, i int, dt string) {
	t.Helper()
	w, err := o.exports[i].Output(map[string]string{})
	require.NoError(t, err)
	_, err = io.WriteString(w, dt)
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestOutputsCommit: a file output is written beside its destination and
// renamed into place by finish; discard, after a failed build, removes it
// and leaves what the destination held.
func TestOutputsCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		previous string
		succeed  bool
	}{
		{"success, new file", "", true},
		{"success, replaces", "old", true},
		{"failure, new file", "", false},
		{"failure, keeps the old file", "old", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dest := filepath.Join(dir, "out.tar")
			if tc.previous != "" {
				require.NoError(t, os.WriteFile(dest, []byte(tc.previous), 0o600))
			}
			o, err := newOutputs(t.Context(), Options{Outputs: []Output{{Type: "tar", Dest: dest}}})
			require.NoError(t, err)
			require.Len(t, o.files, 1)
			writeExport(t, o, 0, "new tarball")
			if tc.succeed {
				require.NoError(t, o.finish(nil))
			}
			o.discard()

			want := []string{}
			switch {
			case tc.succeed:
				want = []string{"out.tar"}
				dt, err := os.ReadFile(dest)
				require.NoError(t, err)
				assert.Equal(t, "new tarball", string(dt))
				st, err := os.Stat(dest)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
			case tc.previous != "":
				want = []string{"out.tar"}
				dt, err := os.ReadFile(dest)
				require.NoError(t, err)
				assert.Equal(t, tc.previous, string(dt))
			}
			assert.Equal(t, want, dirNames(t, dir), "only the destination, no temporary file")
		})
	}
}

// TestOutputsCreateError: when one output cannot be created, the files of
// those before it are removed.
func TestOutputsCreateError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := newOutputs(t.Context(), Options{Outputs: []Output{
		{Type: "tar", Dest: filepath.Join(dir, "a.tar")},
		{Type: "oci", Dest: filepath.Join(dir, "missing", "b.tar")},
	}})
	require.Error(t, err)
	assert.Empty(t, dirNames(t, dir))
}

func TestOutputsEngineLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.tar")
	e := &fakeEngine{}
	o, err := newOutputs(t.Context(), Options{Engine: e, Outputs: []Output{{Type: "docker"}, {Type: "tar", Dest: dest}}})
	require.NoError(t, err)
	writeExport(t, o, 0, "image tarball")
	writeExport(t, o, 1, "tar")
	status := make(chan *client.SolveStatus, 10)
	require.NoError(t, o.finish(status))
	o.discard()
	close(status)
	var steps []*client.Vertex
	for st := range status {
		steps = append(steps, st.Vertexes...)
	}
	require.Len(t, steps, 2, "the load is a step: started, then done")
	assert.Equal(t, "loading the image into the Docker engine", steps[0].Name)
	assert.Nil(t, steps[0].Completed)
	require.NotNil(t, steps[1].Completed)
	assert.Empty(t, steps[1].Error)
	assert.Equal(t, 1, e.loads)
	assert.Equal(t, "image tarball", e.loaded.String())
	assert.FileExists(t, dest)

	// A load that fails fails the outputs: no file is moved into place.
	dest = filepath.Join(dir, "second.tar")
	e = &fakeEngine{waitErr: errors.New("engine said no")}
	o, err = newOutputs(t.Context(), Options{Engine: e, Outputs: []Output{{Type: "docker"}, {Type: "tar", Dest: dest}}})
	require.NoError(t, err)
	writeExport(t, o, 0, "image tarball")
	writeExport(t, o, 1, "tar")
	status = make(chan *client.SolveStatus, 10)
	require.EqualError(t, o.finish(status), "engine said no")
	o.discard()
	close(status)
	var last *client.Vertex
	for st := range status {
		last = st.Vertexes[len(st.Vertexes)-1]
	}
	require.NotNil(t, last)
	assert.Equal(t, "engine said no", last.Error, "the load's step failed")
	assert.Equal(t, []string{"out.tar"}, dirNames(t, dir))
}

func TestOutputsSpecialDest(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	dev := nullDevice(t)
	o, err := newOutputs(t.Context(), Options{Stdout: &stdout, Outputs: []Output{{Type: "tar", Dest: "-"}, {Type: "oci", Dest: dev}}})
	require.NoError(t, err)
	assert.Empty(t, o.files, "stdout and devices get no temporary file")
	writeExport(t, o, 0, "to stdout")
	writeExport(t, o, 1, "to the void")
	require.NoError(t, o.finish(nil))
	o.discard()
	assert.Equal(t, "to stdout", stdout.String())
	st, err := os.Stat(dev)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeCharDevice, "still a device")
	assert.Equal(t, []string{"null"}, dirNames(t, filepath.Dir(dev)), "no temporary file beside it")
}

// nullDevice makes a null device (char 1:3) in a new temporary directory.
// Tests write to it, never to /dev/null: a regression that renamed a file
// over the destination would destroy the machine's /dev/null (the tests
// run as root).
func nullDevice(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("cannot make a device node (needs CAP_MKNOD): %v", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("cannot open a device node here (a nodev mount?): %v", err)
	}
	_ = f.Close()
	return p
}

func TestWriteResultFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	iid, meta := filepath.Join(dir, "iid"), filepath.Join(dir, "meta.json")
	res := &Result{ExporterResponse: map[string]string{
		exporterConfigDigest:        "sha256:c0ffee",
		exporterImageDigest:         "sha256:beef",
		"containerimage.descriptor": b64(`{"digest":"sha256:beef"}`),
	}}
	require.NoError(t, writeResultFiles(Options{IIDFile: iid, MetadataFile: meta}, res))
	dt, err := os.ReadFile(iid)
	require.NoError(t, err)
	assert.Equal(t, "sha256:c0ffee", string(dt))
	dt, err = os.ReadFile(meta)
	require.NoError(t, err)
	assert.JSONEq(t, `{"containerimage.config.digest":"sha256:c0ffee","containerimage.digest":"sha256:beef","containerimage.descriptor":{"digest":"sha256:beef"}}`, string(dt))
	for _, f := range []string{iid, meta} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), f)
	}

	// No image: an empty image ID file, as buildx writes it, and the
	// metadata.
	dir = t.TempDir()
	iid, meta = filepath.Join(dir, "iid"), filepath.Join(dir, "meta.json")
	require.NoError(t, writeResultFiles(Options{IIDFile: iid, MetadataFile: meta}, &Result{}))
	dt, err = os.ReadFile(iid)
	require.NoError(t, err)
	assert.Empty(t, dt)
	dt, err = os.ReadFile(meta)
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(dt))

	err = writeResultFiles(Options{IIDFile: filepath.Join(dir, "missing", "iid")}, res)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "writing the image ID to ")
	err = writeResultFiles(Options{MetadataFile: filepath.Join(dir, "missing", "meta.json")}, res)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "writing the build metadata to ")
}

// TestImageStoreNames: an image kept in the builder's image store is
// named in full, as FROM looks it up; pushed and loaded names stay as
// given.
func TestImageStoreNames(t *testing.T) {
	t.Parallel()
	o, err := newOutputs(t.Context(), Options{Tags: []string{"base", "example.com/team/app:1"}, Outputs: []Output{{Type: "image"}, {Type: "registry"}}})
	require.NoError(t, err)
	require.Len(t, o.exports, 2)
	assert.Equal(t, "docker.io/library/base:latest,example.com/team/app:1", o.exports[0].Attrs["name"])
	assert.Equal(t, "base,example.com/team/app:1", o.exports[1].Attrs["name"])
}

// TestKeepLocally: the embedded builder keeps a tagged image in its image
// store unless an output names it already, and still loads it into an
// engine that answers when no output is given.
func TestKeepLocally(t *testing.T) {
	t.Parallel()
	up := &fakeEngine{}
	for _, tc := range []struct {
		name string
		opts Options
		want []string
	}{
		{"no tag", Options{}, nil},
		{"tag, no output, no engine", Options{Tags: []string{"a"}}, []string{"image"}},
		{"tag, no output, engine", Options{Tags: []string{"a"}, Engine: up}, []string{"docker", "image"}},
		{"tag and a file output", Options{Tags: []string{"a"}, Outputs: []Output{{Type: "tar", Dest: "x"}}}, []string{"tar", "image"}},
		{"pushed", Options{Tags: []string{"a"}, Outputs: []Output{{Type: "registry"}}}, []string{"registry"}},
		{"image output", Options{Tags: []string{"a"}, Outputs: []Output{{Type: "image"}}}, []string{"image"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, out := range keepLocally(t.Context(), tc.opts).Outputs {
				got = append(got, out.Type)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestHostGateway(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "gw=192.0.2.7,db=10.0.0.2,x=192.0.2.7", hostGateway("gw=host-gateway,db=10.0.0.2,x=host-gateway", "192.0.2.7"))
	assert.Equal(t, "db=10.0.0.2", hostGateway("db=10.0.0.2", "192.0.2.7"))
}
