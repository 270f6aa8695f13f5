package build

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build/nodes"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakePlatforms is a solver's Platforms, counting its calls.
type fakePlatforms struct {
	have  []ocispecs.Platform
	err   error
	calls int
}

func (f *fakePlatforms) Platforms(context.Context) ([]ocispecs.Platform, error) {
	f.calls++
	return f.have, f.err
}

func TestCheckPlatforms(t *testing.T) {
	t.Parallel()
	amd64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := ocispecs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, tc := range []struct {
		name    string
		wanted  []string
		wantErr string
		unsup   string // the platform an UnsupportedPlatformError names
	}{
		{name: "none wanted", wanted: nil},
		{name: "served", wanted: []string{"linux/amd64", "linux/arm64"}},
		{name: "normalized", wanted: []string{"linux/aarch64", "linux/x86_64"}},
		{
			name: "no emulator", wanted: []string{"linux/amd64", "linux/s390x"}, unsup: "linux/s390x",
			wantErr: "platform linux/s390x is not supported here (this builder runs linux/amd64, linux/arm64/v8): install QEMU user emulation",
		},
		{
			name: "not Linux", wanted: []string{"windows/amd64"}, unsup: "windows/amd64",
			wantErr: "platform windows/amd64 is not supported here: the embedded builder runs Linux containers only (this builder runs linux/amd64, linux/arm64/v8)",
		},
		{name: "not a platform", wanted: []string{"linux/amd64/v2/extra"}, wantErr: `platform "linux/amd64/v2/extra": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakePlatforms{have: []ocispecs.Platform{amd64, arm64}}
			err := checkPlatforms(t.Context(), f, tc.wanted)
			if len(tc.wanted) == 0 {
				assert.Zero(t, f.calls, "nothing asked when nothing is wanted")
			}
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			var upe *UnsupportedPlatformError
			if tc.unsup == "" {
				assert.NotErrorAs(t, err, &upe)
				return
			}
			require.ErrorAs(t, err, &upe)
			assert.Equal(t, tc.unsup, upe.Platform)
			assert.Equal(t, []string{"linux/amd64", "linux/arm64/v8"}, upe.Supported)
		})
	}

	failed := errors.New("listing failed")
	require.ErrorIs(t, checkPlatforms(t.Context(), &fakePlatforms{err: failed}, []string{"linux/amd64"}), failed)
}

func TestOneNode(t *testing.T) {
	t.Parallel()
	a, b := nodes.Node{Name: "a"}, nodes.Node{Name: "b"}
	n, ok := oneNode([]nodes.Part{{Node: a, Platform: "linux/amd64"}, {Node: a, Platform: "linux/arm64"}})
	assert.True(t, ok)
	assert.Equal(t, a, n)
	n, ok = oneNode([]nodes.Part{{Node: a}})
	assert.True(t, ok)
	assert.Equal(t, a, n)
	_, ok = oneNode([]nodes.Part{{Node: a, Platform: "linux/amd64"}, {Node: b, Platform: "linux/arm64"}})
	assert.False(t, ok)
}

func TestFleetSplitOutputs(t *testing.T) {
	t.Parallel()
	f := &fleet{name: "fleet"}
	oci := Output{Type: "oci", Dest: "/tmp/out.tar"}
	for _, tc := range []struct {
		name     string
		opts     Options
		wantPush string
		wantOCI  *Output
		wantErr  string
	}{
		{name: "registry, tags", opts: Options{Tags: []string{"reg/app:1", "reg/app:2"}, Outputs: []Output{{Type: "registry"}}}, wantPush: "reg/app:1,reg/app:2"},
		{name: "registry, own name", opts: Options{Tags: []string{"x"}, Outputs: []Output{{Type: "registry", Attrs: map[string]string{"name": "reg/own"}}}}, wantPush: "reg/own"},
		{name: "image push=true", opts: Options{Tags: []string{"reg/app"}, Outputs: []Output{{Type: "image", Attrs: map[string]string{"push": "true"}}}}, wantPush: "reg/app"},
		{name: "oci file", opts: Options{Outputs: []Output{oci}}, wantOCI: &oci},
		{name: "both", opts: Options{Tags: []string{"reg/app"}, Outputs: []Output{{Type: "registry"}, oci}}, wantPush: "reg/app", wantOCI: &oci},
		{name: "local", opts: Options{Outputs: []Output{{Type: "local", Dest: "/tmp/x"}}}, wantErr: `builder "fleet": a build split across nodes can be pushed (--push) or written as an OCI tarball (-o type=oci,dest=FILE), not exported as local`},
		{name: "image without push", opts: Options{Outputs: []Output{{Type: "image"}}}, wantErr: "not exported as image"},
		{name: "oci to no file", opts: Options{Outputs: []Output{{Type: "oci"}}}, wantErr: "not exported as oci"},
		{name: "no output", opts: Options{}, wantErr: `builder "fleet": a build split across nodes needs an output`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			push, got, err := f.splitOutputs(tc.opts)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantPush, push)
			assert.Equal(t, tc.wantOCI, got)
		})
	}
}

func TestRepositories(t *testing.T) {
	t.Parallel()
	repos, err := repositories("reg.example:5000/team/app:1, reg.example:5000/team/app:2,app,docker.io/library/app@sha256:" + sixtyFourHex)
	require.NoError(t, err)
	assert.Equal(t, []string{"reg.example:5000/team/app", "docker.io/library/app"}, repos)
	_, err = repositories("ok,Not A Name")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `image name "Not A Name"`)
}

func TestDecodeDescriptor(t *testing.T) {
	t.Parallel()
	d, err := decodeDescriptor(b64(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + sixtyFourHex + `","size":7}`))
	require.NoError(t, err)
	assert.Equal(t, "sha256:"+sixtyFourHex, d.Digest.String())
	assert.Equal(t, int64(7), d.Size)
	for value, want := range map[string]string{
		"not base64!":     "reading the pushed image's descriptor",
		b64("not json"):   "reading the pushed image's descriptor",
		b64(`{"size":7}`): "the node reported no image descriptor",
		"":                "reading the pushed image's descriptor",
	} {
		_, err := decodeDescriptor(value)
		require.Error(t, err, value)
		assert.Contains(t, err.Error(), want, value)
	}
}

func TestFleetPlatforms(t *testing.T) {
	t.Parallel()
	f := &fleet{name: "fleet", plan: []nodes.Part{{Platform: "linux/amd64"}, {Platform: "linux/arm64/v8"}}}
	assert.Equal(t, "fleet", f.Name())
	pl, err := f.Platforms(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []ocispecs.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}, pl, "normalized")
	assert.False(t, KeepsImages(f))
	require.NoError(t, f.Close())
}

func TestOpenUnknownBuilder(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), Target{Builder: "nope", Store: nodes.Store{Dir: t.TempDir()}})
	require.EqualError(t, err, `no builder named "nope": see docker build2 builder ls`)
}

