package plugin

import (
	"testing"
	"time"

	"github.com/docker-build2/docker-build2/build"
	"github.com/stretchr/testify/assert"
)

// TestImageRows: images shows tagged names as docker does, newest first,
// and leaves out the name@digest records and names that do not parse.
func TestImageRows(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rows := imageRows([]build.Image{
		{Name: "docker.io/library/base:latest", Digest: "sha256:aaaa", Created: now.Add(-time.Hour)},
		{Name: "docker.io/library/base@sha256:aaaa", Digest: "sha256:aaaa", Created: now.Add(-time.Hour)},
		{Name: "example.com/team/app:2", Digest: "sha256:bbbb", Created: now, Size: 42},
		{Name: "Not A Name", Created: now},
	})
	assert.Equal(t, []imageRow{
		{repo: "example.com/team/app", tag: "2", digest: "sha256:bbbb", created: now, size: 42},
		{repo: "base", tag: "latest", digest: "sha256:aaaa", created: now.Add(-time.Hour)},
	}, rows)
	assert.Equal(t, "sha256:0123456789ab", shortDigest("sha256:0123456789abcdef"))
}
