package buildflags

import (
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildContexts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec    string
		name    string
		want    build.NamedContext
		wantErr string
	}{
		{spec: "base=docker-image://alpine:3", name: "base", want: build.NamedContext{Kind: build.ContextImage, Value: "alpine:3"}},
		{spec: "docker.io/library/alpine:3=docker-image://reg/alpine", name: "docker.io/library/alpine:3", want: build.NamedContext{Kind: build.ContextImage, Value: "reg/alpine"}},
		{spec: "src=./dir", name: "src", want: build.NamedContext{Kind: build.ContextLocal, Value: "./dir"}},
		{spec: "src=cwd://dir", name: "src", want: build.NamedContext{Kind: build.ContextLocal, Value: "dir"}},
		{spec: "app=https://example.com/app.tar.gz", name: "app", want: build.NamedContext{Kind: build.ContextURL, Value: "https://example.com/app.tar.gz"}},
		{spec: "repo=git@example.com:org/repo.git#main", name: "repo", want: build.NamedContext{Kind: build.ContextURL, Value: "git@example.com:org/repo.git#main"}},
		{spec: "repo=github.com/org/repo#main:sub", name: "repo", want: build.NamedContext{Kind: build.ContextURL, Value: "github.com/org/repo#main:sub"}},
		{spec: "repo=ssh://git@127.0.0.1:2222/srv/repo.git#main", name: "repo", want: build.NamedContext{Kind: build.ContextURL, Value: "ssh://git@127.0.0.1:2222/srv/repo.git#main"}},
		{spec: "repo=https://example.com/repo.git#v1:docs", name: "repo", want: build.NamedContext{Kind: build.ContextURL, Value: "https://example.com/repo.git#v1:docs"}},
		{spec: "src=cwd://github.com/org/repo", name: "src", want: build.NamedContext{Kind: build.ContextLocal, Value: "github.com/org/repo"}},
		{spec: "src=cwd://docker-image://x", name: "src", want: build.NamedContext{Kind: build.ContextLocal, Value: "docker-image://x"}},
		{spec: "src=cwd://cwd://x", name: "src", want: build.NamedContext{Kind: build.ContextLocal, Value: "cwd://x"}},
		{spec: "base=oci-layout:///tmp/layout", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "/tmp/layout"}},
		{spec: "base=oci-layout:///tmp/layout:v2", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "/tmp/layout", Ref: "v2"}},
		{spec: "base=oci-layout://./l@sha256:0000000000000000000000000000000000000000000000000000000000000000", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "./l", Ref: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}},
		{spec: "nothing", wantErr: "use NAME=VALUE"},
		{spec: "=./dir", wantErr: "use NAME=VALUE"},
		{spec: "x=", wantErr: "use NAME=VALUE"},
		{spec: "Bad Name=./dir", wantErr: "not a valid name"},
		{spec: "base=docker-image://Bad:Ref", wantErr: `image "Bad:Ref"`},
		{spec: "base=oci-layout://", wantErr: "needs the layout's directory"},
		// As buildx reads them: a suffix that is no tag or digest is part
		// of the directory's name; a digest wins over a tag.
		{spec: "base=oci-layout://./l@", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "./l@"}},
		{spec: "base=oci-layout://./l@latest", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "./l@latest"}},
		{spec: "base=oci-layout://./l:", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "./l:"}},
		{spec: "base=oci-layout://./l:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000", name: "base", want: build.NamedContext{Kind: build.ContextOCILayout, Value: "./l", Ref: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}},
		{spec: "base=oci-layout://./l@md5:00000000000000000000000000000000", wantErr: "oci-layout:// digest"},
		{spec: "base=target:other", wantErr: "bake's"},
		{spec: "repo=https://example.com/repo.git?nope=1", wantErr: `unexpected query "nope"`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			got, err := BuildContexts([]string{tc.spec})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "--build-context")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, map[string]build.NamedContext{tc.name: tc.want}, got)
			back, err := BuildContexts([]string{FormatBuildContext(tc.name, tc.want)})
			require.NoError(t, err, "round trip")
			assert.Equal(t, got, back, "round trip")
		})
	}
}

func FuzzBuildContexts(f *testing.F) {
	for _, s := range []string{"base=docker-image://alpine", "src=./dir", "b=oci-layout://l:v1", "r=git://h/r", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := BuildContexts([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--build-context")
			return
		}
		for name, c := range got {
			back, err := BuildContexts([]string{FormatBuildContext(name, c)})
			require.NoError(t, err, "round trip of %q", s)
			assert.Equal(t, got, back, "round trip of %q", s)
		}
	})
}
