package noderesources

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func newBalanced(t *testing.T, args *configv1.NodeResourcesBalancedAllocationArgs) *BalancedAllocation {
	t.Helper()
	var obj runtime.Object
	if args != nil {
		obj = args
	}
	p, err := NewBalancedAllocation(context.Background(), obj, st.NewHandle(nil))
	if err != nil {
		t.Fatal(err)
	}
	return p.(*BalancedAllocation)
}

// Balance is 100*(1-std) of the requested fractions, truncated; the score is
// 50 + (50 + balanceWith - balanceWithout)/2. Real requests only, so the
// "be" node looks empty and "full" has no memory in use.
func TestBalancedAllocationScore(t *testing.T) {
	tests := []struct {
		name      string
		resources []configv1.ResourceSpec
		pod       *v1.Pod
		// want per node: empty, busy, be, full, foo
		want     []int64
		wantSkip bool
	}{
		{
			// empty: .25/.25 -> 100, before 100 -> 75
			// busy:  before .5/.125 (std .1875) 81, after .75/.375 81 -> 75
			// full:  before 1/0 -> 50, after 1(capped)/.25 -> 62 -> 81
			name: "pod that keeps the node's balance",
			pod:  st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj(),
			want: []int64{75, 75, 75, 81, 75},
		},
		{
			// empty: 0/.5 -> 75, before 100 -> 50+(50-25)/2 = 62
			// busy:  .5/.625 -> 93, before 81 -> 50+(50+12)/2 = 81
			// full:  1/.5 -> 75, before 50 -> 50+(50+25)/2 = 87
			name: "memory-only pod evens out a cpu-heavy node",
			pod:  st.MakePod().Name("p").Req("memory", "4Gi").Obj(),
			want: []int64{62, 81, 62, 87, 62},
		},
		{
			// foo node: before 0/0/.25 (std .118) 88, after .25/.25/1
			// (std .354) 64 -> 50+(50-24)/2 = 63. Nodes without foo leave
			// it out and score as in the first case.
			name:      "three resources",
			resources: resources("cpu", 1, "memory", 1, "example.com/foo", 1),
			pod:       st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi", "example.com/foo", "3").Obj(),
			want:      []int64{75, 75, 75, 81, 63},
		},
		{
			name:     "best-effort pod skips the plugin",
			pod:      st.MakePod().Name("p").Obj(),
			wantSkip: true,
		},
		{
			name:     "pod requesting none of the resources skips the plugin",
			pod:      st.MakePod().Name("p").Req("example.com/foo", "1").Obj(),
			wantSkip: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args *configv1.NodeResourcesBalancedAllocationArgs
			if tc.resources != nil {
				args = &configv1.NodeResourcesBalancedAllocationArgs{Resources: tc.resources}
			}
			b := newBalanced(t, args)
			got, s := scoreNodes(t, b, tc.pod, scoringNodes(t))
			if tc.wantSkip {
				if !s.IsSkip() {
					t.Fatalf("PreScore = %v, want Skip", s)
				}
				return
			}
			if s != nil {
				t.Fatalf("PreScore = %v", s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBalancedAllocationScoreWithoutPreScore(t *testing.T) {
	b := newBalanced(t, nil)
	ni := scoringNodes(t)[3]
	for _, tc := range []struct {
		pod  *v1.Pod
		want int64
	}{
		{st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj(), 81},
		{st.MakePod().Name("be").Obj(), 0},
	} {
		got, s := b.Score(context.Background(), framework.NewCycleState(), tc.pod, ni)
		if s != nil || got != tc.want {
			t.Errorf("Score(%s) = %d, %v; want %d, nil", tc.pod.Name, got, s, tc.want)
		}
	}
}

// Cross-checked against the formula as kube-scheduler applies it: with more
// than two resources the population standard deviation is used, and a
// fraction above 1 counts as 1.
func TestBalance(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		requested, allocatable []int64
		want                   int64
	}{
		{"no resources", nil, nil, 100},
		{"one resource", []int64{3}, []int64{4}, 100},
		{"two resources", []int64{1, 3}, []int64{4, 4}, 75},
		{"overcommitted capped", []int64{8, 0}, []int64{4, 4}, 50},
		{"absent resource left out", []int64{1, 5, 3}, []int64{4, 0, 4}, 75},
		// fractions .2, .4, .6: std sqrt(.08/3) = .1633 -> 83
		{"three resources", []int64{2, 4, 6}, []int64{10, 10, 10}, 83},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := balance(tc.requested, tc.allocatable); got != tc.want {
				t.Errorf("balance = %d, want %d", got, tc.want)
			}
		})
	}
}

// Scenarios taken from kube-scheduler's own test tables (numbers only), to
// confirm berth lands on the same scores for the same cluster.
func TestScoresMatchUpstreamTables(t *testing.T) {
	mk := func(name, cpu, mem string) *v1.Node {
		return st.MakeNode().Name(name).Capacity("cpu", cpu, "memory", mem, "pods", "100").Obj()
	}
	pod := st.MakePod().Name("p").Req("cpu", "1", "memory", "2000").Req("cpu", "2", "memory", "3000").Obj()
	cpuOnly := func(n string) *v1.Pod { return st.MakePod().Name(n).Req("cpu", "1").Req("cpu", "2").Obj() }
	both := func(n string) *v1.Pod {
		return st.MakePod().Name(n).Req("cpu", "1", "memory", "2000").Req("cpu", "2", "memory", "3000").Obj()
	}
	tests := []struct {
		name  string
		pl    framework.ScorePlugin
		nodes []*framework.NodeInfo
		want  []int64
	}{
		{
			// cpu 30%->60%, memory 0->25%: 85 -> 82 gives 73;
			// cpu 30%->60%, memory 25%->50%: 97 -> 95 gives 74
			name: "balanced, pods scheduled with resources",
			pl:   newBalanced(t, nil),
			nodes: []*framework.NodeInfo{
				nodeInfo(t, mk("n1", "10", "20000"), cpuOnly("e1")),
				nodeInfo(t, mk("n2", "10", "20000"), both("e2")),
			},
			want: []int64{73, 74},
		},
		{
			// memory 10%->20% of 50000: 90 -> 80 gives 70
			name: "balanced, differently sized nodes",
			pl:   newBalanced(t, nil),
			nodes: []*framework.NodeInfo{
				nodeInfo(t, mk("n1", "10", "20000"), cpuOnly("e1")),
				nodeInfo(t, mk("n2", "10", "50000"), both("e2")),
			},
			want: []int64{73, 70},
		},
		{
			// balanced: 75%/50% -> 87 from 100 gives 68; 50%/50% gives 75
			name:  "balanced, empty differently sized nodes",
			pl:    newBalanced(t, nil),
			nodes: []*framework.NodeInfo{nodeInfo(t, mk("n1", "4", "10000")), nodeInfo(t, mk("n2", "6", "10000"))},
			want:  []int64{68, 75},
		},
		{
			// least allocated: (25+50)/2 = 37 and (50+50)/2 = 50
			name:  "least allocated, empty differently sized nodes",
			pl:    newFit(t, nil),
			nodes: []*framework.NodeInfo{nodeInfo(t, mk("n1", "4", "10000")), nodeInfo(t, mk("n2", "6", "10000"))},
			want:  []int64{37, 50},
		},
		{
			// shape 0->10, 100->0: 37.5 rounds to 38
			name: "requested to capacity ratio rounds",
			pl: newFit(t, &configv1.NodeResourcesFitArgs{ScoringStrategy: &configv1.ScoringStrategy{
				Type: configv1.RequestedToCapacityRatio, RequestedToCapacityRatio: shape(0, 10, 100, 0)}}),
			nodes: []*framework.NodeInfo{nodeInfo(t, mk("n1", "4", "10000")), nodeInfo(t, mk("n2", "6", "10000"))},
			want:  []int64{38, 50},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := scoreNodes(t, tc.pl, pod, tc.nodes)
			if s != nil {
				t.Fatalf("PreScore = %v", s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}
