package podtopologyspread

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
)

func TestScore(t *testing.T) {
	threeNodes := []*v1.Node{zoneNode("n1", "a").Obj(), zoneNode("n2", "a").Obj(), zoneNode("n3", "b").Obj()}
	pods := concat(fooPods("n1", 2), fooPods("n2", 1))
	fooService := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "foo"}}}
	tests := []struct {
		name     string
		args     *configv1.PodTopologySpreadArgs
		objs     []runtime.Object
		nodes    []*v1.Node
		pods     []*v1.Pod
		pod      *v1.Pod
		wantSkip bool
		wantRaw  []int64
		want     map[string]int64
	}{
		{
			// weight log(3+2): n1 2*1.61=3.2, n2 1.61, n3 0.
			name:  "hostname: fewer matching pods on the node is better",
			nodes: threeNodes, pods: pods,
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, hostKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantRaw: []int64{3, 2, 0},
			want:    map[string]int64{"n1": 0, "n2": 33, "n3": 100},
		},
		{
			// weight log(2+2): zone a holds 3 pods.
			name:  "zone: the node's whole domain counts",
			nodes: threeNodes, pods: pods,
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantRaw: []int64{4, 4, 0},
			want:    map[string]int64{"n1": 0, "n2": 0, "n3": 100},
		},
		{
			name:  "a larger maxSkew flattens the differences",
			nodes: threeNodes, pods: pods,
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(3, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantRaw: []int64{6, 6, 2},
			want:    map[string]int64{"n1": 33, "n2": 33, "n3": 100},
		},
		{
			name:  "a node without the key is ignored and scores 0",
			nodes: append(threeNodes, zoneNode("n4", "").Obj()), pods: concat(pods, fooPods("n4", 3)),
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantRaw: []int64{4, 4, 0, 0},
			want:    map[string]int64{"n1": 0, "n2": 0, "n3": 100, "n4": 0},
		},
		{
			name:    "no matching pod anywhere: every node gets the maximum",
			nodes:   threeNodes,
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, hostKey, soft, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantRaw: []int64{0, 0, 0},
			want:    map[string]int64{"n1": 100, "n2": 100, "n3": 100},
		},
		{
			// Zone weight log(2+2); n3's taint is not tolerated, so its pods
			// do not count toward zone b.
			name: "nodeTaintsPolicy Honor leaves tainted nodes' pods out",
			nodes: []*v1.Node{zoneNode("n1", "a").Obj(), zoneNode("n2", "b").Obj(),
				zoneNode("n3", "b").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj()},
			pods:    concat(fooPods("n1", 1), fooPods("n3", 3)),
			pod:     st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, soft, fooSelector().Obj(), nil, nil, honor, nil).Obj(),
			wantRaw: []int64{1, 0, 0},
			want:    map[string]int64{"n1": 0, "n2": 100, "n3": 100},
		},
		{
			// System defaults: hostname maxSkew 3 (weight log 5) and zone
			// maxSkew 5 (weight log 4 over {a, ""}); n3 has no zone label
			// and is still scored, by hostname only.
			name:  "system defaults score nodes without a zone label",
			objs:  []runtime.Object{fooService},
			nodes: []*v1.Node{zoneNode("n1", "a").Obj(), zoneNode("n2", "a").Obj(), zoneNode("n3", "").Obj()},
			pods:  fooPods("n1", 2),
			pod:   st.MakePod().Name("p").Label("app", "foo").Obj(),
			// n1 2*1.61+2 + 2*1.39+4 = 12, n2 2 + 6.77 = 9, n3 2.
			wantRaw: []int64{12, 9, 2},
			want:    map[string]int64{"n1": 16, "n2": 41, "n3": 100},
		},
		{
			name:  "listed defaults ignore nodes without a zone label",
			args:  listArgs(v1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: zoneKey, WhenUnsatisfiable: soft}),
			objs:  []runtime.Object{fooService},
			nodes: []*v1.Node{zoneNode("n1", "a").Obj(), zoneNode("n2", "b").Obj(), zoneNode("n3", "").Obj()},
			pods:  fooPods("n1", 2),
			pod:   st.MakePod().Name("p").Label("app", "foo").Obj(),
			// weight log(2+2): n1 2*1.39 = 3.
			wantRaw: []int64{3, 0, 0},
			want:    map[string]int64{"n1": 0, "n2": 100, "n3": 0},
		},
		{
			name:  "system defaults: a pod no workload owns is not scored",
			nodes: threeNodes, pods: pods,
			pod:      st.MakePod().Name("p").Label("app", "foo").Obj(),
			wantSkip: true,
		},
		{
			name:  "only hard constraints: Score is skipped",
			nodes: threeNodes, pods: pods,
			pod:      st.MakePod().Name("p").Label("app", "foo").SpreadConstraint(1, zoneKey, hard, fooSelector().Obj(), nil, nil, nil, nil).Obj(),
			wantSkip: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := st.NewSnapshot(tt.pods, tt.nodes)
			pl := newPlugin(t, snap, tt.args, tt.objs...)
			pst, raw, got := scoreAll(t, pl, tt.pod, snap.List())
			if tt.wantSkip {
				if !pst.IsSkip() {
					t.Fatalf("PreScore = %v, want Skip", pst)
				}
				return
			}
			if pst != nil {
				t.Fatalf("PreScore = %v", pst)
			}
			if diff := cmp.Diff(tt.wantRaw, raw); diff != "" {
				t.Errorf("raw scores (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("normalised scores (-want +got):\n%s", diff)
			}
		})
	}
}
