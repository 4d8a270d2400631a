package noderesources

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"

	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// scoreNodes runs PreScore once and Score on every node, as the engine does.
func scoreNodes(t *testing.T, pl framework.ScorePlugin, pod *v1.Pod, nodes []*framework.NodeInfo) ([]int64, *framework.Status) {
	t.Helper()
	state := framework.NewCycleState()
	if ps, ok := pl.(framework.PreScorePlugin); ok {
		if s := ps.PreScore(context.Background(), state, pod, nodes); !s.IsSuccess() {
			return nil, s
		}
	}
	out := make([]int64, len(nodes))
	for i, ni := range nodes {
		score, s := pl.Score(context.Background(), state, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score(%s) = %v", ni.Node().Name, s)
		}
		out[i] = score
	}
	return out, nil
}

func resources(kv ...any) []configv1.ResourceSpec {
	var out []configv1.ResourceSpec
	for i := 0; i < len(kv); i += 2 {
		out = append(out, configv1.ResourceSpec{Name: kv[i].(string), Weight: int64(kv[i+1].(int))})
	}
	return out
}

func shape(pts ...int32) *configv1.RequestedToCapacityRatioParam {
	p := &configv1.RequestedToCapacityRatioParam{}
	for i := 0; i < len(pts); i += 2 {
		p.Shape = append(p.Shape, configv1.UtilizationShapePoint{Utilization: pts[i], Score: pts[i+1]})
	}
	return p
}

// The cluster every scoring case uses. All nodes have 4 cpu and 8Gi:
//
//	empty: nothing on it
//	busy:  a pod requesting cpu 2, memory 1Gi
//	be:    a best-effort pod (counts as 100m / 200Mi for Fit's scoring)
//	full:  a pod requesting cpu 4 (and, for Fit's scoring, 200Mi memory)
//	foo:   also 4 example.com/foo, a pod requesting 1 of them and no cpu
//	       or memory (so 100m / 200Mi for Fit's scoring)
//
// Percentages below are truncated; 2248Mi (2Gi + 200Mi) of 8Gi is 27%.
func scoringNodes(t *testing.T) []*framework.NodeInfo {
	mk := func(name string, extra ...string) *v1.Node {
		return st.MakeNode().Name(name).Capacity(append([]string{"cpu", "4", "memory", "8Gi", "pods", "100"}, extra...)...).Obj()
	}
	return []*framework.NodeInfo{
		nodeInfo(t, mk("empty")),
		nodeInfo(t, mk("busy"), st.MakePod().Name("b").Req("cpu", "2", "memory", "1Gi").Obj()),
		nodeInfo(t, mk("be"), st.MakePod().Name("be").Obj()),
		nodeInfo(t, mk("full"), st.MakePod().Name("f").Req("cpu", "4").Obj()),
		nodeInfo(t, mk("foo", "example.com/foo", "4"), st.MakePod().Name("x").Req("example.com/foo", "1").Obj()),
	}
}

