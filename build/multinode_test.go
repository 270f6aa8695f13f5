package build

import (
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWithPlatform: the steps of each node of a split build are named
// after its platform, as BuildKit names a multi-platform build's steps, and
// kept apart from the other node's steps of the same digest.
func TestWithPlatform(t *testing.T) {
	t.Parallel()
	load, run := digest.FromString("load"), digest.FromString("run")
	st := &client.SolveStatus{
		Vertexes: []*client.Vertex{
			{Digest: load, Name: "[internal] load build definition from Dockerfile"},
			{Digest: run, Name: "[2/3] RUN make", Inputs: []digest.Digest{load}},
			{Digest: digest.FromString("x"), Name: "exporting to image"},
		},
		Statuses: []*client.VertexStatus{{Vertex: run, ID: "s"}},
		Logs:     []*client.VertexLog{{Vertex: run, Data: []byte("hi")}},
		Warnings: []*client.VertexWarning{{Vertex: load, Short: []byte("w")}},
	}
	arm := withPlatform(st, "linux/arm64")
	amd := withPlatform(st, "linux/amd64")
	require.Len(t, arm.Vertexes, 3)
	assert.Equal(t, "[linux/arm64 internal] load build definition from Dockerfile", arm.Vertexes[0].Name)
	assert.Equal(t, "[linux/arm64 2/3] RUN make", arm.Vertexes[1].Name)
	assert.Equal(t, "[linux/arm64] exporting to image", arm.Vertexes[2].Name)
	assert.NotEqual(t, arm.Vertexes[0].Digest, amd.Vertexes[0].Digest, "the nodes' steps stay apart")
	assert.Equal(t, arm.Vertexes[0].Digest, arm.Vertexes[1].Inputs[0], "inputs follow their steps")
	assert.Equal(t, arm.Vertexes[1].Digest, arm.Statuses[0].Vertex)
	assert.Equal(t, arm.Vertexes[1].Digest, arm.Logs[0].Vertex)
	assert.Equal(t, arm.Vertexes[0].Digest, arm.Warnings[0].Vertex)
	assert.Equal(t, "[2/3] RUN make", st.Vertexes[1].Name, "the status sent is not changed")
	assert.Equal(t, load, st.Vertexes[1].Inputs[0])
}
