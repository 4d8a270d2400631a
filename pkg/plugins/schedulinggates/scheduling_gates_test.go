package schedulinggates

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

func TestPreEnqueue(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		want *framework.Status
	}{
		{
			name: "no gates",
			pod:  st.MakePod().Name("p").Obj(),
		},
		{
			name: "one gate",
			pod:  st.MakePod().Name("p").SchedulingGates("foo").Obj(),
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, "waiting for scheduling gates: [foo]"),
		},
		{
			name: "two gates in order",
			pod:  st.MakePod().Name("p").SchedulingGates("foo", "bar").Obj(),
			want: framework.NewStatus(framework.UnschedulableAndUnresolvable, "waiting for scheduling gates: [foo bar]"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := New(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := pl.(framework.PreEnqueuePlugin).PreEnqueue(context.Background(), tt.pod)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PreEnqueue status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueueingHint(t *testing.T) {
	gated := st.MakePod().Name("p").SchedulingGates("foo").Obj()
	released := st.MakePod().Name("p").Obj()
	otherReleased := st.MakePod().Name("other").Obj()
	tests := []struct {
		name     string
		old, new interface{}
		want     framework.QueueingHint
		wantErr  bool
	}{
		{name: "own gates removed", old: gated, new: released, want: framework.Queue},
		{name: "another pod's gates removed", old: st.MakePod().Name("other").SchedulingGates("x").Obj(), new: otherReleased, want: framework.QueueSkip},
		{name: "own pod still gated", old: gated, new: gated, want: framework.QueueSkip},
		{name: "wrong type", old: nil, new: &v1.Node{}, want: framework.Queue, wantErr: true},
	}
	pl := &SchedulingGates{}
	events, err := pl.EventsToRegister(context.Background())
	if err != nil || len(events) != 1 {
		t.Fatalf("EventsToRegister() = %v, %v", events, err)
	}
	wantEvent := framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSchedulingGatesEliminated}
	if diff := cmp.Diff(wantEvent, events[0].Event); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			got, err := events[0].QueueingHintFn(logger, gated, tt.old, tt.new)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
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