func TestSolveOpt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	so, err := solveOpt(Options{
		ContextDir: dir, DockerfileDir: dir, DockerfileName: "Dockerfile.dev", Target: "test",
		BuildArgs: map[string]string{"B": "2", "A": "1"}, Labels: map[string]string{"l": "v"},
		NoCacheFilter: []string{"a", "b"}, Platforms: []string{"linux/amd64", "linux/arm64"}, Pull: true,
		NetworkMode: "host", ExtraHosts: []string{"h=1.2.3.4"}, Allow: []string{"security.insecure"}, NoHistory: true,
	}, nil, true, func(error) {})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"filename": "Dockerfile.dev", "cmdline": "", "target": "test",
		"build-arg:A": "1", "build-arg:B": "2", "label:l": "v", "no-cache": "a,b",
		"platform": "linux/amd64,linux/arm64", "image-resolve-mode": "pull",
		"force-network-mode": "host", "add-hosts": "h=1.2.3.4",
	}, so.FrontendAttrs)
	assert.Equal(t, "dockerfile.v0", so.Frontend)
	assert.Equal(t, []string{"network.host", "security.insecure"}, so.AllowedEntitlements)
	assert.Contains(t, so.LocalMounts, "context")
	assert.Contains(t, so.LocalMounts, "dockerfile")
	assert.Equal(t, dir, so.SharedKey)
	assert.True(t, so.Internal)

	so, err = solveOpt(Options{ContextURL: "https://example.com/repo.git", DockerfileDir: dir, NoCache: true, NoCacheFilter: []string{"ignored"}}, nil, false, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/repo.git", so.FrontendAttrs["context"])
	assert.Equal(t, "dockerfile", so.FrontendAttrs["dockerfilekey"], "the Dockerfile comes from its own mount")
	assert.Empty(t, so.FrontendAttrs["no-cache"], "--no-cache wins over filters")
	assert.NotContains(t, so.FrontendAttrs, "cmdline")
	assert.NotContains(t, so.LocalMounts, "context")

	so, err = solveOpt(Options{ContextTar: nopReadCloser{strings.NewReader("")}}, nil, false, nil)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(so.FrontendAttrs["context"], "http://buildkit-session/"), so.FrontendAttrs["context"])
	assert.Empty(t, so.LocalMounts, "the Dockerfile is read from the tar")

	_, err = solveOpt(Options{}, nil, false, nil)
	require.EqualError(t, err, "no build context given")
	_, err = solveOpt(Options{ContextDir: dir, NetworkMode: "bridge"}, nil, false, nil)
	require.EqualError(t, err, `network mode "bridge" is not supported: use default, none, host`)
}

