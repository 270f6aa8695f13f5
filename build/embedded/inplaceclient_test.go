package embedded

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
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