func TestFitScore(t *testing.T) {
	pod := st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj()
	tests := []struct {
		name     string
		strategy *configv1.ScoringStrategy
		pod      *v1.Pod
		// want per node: empty, busy, be, full, foo
		want []int64
	}{
		{
			// cpu free share, memory free share, mean (truncating):
			// empty: 3000/4000=75, 6Gi/8Gi=75 -> 75
			// busy:  1000/4000=25, 5Gi/8Gi=62 -> (25+62)/2=43
			// be:    2900/4000=72, (8192-2248)/8192 Mi=72 -> 72
			// full:  5000>4000 -> 0, 72 -> 36
			// foo:   like be; the pod asks no foo, so foo is left out -> 72
			name:     "LeastAllocated default",
			strategy: nil,
			pod:      pod,
			want:     []int64{75, 43, 72, 36, 72},
		},
		{
			// busy: (25*3 + 62*1)/4 = 34; full: (0*3+72)/4 = 18
			name:     "LeastAllocated weights",
			strategy: &configv1.ScoringStrategy{Type: configv1.LeastAllocated, Resources: resources("cpu", 3, "memory", 1)},
			pod:      pod,
			want:     []int64{75, 34, 72, 18, 72},
		},
		{
			// best-effort pod counts as 100m / 200Mi:
			// empty: 3900/4000=97, (8192-200)/8192=97 -> 97
			// busy:  1900/4000=47, (8192-1224)/8192=85 -> 66
			// be:    3800/4000=95, (8192-400)/8192=95 -> 95
			// full:  4100>4000 -> 0, (8192-400)/8192=95 -> 47
			// foo:   like be -> 95
			name: "LeastAllocated best-effort pod",
			pod:  st.MakePod().Name("p").Obj(),
			want: []int64{97, 66, 95, 47, 95},
		},
		{
			// cpu and foo: a node without foo is scored on cpu alone.
			// foo node: cpu 2900/4000=72, foo (4-2)/4=50 -> (72+50)/2 = 61
			name:     "LeastAllocated extended resource",
			strategy: &configv1.ScoringStrategy{Type: configv1.LeastAllocated, Resources: resources("cpu", 1, "example.com/foo", 1)},
			pod:      st.MakePod().Name("p").Req("cpu", "1", "example.com/foo", "1").Obj(),
			want:     []int64{75, 25, 72, 0, 61},
		},
		{
			// used share after placing, capped at full:
			// empty: 25, 25 -> 25; busy: 75, 37 -> 56; be: 27, 27 -> 27
			// full: 100 (capped), 27 -> 63; foo: 27, 27 -> 27
			name:     "MostAllocated",
			strategy: &configv1.ScoringStrategy{Type: configv1.MostAllocated, Resources: resources("cpu", 1, "memory", 1)},
			pod:      pod,
			want:     []int64{25, 56, 27, 63, 27},
		},
		{
			// busy: (75*1 + 37*2)/3 = 49; full: (100 + 27*2)/3 = 51
			name:     "MostAllocated weights",
			strategy: &configv1.ScoringStrategy{Type: configv1.MostAllocated, Resources: resources("cpu", 1, "memory", 2)},
			pod:      pod,
			want:     []int64{25, 49, 27, 51, 27},
		},
		{
			// shape 0->0, 100->10 (scaled to 100) is MostAllocated with
			// rounding: busy (75*1+37*2)/3 = 49.67 -> 50, full (100+54)/3 = 51.3 -> 51
			name: "RequestedToCapacityRatio linear shape rounds",
			strategy: &configv1.ScoringStrategy{Type: configv1.RequestedToCapacityRatio,
				Resources: resources("cpu", 1, "memory", 2), RequestedToCapacityRatio: shape(0, 0, 100, 10)},
			pod:  pod,
			want: []int64{25, 50, 27, 51, 27},
		},
		{
			// shape 0->10, 100->0 favours empty nodes: 100 - utilisation.
			// busy: 25, 63 -> 44; full: overcommitted cpu scores shape(100)=0
			// and is left out, so memory alone: 100-27 = 73
			name: "RequestedToCapacityRatio decreasing shape",
			strategy: &configv1.ScoringStrategy{Type: configv1.RequestedToCapacityRatio,
				Resources: resources("cpu", 1, "memory", 1), RequestedToCapacityRatio: shape(0, 10, 100, 0)},
			pod:  pod,
			want: []int64{75, 44, 73, 73, 73},
		},
		{
			// shape 0->0, 50->0, 100->10: utilisations below 50 score 0 and
			// drop out of the mean. empty: nothing scores -> 0;
			// busy: cpu 75 -> 50, memory 37 -> 0 dropped -> 50; full: cpu 100.
			name: "RequestedToCapacityRatio zero scores are left out",
			strategy: &configv1.ScoringStrategy{Type: configv1.RequestedToCapacityRatio,
				Resources: resources("cpu", 1, "memory", 1), RequestedToCapacityRatio: shape(0, 0, 50, 0, 100, 10)},
			pod:  pod,
			want: []int64{0, 50, 0, 100, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFit(t, &configv1.NodeResourcesFitArgs{ScoringStrategy: tc.strategy})
			got, s := scoreNodes(t, f, tc.pod, scoringNodes(t))
			if s != nil {
				t.Fatalf("PreScore = %v", s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFitScoreWithoutPreScore(t *testing.T) {
	f := newFit(t, nil)
	pod := st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj()
	ni := scoringNodes(t)[1]
	got, s := f.Score(context.Background(), framework.NewCycleState(), pod, ni)
	if s != nil || got != 43 {
		t.Errorf("Score without PreScore = %d, %v; want 43, nil", got, s)
	}
	if f.ScoreExtensions() != nil {
		t.Error("ScoreExtensions should be nil")
	}
}

func TestBrokenLinear(t *testing.T) {
	pts := pluginutil.Shape{{Utilization: 10, Score: 20}, {Utilization: 50, Score: 100}, {Utilization: 80, Score: 40}}
	for _, tc := range []struct{ u, want int64 }{
		{0, 20}, {10, 20}, {30, 60}, {50, 100}, {65, 70}, {80, 40}, {100, 40},
	} {
		if got := pts.At(tc.u); got != tc.want {
			t.Errorf("brokenLinear(%d) = %d, want %d", tc.u, got, tc.want)
		}
	}
}