type nopReadCloser struct{ *strings.Reader }

func (nopReadCloser) Close() error { return nil }

func TestSteps(t *testing.T) {
	t.Parallel()
	notice(nil, "dropped")
	step(nil, "dropped")(nil)

	ch := make(chan *client.SolveStatus, 10)
	notice(ch, "a notice")
	done := step(ch, "a step")
	done(errors.New("it failed"))
	close(ch)
	var got []*client.Vertex
	for st := range ch {
		got = append(got, st.Vertexes...)
	}
	require.Len(t, got, 3)
	assert.Equal(t, "a notice", got[0].Name)
	require.NotNil(t, got[0].Completed)
	assert.Equal(t, "a step", got[1].Name)
	assert.Nil(t, got[1].Completed, "started, not done")
	assert.Equal(t, got[1].Digest, got[2].Digest, "the same step")
	require.NotNil(t, got[2].Completed)
	assert.Equal(t, "it failed", got[2].Error)
	assert.NotEqual(t, got[0].Digest, got[1].Digest)

	// Two steps of one name stay apart.
	ch = make(chan *client.SolveStatus, 2)
	notice(ch, "same")
	notice(ch, "same")
	first, second := <-ch, <-ch
	assert.NotEqual(t, first.Vertexes[0].Digest, second.Vertexes[0].Digest)
}

func TestForward(t *testing.T) {
	t.Parallel()
	in, out := make(chan *client.SolveStatus), make(chan *client.SolveStatus, 3)
	go func() {
		in <- &client.SolveStatus{}
		in <- &client.SolveStatus{}
		close(in)
	}()
	forward(in, out)
	assert.Len(t, out, 2)
	out <- &client.SolveStatus{} // would panic had forward closed it

	// A nil output drops the statuses, still draining the input.
	in = make(chan *client.SolveStatus)
	go func() { in <- &client.SolveStatus{}; close(in) }()
	forward(in, nil)
}

// fakeSolver solves by writing each export's tarball as an exporter
// would, sending one status update, and failing when told to.
type fakeSolver struct {
	fakePlatforms
	fail   error
	solves int
	opt    client.SolveOpt
}

func (f *fakeSolver) Client() *client.Client { return nil }
func (f *fakeSolver) Close() error           { return nil }

