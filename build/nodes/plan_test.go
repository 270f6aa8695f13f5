package nodes

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProber answers for nodes by name and counts the probes of each.
type fakeProber struct {
	mu     sync.Mutex
	status map[string]Status
	calls  map[string]int
}

func newFakeProber(status map[string]Status) *fakeProber {
	return &fakeProber{status: status, calls: map[string]int{}}
}

func (f *fakeProber) probe(_ context.Context, n Node) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[n.Name]++
	st, ok := f.status[n.Name]
	if !ok {
		return Status{Err: errors.New("unknown node " + n.Name)}
	}
	if len(n.Platforms) > 0 {
		st.Platforms = n.Platforms // as Probe does: configured platforms win
	}
	return st
}

func node(name string, platforms ...string) Node {
	return Node{Name: name, Endpoint: "tcp://" + name + ":1234", Platforms: platforms}
}

// parts shows a plan as platform → node name.
func parts(plan []Part) map[string]string {
	out := map[string]string{}
	for _, p := range plan {
		out[p.Platform] = p.Node.Name
	}
	return out
}

func TestPlan(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name    string
		nodes   []Node
		status  map[string]Status
		wanted  []string
		want    map[string]string
		wantErr string
	}{
		{
			name:   "each platform to the first node serving it, in order",
			nodes:  []Node{node("amd", "linux/amd64"), node("arm", "linux/arm64"), node("both", "linux/amd64", "linux/arm64")},
			status: map[string]Status{"amd": {}, "arm": {}, "both": {}},
			wanted: []string{"linux/arm64", "linux/amd64"},
			want:   map[string]string{"linux/arm64": "arm", "linux/amd64": "amd"},
		},
		{
			name:   "an unreachable node is skipped",
			nodes:  []Node{node("down", "linux/amd64"), node("up", "linux/amd64")},
			status: map[string]Status{"down": {Err: down}, "up": {}},
			wanted: []string{"linux/amd64"},
			want:   map[string]string{"linux/amd64": "up"},
		},
		{
			name:   "platforms are normalized and matched",
			nodes:  []Node{node("arm", "linux/arm64/v8")},
			status: map[string]Status{"arm": {}},
			wanted: []string{"linux/arm64"},
			want:   map[string]string{"linux/arm64": "arm"},
		},
		{
			name:    "only unreachable nodes serve the platform",
			nodes:   []Node{node("down", "linux/s390x"), node("amd", "linux/amd64")},
			status:  map[string]Status{"down": {Err: down}, "amd": {}},
			wanted:  []string{"linux/s390x"},
			wantErr: `builder "fleet": no reachable node serves linux/s390x (node down: connection refused)`,
		},
		{
			name:    "nobody serves the platform",
			nodes:   []Node{node("amd", "linux/amd64"), node("arm", "linux/arm64")},
			status:  map[string]Status{"amd": {}, "arm": {}},
			wanted:  []string{"linux/amd64", "linux/riscv64"},
			wantErr: `builder "fleet": no node serves linux/riscv64`,
		},
		{
			name:   "a node with no configured platforms serves those it reports",
			nodes:  []Node{node("amd", "linux/amd64"), node("probed")},
			status: map[string]Status{"amd": {}, "probed": {Platforms: []string{"linux/amd64", "linux/arm64"}}},
			wanted: []string{"linux/arm64", "linux/amd64"},
			want:   map[string]string{"linux/arm64": "probed", "linux/amd64": "amd"},
		},
		{
			name:    "a node with no configured platforms that does not answer",
			nodes:   []Node{node("amd", "linux/amd64"), node("down")},
			status:  map[string]Status{"amd": {}, "down": {Err: down}},
			wanted:  []string{"linux/arm64"},
			wantErr: `builder "fleet": no reachable node serves linux/arm64 (node down: connection refused)`,
		},
		{
			name:    "a reachable node that reports no platform serves none",
			nodes:   []Node{node("empty")},
			status:  map[string]Status{"empty": {}},
			wanted:  []string{"linux/amd64"},
			wantErr: `builder "fleet": no node serves linux/amd64`,
		},
		{
			name:   "no wanted platform: the first reachable node",
			nodes:  []Node{node("down", "linux/amd64"), node("next", "linux/arm64"), node("last")},
			status: map[string]Status{"down": {Err: down}, "next": {}, "last": {}},
			want:   map[string]string{"": "next"},
		},
		{
			name:    "no wanted platform, no reachable node",
			nodes:   []Node{node("a"), node("b", "linux/amd64")},
			status:  map[string]Status{"a": {Err: down}, "b": {Err: errors.New("timeout")}},
			wantErr: `builder "fleet": no reachable node serves the build (node a: connection refused; node b: timeout)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newFakeProber(tc.status)
			plan, err := Plan(t.Context(), &Builder{Name: "fleet", Nodes: tc.nodes}, tc.wanted, p.probe)
			for name, n := range p.calls {
				assert.LessOrEqual(t, n, 1, "node %s probed %d times", name, n)
			}
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				assert.Nil(t, plan)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, parts(plan))
			require.Len(t, plan, max(len(tc.wanted), 1), "one part per platform")
			for i, w := range tc.wanted {
				assert.Equal(t, w, plan[i].Platform, "parts in the order of the wanted platforms")
			}
		})
	}
}

// TestPlanProbesEachNodeOnce: across many platforms, a node is probed once
// at the most, and a node never needed is not probed at all.
func TestPlanProbesEachNodeOnce(t *testing.T) {
	t.Parallel()
	p := newFakeProber(map[string]Status{
		"a":      {Platforms: []string{"linux/amd64", "linux/arm64"}},
		"b":      {Err: errors.New("down")},
		"c":      {Platforms: []string{"linux/s390x", "linux/ppc64le", "linux/riscv64"}},
		"unused": {},
	})
	b := &Builder{Name: "fleet", Nodes: []Node{node("b", "linux/s390x"), node("a"), node("c"), node("unused", "linux/mips64")}}
	plan, err := Plan(t.Context(), b, []string{"linux/amd64", "linux/arm64", "linux/s390x", "linux/ppc64le", "linux/riscv64"}, p.probe)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"linux/amd64": "a", "linux/arm64": "a", "linux/s390x": "c", "linux/ppc64le": "c", "linux/riscv64": "c",
	}, parts(plan))
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, p.calls)
	assert.Equal(t, "tcp://c:1234", plan[2].Node.Endpoint)
}

func TestPlanPassesContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "v")
	var got any
	_, err := Plan(ctx, &Builder{Name: "fleet", Nodes: []Node{node("a")}}, nil, func(ctx context.Context, n Node) Status {
		got = ctx.Value(key{})
		return Status{}
	})
	require.NoError(t, err)
	assert.Equal(t, "v", got)
}
