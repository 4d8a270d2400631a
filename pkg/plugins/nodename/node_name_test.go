package nodename

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		want *framework.Status
	}{
		{
			name: "no node name",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n1").Obj(),
		},
		{
			name: "same node",
			pod:  st.MakePod().Name("p").Node("n1").Obj(),
			node: st.MakeNode().Name("n1").Obj(),
		},
		{
			name: "other node",
			pod:  st.MakePod().Name("p").Node("n2").Obj(),
			node: st.MakeNode().Name("n1").Obj(),
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo()
			ni.SetNode(tt.node)
			pl, err := New(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := pl.(framework.FilterPlugin).Filter(context.Background(), framework.NewCycleState(), tt.pod, ni)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPreFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		want *framework.PreFilterResult
	}{
		{name: "no node name", pod: st.MakePod().Name("p").Obj()},
		{name: "node name", pod: st.MakePod().Name("p").Node("n1").Obj(), want: &framework.PreFilterResult{NodeNames: sets.New("n1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, status := (&NodeName{}).PreFilter(context.Background(), framework.NewCycleState(), tt.pod, nil)
			if !status.IsSuccess() {
				t.Fatalf("PreFilter status = %v", status)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PreFilterResult (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsAndArgs(t *testing.T) {
	events, err := (&NodeName{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []framework.ClusterEvent{{Resource: framework.Node, ActionType: framework.Add}}
	var got []framework.ClusterEvent
	for _, e := range events {
		got = append(got, e.Event)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := New(context.Background(), &configv1.NodeAffinityArgs{}, nil); err == nil {
		t.Error("New(wrong args) returned no error")
	}
}
