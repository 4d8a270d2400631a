package nodeports

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestPreFilterAndFilter(t *testing.T) {
	node := st.MakeNode().Name("n").Obj()
	tests := []struct {
		name          string
		pod           *v1.Pod
		existing      []*v1.Pod
		wantPreFilter *framework.Status
		want          *framework.Status
	}{
		{
			name:          "no host ports: skip",
			pod:           st.MakePod().Name("p").Obj(),
			wantPreFilter: framework.NewStatus(framework.Skip),
		},
		{
			name:     "free port",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "", 8081).Obj()},
		},
		{
			name:     "same port, other protocol",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolUDP, "", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "", 8080).Obj()},
		},
		{
			name:     "same port, different IPs",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "127.0.0.1", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "127.0.0.2", 8080).Obj()},
		},
		{
			name:     "conflict on same IP",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "127.0.0.1", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "127.0.0.1", 8080).Obj()},
			want:     framework.NewStatus(framework.Unschedulable, ErrReason),
		},
		{
			name:     "conflict with wildcard on node",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "127.0.0.1", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "", 8080).Obj()},
			want:     framework.NewStatus(framework.Unschedulable, ErrReason),
		},
		{
			name:     "pod wildcard conflicts with specific IP",
			pod:      st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "0.0.0.0", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "10.0.0.1", 8080).Obj()},
			want:     framework.NewStatus(framework.Unschedulable, ErrReason),
		},
		{
			name:     "empty protocol means TCP",
			pod:      st.MakePod().Name("p").HostPort("", "", 8080).Obj(),
			existing: []*v1.Pod{st.MakePod().Name("e").Node("n").HostPort(v1.ProtocolTCP, "", 8080).Obj()},
			want:     framework.NewStatus(framework.Unschedulable, ErrReason),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := st.NewSnapshot(tt.existing, []*v1.Node{node})
			ni, err := snap.Get("n")
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(context.Background(), nil, st.NewHandle(snap))
			if err != nil {
				t.Fatal(err)
			}
			pl := p.(*NodePorts)
			state := framework.NewCycleState()
			_, status := pl.PreFilter(context.Background(), state, tt.pod, snap.List())
			if diff := cmp.Diff(tt.wantPreFilter, status); diff != "" {
				t.Fatalf("PreFilter status (-want +got):\n%s", diff)
			}
			if status.IsSkip() {
				return
			}
			got := pl.Filter(context.Background(), state, tt.pod, ni)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
			if fits := Fits(tt.pod, ni); fits != tt.want.IsSuccess() {
				t.Errorf("Fits() = %v, want %v", fits, tt.want.IsSuccess())
			}
		})
	}
}

func TestFilterWithoutPreFilter(t *testing.T) {
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n").Obj())
	got := (&NodePorts{}).Filter(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), ni)
	if got.Code() != framework.Error || !errors.Is(got.AsError(), framework.ErrNotFound) {
		t.Errorf("Filter without state = %v, want an Error wrapping ErrNotFound", got)
	}
}

func TestQueueingHint(t *testing.T) {
	pod := st.MakePod().Name("p").HostPort(v1.ProtocolTCP, "", 8080).Obj()
	tests := []struct {
		name    string
		deleted interface{}
		want    framework.QueueingHint
	}{
		{name: "unscheduled pod deleted", deleted: st.MakePod().Name("d").HostPort(v1.ProtocolTCP, "", 8080).Obj(), want: framework.QueueSkip},
		{name: "assigned pod without ports deleted", deleted: st.MakePod().Name("d").Node("n").Obj(), want: framework.QueueSkip},
		{name: "assigned pod with other port deleted", deleted: st.MakePod().Name("d").Node("n").HostPort(v1.ProtocolTCP, "", 9090).Obj(), want: framework.QueueSkip},
		{name: "assigned pod with same port deleted", deleted: st.MakePod().Name("d").Node("n").HostPort(v1.ProtocolTCP, "", 8080).Obj(), want: framework.Queue},
	}
	events, err := (&NodePorts{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantEvents := []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Delete},
		{Resource: framework.Node, ActionType: framework.Add},
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
			got, err := events[0].QueueingHintFn(logger, pod, tt.deleted, nil)
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
