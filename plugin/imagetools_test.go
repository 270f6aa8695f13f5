package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/docker-build2/docker-build2/build/imagetools"
	"github.com/docker-build2/docker-build2/plugin/internal/clitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestImagetoolsCreateFlags(t *testing.T) {
	t.Parallel()
	desc := filepath.Join(t.TempDir(), "desc.json")
	require.NoError(t, os.WriteFile(desc, []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+sha+`","size":3}`), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no sources", []string{"-t", "r.example/a"}, []string{"no sources"}},
		{"no tag", []string{"r.example/a"}, []string{"no --tag", "--dry-run"}},
		{"bad tag", []string{"-t", "r.example/A", "r.example/a"}, []string{`--tag "r.example/A"`}},
		{"bad source", []string{"--dry-run", "r.example/a", "Bad/Ref"}, []string{`source "Bad/Ref"`}},
		{"bad platform", []string{"--dry-run", "-p", "linux/amd64,nope/x/y/z", "r.example/a"}, []string{`--platform "nope/x/y/z"`}},
		{"manifest annotation", []string{"--dry-run", "--annotation", "k=v", "r.example/a"}, []string{`--annotation "k=v"`, "index:KEY=VALUE"}},
		{"index-descriptor annotation", []string{"--dry-run", "--annotation", "index-descriptor:k=v", "r.example/a"}, []string{"index-descriptor", "manifest-descriptor:KEY=VALUE"}},
		{"bad annotation", []string{"--dry-run", "--annotation", "novalue", "r.example/a"}, []string{`--annotation "novalue"`}},
		{"bad progress", []string{"--progress", "loud", "-t", "r.example/a", "r.example/b"}, []string{"--progress", "loud"}},
		{"missing file", []string{"--dry-run", "-f", filepath.Join(t.TempDir(), "nope.json")}, []string{"--file", "nope.json"}},
		{"descriptor without repository", []string{"--dry-run", "-f", desc}, []string{"no repository"}},
		{"two repositories", []string{"--dry-run", "-f", desc, "r.example/a", "r.example/b"}, []string{"several repositories"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := execute(t, clitest.New(t), append([]string{"imagetools", "create"}, tc.args...)...)
			requireUsageErr(t, err, tc.want...)
		})
	}
}

const sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestImagetoolsCreateParse(t *testing.T) {
	t.Parallel()
	o := imagetoolsCreateOptions{
		tags:        []string{"r.example/a:v1"},
		appendTo:    true,
		progress:    "plain",
		preferIndex: true,
		platforms:   []string{"linux/amd64,linux/arm64", "linux/arm/v7"},
		annotations: []string{"index:org.example.i=1", "manifest-descriptor[linux/arm64]:org.example.d=2", "index,manifest-descriptor:both=3"},
	}
	req, err := o.parse([]string{"sha256:" + sha})
	require.NoError(t, err)
	require.Len(t, req.plan.Sources, 2, "--append makes the tag the first source")
	assert.Equal(t, "r.example/a:v1", req.plan.Sources[0].Ref.String())
	assert.Equal(t, "r.example/a@sha256:"+sha, req.plan.Sources[1].Ref.String())
	assert.Len(t, req.opts.Platforms, 3)
	assert.True(t, req.opts.PreferIndex)
	assert.Equal(t, []imagetools.Annotation{
		{Index: true, Key: "org.example.i", Value: "1"},
		{Platform: "linux/arm64", Key: "org.example.d", Value: "2"},
		{Index: true, Key: "both", Value: "3"},
		{Key: "both", Value: "3"},
	}, req.opts.Annotations)
}

func TestImagetoolsInspectFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"format and raw", []string{"--raw", "--format", "{{.Name}}", "r.example/a"}, []string{"--format and --raw cannot be used together"}},
		{"bad format", []string{"--format", "{{.Name", "r.example/a"}, []string{"--format:", "unclosed action"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := execute(t, clitest.New(t), append([]string{"imagetools", "inspect"}, tc.args...)...)
			requireUsageErr(t, err, tc.want...)
		})
	}
	err := execute(t, clitest.New(t), "imagetools", "inspect")
	require.ErrorContains(t, err, "requires 1 argument")
}
