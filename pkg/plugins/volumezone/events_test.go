package volumezone

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestEventsToRegister(t *testing.T) {
	events, err := (&VolumeZone{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[framework.EventResource]framework.ActionType{}
	for _, e := range events {
		got[e.Event.Resource] |= e.Event.ActionType
	}
	want := map[framework.EventResource]framework.ActionType{
		framework.StorageClass:          framework.Add,
		framework.Node:                  framework.Add | framework.UpdateNodeLabel,
		framework.PersistentVolumeClaim: framework.Add | framework.Update,
		framework.PersistentVolume:      framework.Add | framework.Update,
	}
	for r, a := range want {
		if got[r] != a {
			t.Errorf("%s actions = %v, want %v", r, got[r], a)
		}
	}
	if len(got) != len(want) {
		t.Errorf("registered %d resources, want %d", len(got), len(want))
	}
}

func TestQueueingHints(t *testing.T) {
	pl := &VolumeZone{}
	pod := st.MakePod().Name("p").PVC("data").Obj()
	zoned := func(name, zone string) *v1.PersistentVolume {
		return st.MakePV(name).Label(v1.LabelTopologyZone, zone).Obj()
	}
	nodeIn := func(zone string) *v1.Node {
		return st.MakeNode().Name("n").Label(v1.LabelTopologyZone, zone).Label("other", zone).Obj()
	}
	tests := []struct {
		name     string
		hint     framework.QueueingHintFn
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "WaitForFirstConsumer class added", hint: pl.isSchedulableAfterStorageClassAdded,
			new: st.MakeStorageClass("sc").WaitForFirstConsumer().Obj(), want: framework.Queue},
		{name: "Immediate class added", hint: pl.isSchedulableAfterStorageClassAdded,
			new: st.MakeStorageClass("sc").Immediate().Obj(), want: framework.QueueSkip},
		{name: "class without mode added", hint: pl.isSchedulableAfterStorageClassAdded,
			new: st.MakeStorageClass("sc").Obj(), want: framework.QueueSkip},
		{name: "wrong type", hint: pl.isSchedulableAfterStorageClassAdded,
			new: st.MakePod().Obj(), want: framework.Queue},

		{name: "node added", hint: pl.isSchedulableAfterNodeChange, new: nodeIn("a"), want: framework.Queue},
		{name: "node zone changed", hint: pl.isSchedulableAfterNodeChange, old: nodeIn("a"), new: nodeIn("b"), want: framework.Queue},
		{name: "node zone label added", hint: pl.isSchedulableAfterNodeChange,
			old: st.MakeNode().Name("n").Obj(), new: nodeIn("a"), want: framework.Queue},
		{name: "node other label changed", hint: pl.isSchedulableAfterNodeChange,
			old: nodeIn("a"), new: st.MakeNode().Name("n").Label(v1.LabelTopologyZone, "a").Label("other", "b").Obj(), want: framework.QueueSkip},

		{name: "pod's claim added", hint: pl.isSchedulableAfterClaimChange,
			new: st.MakePVC("data", "default").Obj(), want: framework.Queue},
		{name: "pod's claim bound", hint: pl.isSchedulableAfterClaimChange,
			old: st.MakePVC("data", "default").Obj(), new: st.MakePVC("data", "default").VolumeName("pv").Obj(), want: framework.Queue},
		{name: "other claim", hint: pl.isSchedulableAfterClaimChange,
			new: st.MakePVC("logs", "default").Obj(), want: framework.QueueSkip},
		{name: "same name, other namespace", hint: pl.isSchedulableAfterClaimChange,
			new: st.MakePVC("data", "other").Obj(), want: framework.QueueSkip},

		{name: "volume added", hint: pl.isSchedulableAfterVolumeChange, new: zoned("pv", "a"), want: framework.Queue},
		{name: "volume zone changed", hint: pl.isSchedulableAfterVolumeChange, old: zoned("pv", "a"), new: zoned("pv", "b"), want: framework.Queue},
		{name: "volume zone label removed", hint: pl.isSchedulableAfterVolumeChange,
			old: zoned("pv", "a"), new: st.MakePV("pv").Obj(), want: framework.Queue},
		{name: "volume changed, same topology", hint: pl.isSchedulableAfterVolumeChange,
			old: zoned("pv", "a__b"), new: st.MakePV("pv").Label(v1.LabelTopologyZone, "b__a").Label("x", "y").Obj(), want: framework.QueueSkip},
		{name: "volume deleted (tombstone)", hint: pl.isSchedulableAfterVolumeChange,
			old: cache.DeletedFinalStateUnknown{Obj: zoned("pv", "a")}, want: framework.QueueSkip},
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
