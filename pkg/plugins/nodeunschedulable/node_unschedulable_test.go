package nodeunschedulable

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

var tolerateUnschedulable = v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		node *v1.Node
		want *framework.Status
	}{
		{
			name: "schedulable node",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Obj(),
		},
		{
			name: "cordoned node",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Unschedulable(true).Obj(),
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable),
		},
		{
			name: "cordoned node, pod tolerates",
			pod:  st.MakePod().Name("p").Toleration(tolerateUnschedulable).Obj(),
			node: st.MakeNode().Name("n").Unschedulable(true).Obj(),
		},
		{
			name: "cordoned node, pod tolerates everything",
			pod:  st.MakePod().Name("p").Toleration(v1.Toleration{Operator: v1.TolerationOpExists}).Obj(),
			node: st.MakeNode().Name("n").Unschedulable(true).Obj(),
		},
		{
			name: "cordoned node, toleration for another effect",
			pod: st.MakePod().Name("p").Toleration(v1.Toleration{Key: v1.TaintNodeUnschedulable,
				Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}).Obj(),
			node: st.MakeNode().Name("n").Unschedulable(true).Obj(),
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable),
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

func TestQueueingHints(t *testing.T) {
	pod := st.MakePod().Name("p").Obj()
	schedulable := st.MakeNode().Name("n").Obj()
	cordoned := st.MakeNode().Name("n").Unschedulable(true).Obj()
	tests := []struct {
		name     string
		event    int
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "schedulable node added", event: 0, new: schedulable, want: framework.Queue},
		{name: "cordoned node added", event: 0, new: cordoned, want: framework.QueueSkip},
		{name: "node uncordoned", event: 0, old: cordoned, new: schedulable, want: framework.Queue},
		{name: "node cordoned", event: 0, old: schedulable, new: cordoned, want: framework.QueueSkip},
		{name: "schedulable node changed", event: 0, old: schedulable, new: schedulable, want: framework.QueueSkip},
		{name: "pod gains toleration", event: 1, old: pod, new: st.MakePod().Name("p").Toleration(tolerateUnschedulable).Obj(), want: framework.Queue},
		{name: "pod gains unrelated toleration", event: 1, old: pod,
			new: st.MakePod().Name("p").Toleration(v1.Toleration{Key: "x", Operator: v1.TolerationOpExists}).Obj(), want: framework.QueueSkip},
		{name: "another pod gains toleration", event: 1, old: pod, new: st.MakePod().Name("q").Toleration(tolerateUnschedulable).Obj(), want: framework.QueueSkip},
	}
	events, err := (&NodeUnschedulable{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
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
