package volumerestrictions

import (
	"context"
	"testing"

	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestEventsToRegister(t *testing.T) {
	events, err := (&VolumeRestrictions{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[framework.EventResource]framework.ActionType{}
	for _, e := range events {
		got[e.Event.Resource] |= e.Event.ActionType
	}
	want := map[framework.EventResource]framework.ActionType{
		framework.AssignedPod:           framework.Delete,
		framework.Node:                  framework.Add,
		framework.PersistentVolumeClaim: framework.Add,
	}
	if len(got) != len(want) {
		t.Errorf("registered %v, want %v", got, want)
	}
	for r, a := range want {
		if got[r] != a {
			t.Errorf("%s actions = %v, want %v", r, got[r], a)
		}
	}
}

func TestQueueingHints(t *testing.T) {
	pl := &VolumeRestrictions{}
	pod := st.MakePod().Name("p").GCEPersistentDisk("d", false).PVC("data").Obj()
	tests := []struct {
		name     string
		hint     framework.QueueingHintFn
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "deleted pod held the disk", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Node("n").GCEPersistentDisk("d", false).Obj(), want: framework.Queue},
		{name: "deleted pod in another namespace held the disk", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Namespace("x").Node("n").GCEPersistentDisk("d", true).Obj(), want: framework.Queue},
		{name: "deleted pod's disk did not conflict", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Node("n").GCEPersistentDisk("other", false).Obj(), want: framework.QueueSkip},
		{name: "deleted pod used the claim", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Node("n").PVC("data").Obj(), want: framework.Queue},
		{name: "deleted pod used a same-named claim elsewhere", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Namespace("x").Node("n").PVC("data").Obj(), want: framework.QueueSkip},
		{name: "tombstone", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: cache.DeletedFinalStateUnknown{Obj: st.MakePod().Name("e").Node("n").PVC("data").Obj()}, want: framework.Queue},
		{name: "unrelated pod", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").Node("n").Obj(), want: framework.QueueSkip},

		{name: "pod's claim created", hint: pl.isSchedulableAfterClaimAdded,
			new: st.MakePVC("data", "default").Obj(), want: framework.Queue},
		{name: "other claim created", hint: pl.isSchedulableAfterClaimAdded,
			new: st.MakePVC("logs", "default").Obj(), want: framework.QueueSkip},
		{name: "same name in another namespace", hint: pl.isSchedulableAfterClaimAdded,
			new: st.MakePVC("data", "x").Obj(), want: framework.QueueSkip},
		{name: "wrong type", hint: pl.isSchedulableAfterClaimAdded, new: st.MakePod().Obj(), want: framework.Queue},
	}
	logger, _ := ktesting.NewTestContext(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.hint(logger, pod, tt.old, tt.new)
			if got != tt.want {
				t.Errorf("hint = %v (err %v), want %v", got, err, tt.want)
			}
		})
	}
}
