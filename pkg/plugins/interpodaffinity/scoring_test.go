package interpodaffinity

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		zoneNode("n1", "a"), zoneNode("n2", "a"), zoneNode("n3", "b"),
		st.MakeNode().Name("n4").Obj(),
	}
	web := func(name, node string) *st.PodWrapper {
		return st.MakePod().Name(name).Label("app", "web").Node(node)
	}
	tests := []struct {
		name         string
		args         *configv1.InterPodAffinityArgs
		pod          *v1.Pod
		pods         []*v1.Pod
		wantPreScore *framework.Status
		wantRaw      []int64
		want         []int64
	}{
		{
			name:         "nothing relates the pods: skip",
			pod:          st.MakePod().Name("p").Obj(),
			pods:         []*v1.Pod{web("w", "n1").Obj()},
			wantPreScore: framework.NewStatus(framework.Skip),
		},
		{
			name:    "preferred affinity on zone",
			pod:     st.MakePod().Name("p").PreferredPodAffinity(5, zoneKey, st.Labels("app", "web")).Obj(),
			pods:    []*v1.Pod{web("w", "n1").Obj(), web("w2", "n3").Obj(), web("w3", "n2").Obj()},
			wantRaw: []int64{10, 10, 5, 0},
			want:    []int64{100, 100, 50, 0},
		},
		{
			name: "preferred anti-affinity subtracts",
			pod: st.MakePod().Name("p").PreferredPodAffinity(5, zoneKey, st.Labels("app", "web")).
				PreferredPodAntiAffinity(3, v1.LabelHostname, st.Labels("app", "web")).Obj(),
			pods:    []*v1.Pod{web("w", "n1").Obj(), web("w4", "n4").Obj()},
			wantRaw: []int64{2, 5, 0, -3},
			want:    []int64{62, 100, 37, 0},
		},
		{
			name: "preferred term with namespaceSelector",
			pod: st.MakePod().Name("p").PreferredPodAffinityTerm(7,
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).NamespaceSelector(st.Labels("team", "a")).Obj()).Obj(),
			pods:    []*v1.Pod{web("w", "n1").Obj(), web("w3", "n3").Namespace("team-a").Obj()},
			wantRaw: []int64{0, 0, 7, 0},
			want:    []int64{0, 0, 100, 0},
		},
		{
			name:    "existing pod's required affinity, default hardPodAffinityWeight 1",
			pod:     st.MakePod().Name("p").Label("app", "db").Obj(),
			pods:    []*v1.Pod{web("w", "n3").PodAffinity(zoneKey, st.Labels("app", "db")).Obj()},
			wantRaw: []int64{0, 0, 1, 0},
			want:    []int64{0, 0, 100, 0},
		},
		{
			name:    "hardPodAffinityWeight scales it",
			args:    &configv1.InterPodAffinityArgs{HardPodAffinityWeight: int32p(10)},
			pod:     st.MakePod().Name("p").Label("app", "db").Obj(),
			pods:    []*v1.Pod{web("w", "n3").PodAffinity(zoneKey, st.Labels("app", "db")).Obj(), web("w2", "n1").PreferredPodAffinity(4, zoneKey, st.Labels("app", "db")).Obj()},
			wantRaw: []int64{4, 4, 10, 0},
			want:    []int64{40, 40, 100, 0},
		},
		{
			name:         "hardPodAffinityWeight 0 ignores required affinity",
			args:         &configv1.InterPodAffinityArgs{HardPodAffinityWeight: int32p(0)},
			pod:          st.MakePod().Name("p").Label("app", "db").Obj(),
			pods:         []*v1.Pod{web("w", "n3").PodAffinity(zoneKey, st.Labels("app", "db")).Obj()},
			wantPreScore: framework.NewStatus(framework.Skip),
		},
		{
			name: "existing pods' preferred terms count",
			pod:  st.MakePod().Name("p").Label("app", "db").Obj(),
			pods: []*v1.Pod{
				web("w", "n1").PreferredPodAffinity(8, v1.LabelHostname, st.Labels("app", "db")).Obj(),
				web("w3", "n3").PreferredPodAntiAffinity(4, zoneKey, st.Labels("app", "db")).Obj(),
			},
			wantRaw: []int64{8, 0, -4, 0},
			want:    []int64{100, 33, 0, 33},
		},
		{
			name: "ignorePreferredTermsOfExistingPods without own preferences: skip",
			args: &configv1.InterPodAffinityArgs{IgnorePreferredTermsOfExistingPods: true},
			pod:  st.MakePod().Name("p").Label("app", "db").Obj(),
			pods: []*v1.Pod{
				web("w", "n1").PreferredPodAffinity(8, v1.LabelHostname, st.Labels("app", "db")).Obj(),
			},
			wantPreScore: framework.NewStatus(framework.Skip),
		},
		{
			name: "ignorePreferredTermsOfExistingPods with own preferences still counts existing pods' terms",
			args: &configv1.InterPodAffinityArgs{IgnorePreferredTermsOfExistingPods: true},
			pod:  st.MakePod().Name("p").Label("app", "db").PreferredPodAffinity(1, zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{
				web("w", "n1").PreferredPodAffinity(8, v1.LabelHostname, st.Labels("app", "db")).Obj(),
			},
			wantRaw: []int64{9, 1, 0, 0},
			want:    []int64{100, 11, 0, 0},
		},
		{
			name:    "matching terms with zero total still normalise to zero",
			pod:     st.MakePod().Name("p").PreferredPodAffinity(2, zoneKey, st.Labels("app", "web")).PreferredPodAntiAffinity(2, zoneKey, st.Labels("app", "web")).Obj(),
			pods:    []*v1.Pod{web("w", "n1").Obj()},
			wantRaw: []int64{0, 0, 0, 0},
			want:    []int64{0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, snap := newTestPlugin(t, tt.args, tt.pods, nodes)
			ctx := context.Background()
			state := framework.NewCycleState()
			status := pl.PreScore(ctx, state, tt.pod, snap.List())
			if diff := cmp.Diff(tt.wantPreScore, status); diff != "" {
				t.Fatalf("PreScore status (-want +got):\n%s", diff)
			}
			if !status.IsSuccess() {
				return
			}
			var raw []int64
			var scores framework.NodeScoreList
			for _, ni := range snap.List() {
				s, st := pl.Score(ctx, state, tt.pod, ni)
				if !st.IsSuccess() {
					t.Fatalf("Score: %v", st)
				}
				raw = append(raw, s)
				scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
			}
			if diff := cmp.Diff(tt.wantRaw, raw); diff != "" {
				t.Errorf("raw scores (-want +got):\n%s", diff)
			}
			if s := pl.NormalizeScore(ctx, state, tt.pod, scores); !s.IsSuccess() {
				t.Fatalf("NormalizeScore: %v", s)
			}
			var got []int64
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("normalised scores (-want +got):\n%s", diff)
			}
		})
	}
}