func (f *fakeSolver) Solve(_ context.Context, so client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	defer close(ch)
	f.solves++
	f.opt = so
	ch <- &client.SolveStatus{Logs: []*client.VertexLog{{Data: []byte("step output")}}}
	for _, e := range so.Exports {
		if e.Output == nil {
			continue
		}
		w, err := e.Output(nil)
		if err != nil {
			return nil, err
		}
		_, _ = io.WriteString(w, "tarball of "+e.Type)
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if f.fail != nil {
		return nil, f.fail
	}
	return &client.SolveResponse{ExporterResponse: map[string]string{
		exporterConfigDigest: "sha256:c0ffee",
		exporterImageDigest:  "sha256:beef",
	}}, nil
}

// runFake runs opts on a single builder of s, collecting the status; the
// channel is closed after Run returns, as callers do.
func runFake(t *testing.T, s solver, opts Options) (*Result, []*client.SolveStatus, error) {
	t.Helper()
	ch := make(chan *client.SolveStatus)
	var got []*client.SolveStatus
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range ch {
			got = append(got, st)
		}
	}()
	res, err := Run(t.Context(), &single{name: "test", s: s}, opts, ch)
	close(ch)
	<-done
	return res, got, err
}

func TestRunWritesOutputsOnSuccessOnly(t *testing.T) {
	t.Parallel()
	amd64 := []ocispecs.Platform{{OS: "linux", Architecture: "amd64"}}
	for _, tc := range []struct {
		name string
		fail error
	}{
		{"success", nil},
		{"failure", errors.New("process \"/bin/sh -c exit 1\" did not complete successfully: exit code: 1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dest, iid, meta := filepath.Join(dir, "out.tar"), filepath.Join(dir, "iid"), filepath.Join(dir, "meta.json")
			s := &fakeSolver{fakePlatforms: fakePlatforms{have: amd64}, fail: tc.fail}
			res, status, err := runFake(t, s, Options{
				ContextDir: t.TempDir(), Platforms: []string{"linux/amd64"},
				Outputs: []Output{{Type: "oci", Dest: dest}},
				IIDFile: iid, MetadataFile: meta,
			})
			assert.Equal(t, 1, s.solves)
			require.NotEmpty(t, status, "the solver's status is forwarded")
			assert.Equal(t, "step output", string(status[0].Logs[0].Data))
			if tc.fail != nil {
				require.ErrorIs(t, err, tc.fail)
				assert.Nil(t, res)
				assert.Empty(t, dirNames(t, dir), "nothing written, no temporary file left")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "sha256:c0ffee", res.ImageID())
			assert.ElementsMatch(t, []string{"out.tar", "iid", "meta.json"}, dirNames(t, dir))
			dt, err := os.ReadFile(dest)
			require.NoError(t, err)
			assert.Equal(t, "tarball of oci", string(dt))
			dt, err = os.ReadFile(iid)
			require.NoError(t, err)
			assert.Equal(t, "sha256:c0ffee", string(dt))
			dt, err = os.ReadFile(meta)
			require.NoError(t, err)
			assert.JSONEq(t, `{"containerimage.config.digest":"sha256:c0ffee","containerimage.digest":"sha256:beef"}`, string(dt))
		})
	}
}

func TestRunChecksPlatformsFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &fakeSolver{fakePlatforms: fakePlatforms{have: []ocispecs.Platform{{OS: "linux", Architecture: "amd64"}}}}
	_, _, err := runFake(t, s, Options{ContextDir: t.TempDir(), Platforms: []string{"linux/riscv64"}, Outputs: []Output{{Type: "tar", Dest: filepath.Join(dir, "out.tar")}}})
	var upe *UnsupportedPlatformError
	require.ErrorAs(t, err, &upe)
	assert.Zero(t, s.solves, "nothing is built")
	assert.Empty(t, dirNames(t, dir))
}

// TestRunCacheOnly: with no output and no engine, the build still makes
// an image (for its ID), and the status says the result stays in the cache.
func TestRunCacheOnly(t *testing.T) {
	t.Parallel()
	s := &fakeSolver{}
	res, status, err := runFake(t, s, Options{ContextDir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, "sha256:c0ffee", res.ImageID())
	require.Len(t, s.opt.Exports, 1)
	assert.Equal(t, client.ExporterImage, s.opt.Exports[0].Type)
	var names []string
	for _, st := range status {
		for _, v := range st.Vertexes {
			names = append(names, v.Name)
		}
	}
	assert.Contains(t, names, NoticeCacheOnly)
}
