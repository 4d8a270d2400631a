package nodevolumelimits

import (
	"context"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	csitrans "k8s.io/csi-translation-lib"
	"k8s.io/klog/v2/ktesting"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func TestEventsToRegister(t *testing.T) {
	events, err := (&NodeVolumeLimits{}).EventsToRegister(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[framework.EventResource]framework.ActionType{}
	for _, e := range events {
		got[e.Event.Resource] |= e.Event.ActionType
	}
	want := map[framework.EventResource]framework.ActionType{
		framework.CSINode:               framework.Add | framework.Update,
		framework.AssignedPod:           framework.Delete,
		framework.PersistentVolumeClaim: framework.Add,
		framework.VolumeAttachment:      framework.Delete,
		framework.CSIDriver:             framework.Update | framework.Delete,
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
	pl := &NodeVolumeLimits{translator: csitrans.New()}
	csiNode := func(w *st.CSINodeWrapper) *storagev1.CSINode { return w.Obj() }
	tests := []struct {
		name     string
		hint     framework.QueueingHintFn
		pod      *st.PodWrapper
		old, new interface{}
		want     framework.QueueingHint
	}{
		{name: "limit raised", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 1)), new: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 2)), want: framework.Queue},
		{name: "limit lowered", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 2)), new: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 1)), want: framework.QueueSkip},
		{name: "limit unchanged", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 2)), new: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 2).Annotation("x", "y")), want: framework.QueueSkip},
		{name: "limit removed", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n").DriverLimit(driverA, 2)), new: csiNode(st.MakeCSINode("n").Driver(driverA)), want: framework.Queue},
		{name: "driver registered", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n")), new: csiNode(st.MakeCSINode("n").Driver(strict)), want: framework.Queue},
		{name: "driver unregistered", hint: pl.isSchedulableAfterCSINodeUpdated,
			old: csiNode(st.MakeCSINode("n").Driver(strict)), new: csiNode(st.MakeCSINode("n")), want: framework.QueueSkip},

		{name: "deleted pod had a claim", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: existing("e", "c-a1").Obj(), want: framework.Queue},
		{name: "deleted pod had an ephemeral volume", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: existing("e").EphemeralVolume("data", "").Obj(), want: framework.Queue},
		{name: "deleted pod had a migratable in-line volume", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: existing("e").AWSElasticBlockStore("vol-1").Obj(), want: framework.Queue},
		{name: "deleted pod had no counting volume", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: existing("e").Obj(), want: framework.QueueSkip},
		{name: "deleted pod was not on a node", hint: pl.isSchedulableAfterAssignedPodDeleted,
			old: st.MakePod().Name("e").PVC("c-a1").Obj(), want: framework.QueueSkip},

		{name: "pod's claim created", hint: pl.isSchedulableAfterClaimAdded, pod: pod("c-x"),
			new: st.MakePVC("c-x", "default").Obj(), want: framework.Queue},
		{name: "pod's ephemeral claim created", hint: pl.isSchedulableAfterClaimAdded, pod: pod().EphemeralVolume("data", ""),
			new: st.MakePVC("p-data", "default").Obj(), want: framework.Queue},
		{name: "other claim created", hint: pl.isSchedulableAfterClaimAdded, pod: pod("c-x"),
			new: st.MakePVC("c-y", "default").Obj(), want: framework.QueueSkip},
		{name: "claim in another namespace", hint: pl.isSchedulableAfterClaimAdded, pod: pod("c-x"),
			new: st.MakePVC("c-x", "other").Obj(), want: framework.QueueSkip},

		{name: "attachment deleted, pod has a claim", hint: pl.isSchedulableAfterVolumeAttachmentDeleted, pod: pod("c-x"),
			old: st.MakeVolumeAttachment("va").Attacher(driverA).Obj(), want: framework.Queue},
		{name: "attachment of the in-line volume's driver", hint: pl.isSchedulableAfterVolumeAttachmentDeleted, pod: pod().GCEPersistentDisk("d", false),
			old: st.MakeVolumeAttachment("va").Attacher(gceDriver).Obj(), want: framework.Queue},
		{name: "attachment of another driver", hint: pl.isSchedulableAfterVolumeAttachmentDeleted, pod: pod().GCEPersistentDisk("d", false),
			old: st.MakeVolumeAttachment("va").Attacher(driverA).Obj(), want: framework.QueueSkip},
		{name: "attachment deleted, pod without volumes", hint: pl.isSchedulableAfterVolumeAttachmentDeleted, pod: pod(),
			old: st.MakeVolumeAttachment("va").Attacher(driverA).Obj(), want: framework.QueueSkip},

		{name: "driver stops preventing scheduling", hint: pl.isSchedulableAfterCSIDriverChange,
			old: st.MakeCSIDriver(strict).PreventPodSchedulingIfMissing(true).Obj(), new: st.MakeCSIDriver(strict).Obj(), want: framework.Queue},
		{name: "preventing driver deleted", hint: pl.isSchedulableAfterCSIDriverChange,
			old: st.MakeCSIDriver(strict).PreventPodSchedulingIfMissing(true).Obj(), want: framework.Queue},
		{name: "driver starts preventing scheduling", hint: pl.isSchedulableAfterCSIDriverChange,
			old: st.MakeCSIDriver(strict).Obj(), new: st.MakeCSIDriver(strict).PreventPodSchedulingIfMissing(true).Obj(), want: framework.QueueSkip},
		{name: "lenient driver deleted", hint: pl.isSchedulableAfterCSIDriverChange,
			old: st.MakeCSIDriver(lenient).Obj(), want: framework.QueueSkip},
	}
	logger, _ := ktesting.NewTestContext(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("c-a1")
			if tt.pod != nil {
				p = tt.pod
			}
			got, err := tt.hint(logger, p.Obj(), tt.old, tt.new)
			if got != tt.want {
				t.Errorf("hint = %v (err %v), want %v", got, err, tt.want)
			}
		})
	}
}
