package plugins

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/berthsched/berth/pkg/framework"
)

func TestToStatus(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		in   *framework.Status
		want *fwk.Status
	}{
		{"nil is success", nil, nil},
		{"unschedulable keeps its reasons", framework.NewStatus(framework.Unschedulable, "no card has 450 milli GPU free"),
			fwk.NewStatus(fwk.Unschedulable, "no card has 450 milli GPU free")},
		{"unresolvable", framework.NewStatus(framework.UnschedulableAndUnresolvable, "node has no GPUs"),
			fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node has no GPUs")},
		{"skip", framework.NewStatus(framework.Skip), fwk.NewStatus(fwk.Skip)},
		{"wait", framework.NewStatus(framework.Wait), fwk.NewStatus(fwk.Wait)},
		{"pending", framework.NewStatus(framework.Pending, "gated"), fwk.NewStatus(fwk.Pending, "gated")},
		{"error keeps its error", framework.AsStatus(boom), fwk.AsStatus(boom)},
		{"an unknown code is an error", framework.NewStatus(framework.Code(42), "what"),
			fwk.NewStatus(fwk.Error, "berth status with unknown code 42: what")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toStatus(tc.in)
			if !got.Equal(tc.want) {
				t.Errorf("toStatus(%v) = %v, want %v", tc.in, got, tc.want)
			}
			if tc.in.Code() == framework.Error && !errors.Is(got.AsError(), boom) {
				t.Errorf("the error was lost: %v", got.AsError())
			}
		})
	}
}

// sourcer is a plugin with a custom resource of its own.
type sourcer struct{}

func (sourcer) Name() string { return "Sourcer" }
func (sourcer) EventSources() []framework.EventSource {
	return []framework.EventSource{{Resource: "appgroups.appgroup.diktyo.x-k8s.io",
		GVR: schema.GroupVersionResource{Group: "appgroup.diktyo.x-k8s.io", Version: "v1alpha1", Resource: "appgroups"}}}
}

func TestToEvents(t *testing.T) {
	skipAll := func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) { return framework.QueueSkip, nil }
	in := []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete | framework.UpdatePodTolerations}, QueueingHintFn: skipAll},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable | framework.UpdateNodeLabel}},
		{Event: framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.UpdateOther}},
		{Event: framework.ClusterEvent{Resource: framework.PodDisruptionBudget, ActionType: framework.All}},
		{Event: framework.ClusterEvent{Resource: "appgroups.appgroup.diktyo.x-k8s.io", ActionType: framework.Add}},
		{Event: framework.ClusterEvent{Resource: "unknown.example.com", ActionType: framework.Add}},
	}
	got := toEvents(sourcer{}, in)
	var events []fwk.ClusterEvent
	for _, e := range got {
		events = append(events, e.Event)
	}
	want := []fwk.ClusterEvent{
		{Resource: fwk.AssignedPod, ActionType: fwk.Delete | fwk.UpdatePodToleration},
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeAllocatable | fwk.UpdateNodeLabel},
		{Resource: fwk.StorageClass, ActionType: fwk.Update},
		{Resource: "appgroups.v1alpha1.appgroup.diktyo.x-k8s.io", ActionType: fwk.Add},
	}
	if d := cmp.Diff(want, events); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if got[0].QueueingHintFn == nil || got[1].QueueingHintFn != nil {
		t.Fatalf("hints: want one on the first event only")
	}
	if h, err := got[0].QueueingHintFn(klog.Background(), &v1.Pod{}, nil, nil); err != nil || h != fwk.QueueSkip {
		t.Errorf("translated hint = %v, %v; want QueueSkip", h, err)
	}
	if toActions(framework.All) != fwk.Add|fwk.Delete|fwk.Update {
		t.Errorf("All = %v, want every kube-scheduler action", toActions(framework.All))
	}
}

// TestWildCardEventsAreUnrolled: kube-scheduler registers event handlers
// only for the resources plugins name, and refuses "*" with an error
// log; a berth wildcard event, and a plugin with no events at all, must
// become every resource it watches, with the hint kept.
func TestWildCardEventsAreUnrolled(t *testing.T) {
	skipAll := func(klog.Logger, *v1.Pod, any, any) (framework.QueueingHint, error) { return framework.QueueSkip, nil }
	got := toEvents(sourcer{}, []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.Add}, QueueingHintFn: skipAll}})
	if len(got) < 5 {
		t.Fatalf("a wildcard event became %d events, want one per watched resource", len(got))
	}
	seen := map[fwk.EventResource]bool{}
	for _, e := range got {
		if e.Event.Resource == fwk.WildCard {
			t.Errorf("the wildcard reached kube-scheduler: %+v", e.Event)
		}
		if e.Event.ActionType != fwk.Add || e.QueueingHintFn == nil {
			t.Errorf("%s: action %v, hint kept %v; want Add with the hint", e.Event.Resource, e.Event.ActionType, e.QueueingHintFn != nil)
		}
		seen[e.Event.Resource] = true
	}
	for _, r := range []fwk.EventResource{fwk.Node, fwk.AssignedPod, fwk.PersistentVolumeClaim} {
		if !seen[r] {
			t.Errorf("no %s event in the unrolled wildcard", r)
		}
	}

	evs, err := (&Plugin{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Event.Resource == fwk.WildCard {
			t.Errorf("a plugin without events registers the wildcard: %+v", e.Event)
		}
	}
	if len(evs) < 5 {
		t.Errorf("a plugin without events registers %d events, want every watched resource", len(evs))
	}
}
