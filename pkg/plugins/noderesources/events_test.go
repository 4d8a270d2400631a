package noderesources

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestFitEventsToRegister(t *testing.T) {
	events, err := newFit(t, nil).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []framework.ClusterEvent
	for _, e := range events {
		if e.QueueingHintFn == nil {
			t.Errorf("event %v has no hint", e.Event)
		}
		got = append(got, e.Event)
	}
	want := []framework.ClusterEvent{
		{Resource: framework.AssignedPod, ActionType: framework.Delete},
		{Resource: framework.AssignedPod, ActionType: framework.UpdatePodScaleDown},
		{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable},
		{Resource: framework.DeviceClass, ActionType: framework.Add | framework.Update},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestFitQueueingHints(t *testing.T) {
	f := newFit(t, &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"other.io/bar"}})
	pending := st.MakePod().Name("pending").Req("cpu", "2", "example.com/foo", "1").Obj()
	node := func(kv ...string) *v1.Node { return st.MakeNode().Name("n").Capacity(kv...).Obj() }
	skip, queue := framework.QueueSkip, framework.Queue
	tests := []struct {
		name           string
		hint           framework.QueueingHintFn
		pod            *v1.Pod
		oldObj, newObj interface{}
		want           framework.QueueingHint
		wantErr        bool
	}{
		{
			name: "bound pod deleted", hint: f.hintAfterPodDelete, pod: pending,
			oldObj: st.MakePod().Name("d").Node("n").Obj(), want: queue,
		},
		{
			name: "nominated pod deleted", hint: f.hintAfterPodDelete, pod: pending,
			oldObj: st.MakePod().Name("d").NominatedNode("n").Obj(), want: queue,
		},
		{
			name: "tombstone of a bound pod", hint: f.hintAfterPodDelete, pod: pending,
			oldObj: cache.DeletedFinalStateUnknown{Obj: st.MakePod().Name("d").Node("n").Obj()}, want: queue,
		},
		{
			name: "unscheduled pod deleted", hint: f.hintAfterPodDelete, pod: pending,
			oldObj: st.MakePod().Name("d").Obj(), want: skip,
		},
		{
			name: "wrong object type", hint: f.hintAfterPodDelete, pod: pending,
			oldObj: node(), want: queue, wantErr: true,
		},
		{
			name: "bound pod shrinks cpu", hint: f.hintAfterPodScaleDown, pod: pending,
			oldObj: st.MakePod().Name("r").Node("n").Req("cpu", "2").Obj(),
			newObj: st.MakePod().Name("r").Node("n").Req("cpu", "1").Obj(), want: queue,
		},
		{
			name: "bound pod shrinks a resource the pod does not need", hint: f.hintAfterPodScaleDown, pod: pending,
			oldObj: st.MakePod().Name("r").Node("n").Req("cpu", "1", "memory", "2Gi").Obj(),
			newObj: st.MakePod().Name("r").Node("n").Req("cpu", "1", "memory", "1Gi").Obj(), want: skip,
		},
		{
			name: "bound pod shrinks an extended resource the pod needs", hint: f.hintAfterPodScaleDown, pod: pending,
			oldObj: st.MakePod().Name("r").Node("n").Req("example.com/foo", "2").Obj(),
			newObj: st.MakePod().Name("r").Node("n").Req("example.com/foo", "1").Obj(), want: queue,
		},
		{
			name: "unbound pod shrinks", hint: f.hintAfterPodScaleDown, pod: pending,
			oldObj: st.MakePod().Name("r").Req("cpu", "2").Obj(),
			newObj: st.MakePod().Name("r").Req("cpu", "1").Obj(), want: skip,
		},
		{
			name: "node added that fits", hint: f.hintAfterNodeChange, pod: pending,
			newObj: node("cpu", "4", "example.com/foo", "1", "pods", "10"), want: queue,
		},
		{
			name: "node added that is too small", hint: f.hintAfterNodeChange, pod: pending,
			newObj: node("cpu", "1", "example.com/foo", "1", "pods", "10"), want: skip,
		},
		{
			name: "node added without pod slots", hint: f.hintAfterNodeChange, pod: pending,
			newObj: node("cpu", "4", "example.com/foo", "1"), want: skip,
		},
		{
			name: "node added lacking only an ignored resource", hint: f.hintAfterNodeChange,
			pod:    st.MakePod().Name("p").Req("cpu", "1", "other.io/bar", "1").Obj(),
			newObj: node("cpu", "4", "pods", "10"), want: queue,
		},
		{
			name: "node grows cpu the pod needs", hint: f.hintAfterNodeChange, pod: pending,
			oldObj: node("cpu", "1", "example.com/foo", "1", "pods", "10"),
			newObj: node("cpu", "4", "example.com/foo", "1", "pods", "10"), want: queue,
		},
		{
			name: "node grows memory the pod does not need", hint: f.hintAfterNodeChange, pod: pending,
			oldObj: node("cpu", "4", "memory", "1Gi", "example.com/foo", "1", "pods", "10"),
			newObj: node("cpu", "4", "memory", "2Gi", "example.com/foo", "1", "pods", "10"), want: skip,
		},
		{
			name: "node gains pod slots", hint: f.hintAfterNodeChange, pod: pending,
			oldObj: node("cpu", "4", "example.com/foo", "1", "pods", "0"),
			newObj: node("cpu", "4", "example.com/foo", "1", "pods", "10"), want: queue,
		},
		{
			name: "node shrinks but still fits", hint: f.hintAfterNodeChange, pod: pending,
			oldObj: node("cpu", "8", "example.com/foo", "1", "pods", "10"),
			newObj: node("cpu", "4", "example.com/foo", "1", "pods", "10"), want: skip,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.hint(klog.Background(), tc.pod, tc.oldObj, tc.newObj)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("hint = %v, want %v", got, tc.want)
			}
		})
	}
}
