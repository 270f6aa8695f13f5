package buildflags

import (
	"slices"
	"strings"
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnnotations(t *testing.T) {
	t.Parallel()
	manifest := func(platform, k, v string) build.Annotation {
		return build.Annotation{Type: build.AnnotationManifest, Platform: platform, Key: k, Value: v}
	}
	tests := []struct {
		name    string
		specs   []string
		want    []build.Annotation
		wantErr string
	}{
		{name: "none", specs: nil, want: nil},
		{name: "plain", specs: []string{"org.opencontainers.image.title=app"}, want: []build.Annotation{{Key: "org.opencontainers.image.title", Value: "app"}}},
		{name: "empty value", specs: []string{"a="}, want: []build.Annotation{{Key: "a"}}},
		{name: "value with = and ,", specs: []string{"a=b=c,d"}, want: []build.Annotation{{Key: "a", Value: "b=c,d"}}},
		{name: "empty spec skipped", specs: []string{"", "a=b"}, want: []build.Annotation{{Key: "a", Value: "b"}}},
		{name: "manifest", specs: []string{"manifest:a=b"}, want: []build.Annotation{manifest("", "a", "b")}},
		{name: "index", specs: []string{"index:a=b"}, want: []build.Annotation{{Type: "index", Key: "a", Value: "b"}}},
		{name: "descriptors", specs: []string{"manifest-descriptor:a=1", "index-descriptor:b=2"}, want: []build.Annotation{
			{Type: "manifest-descriptor", Key: "a", Value: "1"}, {Type: "index-descriptor", Key: "b", Value: "2"},
		}},
		{name: "several types", specs: []string{"index,manifest:a=b"}, want: []build.Annotation{{Type: "index", Key: "a", Value: "b"}, manifest("", "a", "b")}},
		{name: "platform", specs: []string{"manifest[linux/amd64]:a=b"}, want: []build.Annotation{manifest("linux/amd64", "a", "b")}},
		{name: "platform normalized", specs: []string{"manifest[linux/arm]:a=b", "manifest-descriptor[Linux/x86_64]:c=d"}, want: []build.Annotation{
			manifest("linux/arm/v7", "a", "b"), {Type: "manifest-descriptor", Platform: "linux/amd64", Key: "c", Value: "d"},
		}},
		{name: "types with and without platform", specs: []string{"index,manifest[linux/arm64]:a=b"}, want: []build.Annotation{{Type: "index", Key: "a", Value: "b"}, manifest("linux/arm64", "a", "b")}},
		{name: "key with a colon after the type", specs: []string{"manifest:a:b=c"}, want: []build.Annotation{manifest("", "a:b", "c")}},
		{name: "no =", specs: []string{"a"}, wantErr: `--annotation "a": no "="`},
		{name: "empty key", specs: []string{"=v"}, wantErr: "the key is empty"},
		{name: "empty key after type", specs: []string{"manifest:=v"}, wantErr: "the key is empty"},
		{name: "key with space", specs: []string{"a b=c"}, wantErr: `the key "a b" contains whitespace`},
		{name: "unknown type", specs: []string{"bogus:a=b"}, wantErr: `unknown type "bogus": use one of manifest, index, manifest-descriptor or index-descriptor`},
		{name: "colon in a plain key", specs: []string{"com.example:a=b"}, wantErr: `"com.example" is not a type`},
		{name: "empty type", specs: []string{":a=b"}, wantErr: `"" is not a type`},
		{name: "bad platform", specs: []string{"manifest[linux/]:a=b"}, wantErr: `platform "linux/"`},
		{name: "platform of an index", specs: []string{"index[linux/amd64]:a=b"}, wantErr: "type index takes no platform"},
		{name: "two platforms", specs: []string{"manifest[linux/amd64,linux/arm64]:a=b"}, wantErr: "is not a type"},
		{name: "a bad one among good ones", specs: []string{"a=b", "bogus:c=d"}, wantErr: `--annotation "bogus:c=d"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Annotations(tc.specs)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), "--annotation")
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// annotationRoundTrip checks that the value FormatAnnotation gives for a
// parses back to a.
func annotationRoundTrip(t *testing.T, a build.Annotation) {
	t.Helper()
	spec := FormatAnnotation(a)
	back, err := Annotations([]string{spec})
	require.NoError(t, err, "FormatAnnotation(%#v) = %q does not parse", a, spec)
	assert.Equal(t, []build.Annotation{a}, back, "FormatAnnotation(%#v) = %q", a, spec)
}

func TestAnnotationRoundTrip(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a=b", FormatAnnotation(build.Annotation{Key: "a", Value: "b"}))
	assert.Equal(t, "manifest[linux/arm/v7]:a=b", FormatAnnotation(build.Annotation{Type: "manifest", Platform: "linux/arm/v7", Key: "a", Value: "b"}))
	for _, spec := range []string{
		"a=b", "a=", "a=b=c", "a=x,y", "manifest:a=b", "index:a=b", "manifest-descriptor:a=b", "index-descriptor:a=b",
		"manifest[linux/amd64]:a=b", "manifest-descriptor[linux/arm64/v8]:a=b", "manifest:a:b=c", "manifest:a,b=c", "org.example/x=\"quoted\"",
	} {
		as, err := Annotations([]string{spec})
		require.NoError(t, err, spec)
		require.Len(t, as, 1, spec)
		annotationRoundTrip(t, as[0])
	}
}

func TestCheckAnnotations(t *testing.T) {
	t.Parallel()
	index := build.Annotation{Type: "index", Key: "k"}
	arm64 := build.Annotation{Type: "manifest", Platform: "linux/arm64", Key: "k"}
	plain := build.Annotation{Key: "k"}
	for _, tc := range []struct {
		name    string
		as      []build.Annotation
		targets []string
		index   bool
		wantErr string
	}{
		{name: "plain, one platform", as: []build.Annotation{plain}},
		{name: "index of several platforms", as: []build.Annotation{index}, targets: []string{"linux/amd64", "linux/arm64"}, index: true},
		{name: "index, one platform", as: []build.Annotation{plain, index}, wantErr: `--annotation "index:k=": index annotations not supported for single platform export`},
		{name: "platform built", as: []build.Annotation{arm64}, targets: []string{"linux/amd64", "linux/aarch64"}, index: true},
		{name: "platform not built", as: []build.Annotation{arm64}, targets: []string{"linux/amd64"}, wantErr: `--annotation "manifest[linux/arm64]:k=": the build has no platform linux/arm64 (--platform linux/amd64)`},
		{name: "platform of the builder's default", as: []build.Annotation{arm64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckAnnotations(tc.as, tc.targets, tc.index)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.wantErr), err.Error())
		})
	}
}

func FuzzAnnotations(f *testing.F) {
	for _, s := range []string{
		"a=b", "manifest:a=b", "index,manifest:a=b", "manifest[linux/amd64]:a=b", "manifest[linux/arm]:a=b", "index[linux/amd64]:a=b",
		"bogus:a=b", "a", "=b", "manifest:a:b=c", "a b=c", "manifest-descriptor[Linux/X86_64]:k=v", ":=", "manifest[]:a=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := Annotations([]string{s})
		if err != nil {
			assert.Contains(t, err.Error(), "--annotation")
			return
		}
		if s == "" {
			assert.Empty(t, as)
			return
		}
		require.NotEmpty(t, as)
		for _, a := range as {
			assert.True(t, a.Type == "" || slices.Contains(AnnotationTypes, a.Type), a.Type)
			assert.NotEmpty(t, a.Key)
			assert.False(t, a.Platform != "" && a.NeedsIndex(), "an index annotation has no platform")
			assert.NotContains(t, a.ExporterKey(), " ")
			annotationRoundTrip(t, a)
		}
	})
}
