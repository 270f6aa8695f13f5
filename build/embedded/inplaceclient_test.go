package embedded

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestParallelFirstFailure: every index up to the first that fails is
// visited, whichever worker has it, so the first failure is found.
func TestParallelFirstFailure(t *testing.T) {
	for _, n := range []int{0, 1, 5, 1000} {
		fails := map[int]bool{n / 2: true, n/2 + 1: true, n - 1: true}
		visited := make([]atomic.Bool, n)
		failed := make([]bool, n)
		parallel(n, func(i int) bool {
			visited[i].Store(true)
			failed[i] = fails[i]
			return !fails[i]
		})
		first := -1
		for i := range n {
			if failed[i] {
				first = i
				break
			}
		}
		if n > 0 {
			assert.Equal(t, n/2, first, "n=%d", n)
		}
		for i := 0; i <= min(n/2, n-1); i++ {
			assert.True(t, visited[i].Load(), "n=%d: index %d before the first failure was visited", n, i)
		}
	}
}

// testMount is a directory offered in place.
type testMount struct {
	fsutil.FS
	dir string
}

func (m testMount) InPlaceDir() string { return m.dir }

func (m testMount) Changed(path string, err error) error {
	return fmt.Errorf("context file %s: %w", path, err)
}

// askDirOf asks p for the directory of the mount named context.
func askDirOf(t *testing.T, p *inPlaceProvider) inPlaceReply {
	t.Helper()
	req, err := json.Marshal(inPlaceRequest{Name: "context"})
	require.NoError(t, err)
	out, err := p.dir(t.Context(), wrapperspb.Bytes(req))
	require.NoError(t, err)
	var reply inPlaceReply
	require.NoError(t, json.Unmarshal(out.GetValue(), &reply))
	return reply
}

// TestInPlaceDirSmall: in auto mode a small mount is not offered, so the
// transfer sends it and a file of it edited during the build does not fail
// the build; a large one, or any with always, is offered and checked.
func TestInPlaceDirSmall(t *testing.T) {
	tests := []struct {
		name   string
		always bool
		// dirs is how many empty directories the mount holds besides a.txt.
		dirs    int
		inPlace bool
	}{
		{name: "small", inPlace: false},
		{name: "small always", always: true, inPlace: true},
		{name: "directories counted", dirs: smallEntries, inPlace: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("before"), 0o644))
			for n := range tc.dirs {
				require.NoError(t, os.Mkdir(filepath.Join(dir, fmt.Sprintf("d%d", n)), 0o755))
			}
			fs, err := fsutil.NewFS(dir)
			require.NoError(t, err)
			p := newInPlaceProvider(client.SolveOpt{LocalMounts: map[string]fsutil.FS{"context": testMount{FS: fs, dir: dir}}}, tc.always)
			require.NotNil(t, p)

			reply := askDirOf(t, p)
			require.NoError(t, p.check())
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("after!"), 0o644))
			err = p.check()
			if !tc.inPlace {
				assert.Empty(t, reply.Dir)
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, dir, reply.Dir)
			require.ErrorIs(t, err, ErrChanged)
			assert.ErrorContains(t, err, "a.txt")
		})
	}
}
