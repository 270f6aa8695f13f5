package plugin

import (
	"testing"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
)

// TestWithPush: --push pushes the image outputs given, as buildx's does,
// and adds a registry output only when there is none.
func TestWithPush(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []build.Output
		want []build.Output
	}{
		{"alone", nil, []build.Output{{Type: "registry", Attrs: map[string]string{}}}},
		{"with a registry output", []build.Output{{Type: "registry", Attrs: map[string]string{}}}, []build.Output{{Type: "registry", Attrs: map[string]string{}}}},
		{"with an image output", []build.Output{{Type: "image", Attrs: map[string]string{"name": "r/a"}}}, []build.Output{{Type: "image", Attrs: map[string]string{"name": "r/a", "push": "true"}}}},
		{"with a file output", []build.Output{{Type: "oci", Dest: "x.tar", Attrs: map[string]string{}}}, []build.Output{
			{Type: "oci", Dest: "x.tar", Attrs: map[string]string{}}, {Type: "registry", Attrs: map[string]string{}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, withPush(tc.in))
		})
	}
}
