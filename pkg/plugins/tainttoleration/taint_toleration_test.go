package tainttoleration

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestFilter(t *testing.T) {
	untolerated := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUntolerated)
	tests := []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		want *framework.Status
	}{
		{
			name: "no taints",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Obj(),
		},
		{
			name: "NoSchedule taint, no toleration",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
			want: untolerated,
		},
		{
			name: "NoExecute taint, no toleration",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoExecute).Obj(),
			want: untolerated,
		},
		{
			name: "PreferNoSchedule taint does not filter",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectPreferNoSchedule).Obj(),
		},
		{
			name: "Equal toleration matches",
			pod:  st.MakePod().Name("p").EqualToleration("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
		},
		{
			name: "Equal toleration with other value",
			pod:  st.MakePod().Name("p").EqualToleration("gpu", "false", v1.TaintEffectNoSchedule).Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
			want: untolerated,
		},
		{
			name: "Exists toleration with empty effect covers every effect",
			pod:  st.MakePod().Name("p").ExistsToleration("gpu", "").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "a", v1.TaintEffectNoSchedule).Taint("gpu", "b", v1.TaintEffectNoExecute).Obj(),
		},
		{
			name: "toleration for another effect",
			pod:  st.MakePod().Name("p").ExistsToleration("gpu", v1.TaintEffectNoExecute).Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj(),
			want: untolerated,
		},
		{
			name: "one of two taints untolerated",
			pod:  st.MakePod().Name("p").ExistsToleration("gpu", "").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Taint("dedicated", "x", v1.TaintEffectNoSchedule).Obj(),
			want: untolerated,
		},
		{
			name: "empty key Exists tolerates everything",
			pod:  st.MakePod().Name("p").ExistsToleration("", "").Obj(),
			node: st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Taint("dedicated", "x", v1.TaintEffectNoExecute).Obj(),
		},
		{
			name: "Gt toleration is ignored while comparison operators are off",
			pod:  st.MakePod().Name("p").Toleration(v1.Toleration{Key: "tier", Operator: v1.TolerationOpGt, Value: "1", Effect: v1.TaintEffectNoSchedule}).Obj(),
			node: st.MakeNode().Name("n").Taint("tier", "5", v1.TaintEffectNoSchedule).Obj(),
			want: untolerated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ni := framework.NewNodeInfo()
			ni.SetNode(tt.node)
			got := p.(framework.FilterPlugin).Filter(context.Background(), framework.NewCycleState(), tt.pod, ni)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name    string
		pod     *v1.Pod
		nodes   []*v1.Node
		wantRaw []int64
		want    []int64
	}{
		{
			name: "no taints anywhere",
			pod:  st.MakePod().Name("p").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Obj(),
				st.MakeNode().Name("n2").Obj(),
			},
			wantRaw: []int64{0, 0},
			want:    []int64{100, 100},
		},
		{
			name: "fewer intolerable taints is better",
			pod:  st.MakePod().Name("p").Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Obj(),
				st.MakeNode().Name("n2").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Obj(),
				st.MakeNode().Name("n3").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Taint("b", "1", v1.TaintEffectPreferNoSchedule).
					Taint("c", "1", v1.TaintEffectPreferNoSchedule).Obj(),
			},
			wantRaw: []int64{0, 1, 3},
			want:    []int64{100, 67, 0},
		},
		{
			name: "tolerated taints and other effects do not count",
			pod: st.MakePod().Name("p").EqualToleration("a", "1", v1.TaintEffectPreferNoSchedule).
				ExistsToleration("b", "").ExistsToleration("c", v1.TaintEffectNoSchedule).Obj(),
			nodes: []*v1.Node{
				st.MakeNode().Name("n1").Taint("a", "1", v1.TaintEffectPreferNoSchedule).Taint("b", "x", v1.TaintEffectPreferNoSchedule).Obj(),
				st.MakeNode().Name("n2").Taint("c", "1", v1.TaintEffectPreferNoSchedule).Taint("d", "1", v1.TaintEffectNoSchedule).Obj(),
			},
			wantRaw: []int64{0, 1},
			want:    []int64{100, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := &TaintToleration{}
			ctx := context.Background()
			state := framework.NewCycleState()
			snap := st.NewSnapshot(nil, tt.nodes)
			if status := pl.PreScore(ctx, state, tt.pod, snap.List()); !status.IsSuccess() {
				t.Fatalf("PreScore status = %v", status)
			}
			var scores framework.NodeScoreList
			var raw []int64
			for _, ni := range snap.List() {
				s, status := pl.Score(ctx, state, tt.pod, ni)
				if !status.IsSuccess() {
					t.Fatalf("Score status = %v", status)
				}
				raw = append(raw, s)
				scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
			}
			if diff := cmp.Diff(tt.wantRaw, raw); diff != "" {
				t.Errorf("raw scores (-want +got):\n%s", diff)
			}
			if status := pl.ScoreExtensions().NormalizeScore(ctx, state, tt.pod, scores); !status.IsSuccess() {
				t.Fatalf("NormalizeScore status = %v", status)
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

func TestScoreWithoutPreScore(t *testing.T) {
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n").Obj())
	_, status := (&TaintToleration{}).Score(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), ni)
	if status.Code() != framework.Error {
		t.Errorf("Score without PreScore = %v, want Error", status)
	}
}

func TestQueueingHints(t *testing.T) {
	pod := st.MakePod().Name("p").ExistsToleration("ok", "").Obj()
	clean := st.MakeNode().Name("n").Obj()
	tainted := st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectNoSchedule).Obj()
	toleratedOnly := st.MakeNode().Name("n").Taint("ok", "1", v1.TaintEffectNoSchedule).Obj()
	preferOnly := st.MakeNode().Name("n").Taint("gpu", "true", v1.TaintEffectPreferNoSchedule).Obj()
	tests := []struct {
		name     string
		event    int
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "clean node added", new: clean, want: framework.Queue},
		{name: "tainted node added", new: tainted, want: framework.QueueSkip},
		{name: "node with tolerated taint added", new: toleratedOnly, want: framework.Queue},
		{name: "untolerated taint removed", old: tainted, new: clean, want: framework.Queue},
		{name: "untolerated taint becomes PreferNoSchedule", old: tainted, new: preferOnly, want: framework.Queue},
		{name: "untolerated taint added", old: clean, new: tainted, want: framework.QueueSkip},
		{name: "clean node stays clean", old: clean, new: toleratedOnly, want: framework.QueueSkip},
		{name: "own tolerations updated", event: 1, old: pod, new: st.MakePod().Name("p").ExistsToleration("gpu", "").Obj(), want: framework.Queue},
		{name: "another pod's tolerations updated", event: 1, old: pod, new: st.MakePod().Name("q").ExistsToleration("gpu", "").Obj(), want: framework.QueueSkip},
	}
	events, err := (&TaintToleration{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []framework.ClusterEvent{
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint},
		{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodTolerations},
	}
	var gotEvents []framework.ClusterEvent
	for _, e := range events {
		gotEvents = append(gotEvents, e.Event)
	}
	if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			got, err := events[tt.event].QueueingHintFn(logger, pod, tt.old, tt.new)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewRejectsArgs(t *testing.T) {
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, nil); err == nil {
		t.Fatal("New(wrong args) returned no error")
	}
}
