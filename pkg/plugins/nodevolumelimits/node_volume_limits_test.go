package nodevolumelimits

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	csiplugins "k8s.io/csi-translation-lib/plugins"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const (
	driverA   = "a.csi.test"
	driverB   = "b.csi.test"
	strict    = "strict.csi.test"
	lenient   = "lenient.csi.test"
	gceDriver = csiplugins.GCEPDDriverName
)

var exceeded = framework.NewStatus(framework.Unschedulable, ErrReasonMaxVolumeCountExceeded)

// cluster is the storage every case shares. Claim cX is bound to volume
// pvX; the unbound claims differ by class.
func cluster() []runtime.Object {
	var objs []runtime.Object
	bound := func(pv *v1.PersistentVolume) {
		objs = append(objs, pv, st.MakePVC("c"+pv.Name[2:], "default").Class("").VolumeName(pv.Name).Obj())
	}
	bound(st.MakePV("pv-a1").CSI(driverA, "h1").Obj())
	bound(st.MakePV("pv-a2").CSI(driverA, "h2").Obj())
	bound(st.MakePV("pv-a3").CSI(driverA, "h3").Obj())
	bound(st.MakePV("pv-a4").CSI(driverA, "h4").Obj())
	bound(st.MakePV("pv-b1").CSI(driverB, "h1").Obj())
	bound(st.MakePV("pv-hostpath").HostPath("/data").Obj())
	bound(st.MakePV("pv-gce").Source(v1.PersistentVolumeSource{
		GCEPersistentDisk: &v1.GCEPersistentDiskVolumeSource{PDName: "disk-1"}}).Obj())
	objs = append(objs,
		st.MakePV("pv-not-csi-attached").HostPath("/x").Obj(),
		st.MakeStorageClass("sc-a").Provisioner(driverA).WaitForFirstConsumer().Obj(),
		st.MakeStorageClass("sc-gce").Provisioner(csiplugins.GCEPDInTreePluginName).WaitForFirstConsumer().Obj(),
		st.MakeStorageClass("sc-strict").Provisioner(strict).WaitForFirstConsumer().Obj(),
		st.MakeStorageClass("sc-lenient").Provisioner(lenient).WaitForFirstConsumer().Obj(),
		st.MakePVC("c-unbound-a", "default").Class("sc-a").Obj(),
		st.MakePVC("c-unbound-a2", "default").Class("sc-a").Obj(),
		st.MakePVC("c-unbound-no-class", "default").NoClass().Obj(),
		st.MakePVC("c-unbound-ghost-class", "default").Class("ghost").Obj(),
		st.MakePVC("c-lost-pv", "default").Class("sc-a").VolumeName("pv-gone").Obj(),
		st.MakePVC("c-unbound-gce", "default").Class("sc-gce").Obj(),
		st.MakePVC("c-unbound-strict", "default").Class("sc-strict").Obj(),
		st.MakePVC("c-unbound-lenient", "default").Class("sc-lenient").Obj(),
		st.MakePVC("p-data", "default").Class("sc-a").OwnedBy(st.MakePod().Name("p").Obj()).Obj(),
		st.MakePVC("p-foreign", "default").Class("sc-a").OwnedBy(st.MakePod().Name("someone-else").Obj()).Obj(),
		st.MakePVC("e-data", "default").Class("sc-a").OwnedBy(st.MakePod().Name("e").Obj()).Obj(),
		st.MakePVC("e-foreign", "default").Class("sc-a").Obj(),
		st.MakeCSIDriver(strict).PreventPodSchedulingIfMissing(true).Obj(),
		st.MakeCSIDriver(lenient).PreventPodSchedulingIfMissing(false).Obj(),
	)
	return objs
}

func newPlugin(t *testing.T, objs ...runtime.Object) *NodeVolumeLimits {
	t.Helper()
	ctx := context.Background()
	h := st.NewHandle(nil, objs...)
	p, err := New(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	return p.(*NodeVolumeLimits)
}

func pod(claims ...string) *st.PodWrapper {
	p := st.MakePod().Name("p")
	for _, c := range claims {
		p.PVC(c)
	}
	return p
}

func existing(name string, claims ...string) *st.PodWrapper {
	p := st.MakePod().Name(name).Node("n1")
	for _, c := range claims {
		p.PVC(c)
	}
	return p
}

func TestPreFilter(t *testing.T) {
	skip := framework.NewStatus(framework.Skip)
	tests := []struct {
		name string
		pod  *v1.Pod
		want *framework.Status
	}{
		{name: "no volumes", pod: pod().Obj(), want: skip},
		{name: "volumes that never count", pod: pod().Volume(v1.Volume{Name: "e", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}).
			Volume(v1.Volume{Name: "i", VolumeSource: v1.VolumeSource{ISCSI: &v1.ISCSIVolumeSource{IQN: "x"}}}).Obj(), want: skip},
		{name: "claim", pod: pod("c-a1").Obj()},
		{name: "generic ephemeral volume", pod: pod().EphemeralVolume("data", "sc-a").Obj()},
		{name: "migratable in-line volume", pod: pod().GCEPersistentDisk("d", false).Obj()},
	}
	pl := newPlugin(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := pl.PreFilter(context.Background(), framework.NewCycleState(), tt.pod, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PreFilter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	limitA := func(n int32) *storagev1.CSINode { return st.MakeCSINode("n1").DriverLimit(driverA, n).Obj() }
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		csiNode  *storagev1.CSINode
		objs     []runtime.Object
		want     *framework.Status
	}{
		{
			name:     "below the limit",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2").Obj()},
			csiNode:  limitA(2),
		},
		{
			name:     "at the limit",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2", "c-a3").Obj()},
			csiNode:  limitA(2),
			want:     exceeded,
		},
		{
			name:    "the pod alone needs more than the limit",
			pod:     pod("c-a1", "c-a2", "c-a3").Obj(),
			csiNode: limitA(2),
			want:    exceeded,
		},
		{
			name:     "a volume already used on the node is counted once",
			pod:      pod("c-a1", "c-a2").Obj(),
			existing: []*v1.Pod{existing("e1", "c-a1").Obj(), existing("e2", "c-a1").Obj()},
			csiNode:  limitA(2),
		},
		{
			name:    "the same claim twice in the pod is one volume",
			pod:     pod("c-a1").Volume(v1.Volume{Name: "again", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "c-a1"}}}).Obj(),
			csiNode: limitA(1),
		},
		{
			name:     "other drivers' volumes do not count",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-b1").Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(driverA, 1).DriverLimit(driverB, 1).Obj(),
		},
		{
			name:     "each driver against its own limit",
			pod:      pod("c-a1", "c-b1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2").Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(driverA, 5).DriverLimit(driverB, 0).Obj(),
			want:     exceeded,
		},
		{
			name:     "driver without a limit",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2", "c-a3").Obj()},
			csiNode:  st.MakeCSINode("n1").Driver(driverA).DriverLimit(driverB, 0).Obj(),
		},
		{
			name:     "node without a CSINode",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2", "c-a3").Obj()},
		},
		{
			name:     "a non-CSI volume does not count",
			pod:      pod("c-hostpath").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2").Obj()},
			csiNode:  limitA(1),
		},
		{
			name:    "missing claim of the pod",
			pod:     pod("c-a1", "missing").Obj(),
			csiNode: limitA(5),
			want:    framework.NewStatus(framework.UnschedulableAndUnresolvable, `looking up PVC default/missing: persistentvolumeclaim "missing" not found`),
		},
		{
			name:    "missing claim is reported even without a CSINode",
			pod:     pod("missing").Obj(),
			want:    framework.NewStatus(framework.UnschedulableAndUnresolvable, `looking up PVC default/missing: persistentvolumeclaim "missing" not found`),
			csiNode: nil,
		},
		{
			name:    "volume without claim name",
			pod:     pod("").Obj(),
			csiNode: limitA(5),
			want:    framework.NewStatus(framework.Error, "PersistentVolumeClaim had no name"),
		},
		{
			name:     "missing claim of a pod on the node is not counted",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "missing", "c-a2").Obj()},
			csiNode:  limitA(2),
		},
		{
			name:     "unbound claim counts against its class's provisioner",
			pod:      pod("c-unbound-a").Obj(),
			existing: []*v1.Pod{existing("e", "c-a1").Obj()},
			csiNode:  limitA(1),
			want:     exceeded,
		},
		{
			name:     "the same unbound claim on the node is counted once",
			pod:      pod("c-unbound-a").Obj(),
			existing: []*v1.Pod{existing("e", "c-unbound-a").Obj()},
			csiNode:  limitA(1),
		},
		{
			name:     "two unbound claims are two volumes",
			pod:      pod("c-unbound-a").Obj(),
			existing: []*v1.Pod{existing("e", "c-unbound-a2").Obj()},
			csiNode:  limitA(1),
			want:     exceeded,
		},
		{
			name:     "unbound claim without class does not count",
			pod:      pod("c-unbound-no-class").Obj(),
			existing: []*v1.Pod{existing("e", "c-a1").Obj()},
			csiNode:  limitA(1),
		},
		{
			name:     "unbound claim of a missing class does not count",
			pod:      pod("c-unbound-ghost-class").Obj(),
			existing: []*v1.Pod{existing("e", "c-a1").Obj()},
			csiNode:  limitA(1),
		},
		{
			name:     "claim whose volume is gone counts by class",
			pod:      pod("c-lost-pv").Obj(),
			existing: []*v1.Pod{existing("e", "c-a1").Obj()},
			csiNode:  limitA(1),
			want:     exceeded,
		},
		{
			name:     "generic ephemeral volume owned by the pod",
			pod:      pod().EphemeralVolume("data", "sc-a").Obj(),
			existing: []*v1.Pod{existing("e", "c-a1").Obj()},
			csiNode:  limitA(1),
			want:     exceeded,
		},
		{
			name:    "generic ephemeral volume whose claim is another pod's",
			pod:     pod().EphemeralVolume("foreign", "sc-a").Obj(),
			csiNode: limitA(5),
			want:    framework.NewStatus(framework.Error, "PVC default/p-foreign was not created for pod default/p (pod is not owner)"),
		},
		{
			name:    "generic ephemeral volume whose claim is not created yet",
			pod:     pod().EphemeralVolume("scratch", "sc-a").Obj(),
			csiNode: limitA(5),
			want:    framework.NewStatus(framework.UnschedulableAndUnresolvable, `looking up PVC default/p-scratch: persistentvolumeclaim "p-scratch" not found`),
		},
		{
			name:     "ephemeral volume of a pod on the node counts",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e").EphemeralVolume("data", "sc-a").Obj()},
			csiNode:  limitA(1),
			want:     exceeded,
		},
		{
			name:     "pod on the node with a foreign ephemeral claim is an error",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e").EphemeralVolume("foreign", "sc-a").Obj()},
			csiNode:  limitA(5),
			want:     framework.NewStatus(framework.Error, "PVC default/e-foreign was not created for pod default/e (pod is not owner)"),
		},
		{
			name:     "VolumeAttachments of the node count",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2").Obj()},
			csiNode:  limitA(2),
			objs:     []runtime.Object{st.MakeVolumeAttachment("va3").Attacher(driverA).Node("n1").PV("pv-a3").Obj()},
			want:     exceeded,
		},
		{
			name:     "a VolumeAttachment of a pod's volume on the node is counted once",
			pod:      pod("c-a1").Obj(),
			existing: []*v1.Pod{existing("e", "c-a2").Obj()},
			csiNode:  limitA(2),
			objs:     []runtime.Object{st.MakeVolumeAttachment("va2").Attacher(driverA).Node("n1").PV("pv-a2").Obj()},
		},
		{
			name:    "a VolumeAttachment of the pod's own volume counts besides it, as upstream",
			pod:     pod("c-a1").Obj(),
			csiNode: limitA(1),
			objs:    []runtime.Object{st.MakeVolumeAttachment("va1").Attacher(driverA).Node("n1").PV("pv-a1").Obj()},
			want:    exceeded,
		},
		{
			name:    "ignored VolumeAttachments: other node, no attacher, no PV, missing PV, non-CSI PV",
			pod:     pod("c-a1").Obj(),
			csiNode: limitA(1),
			objs: []runtime.Object{
				st.MakeVolumeAttachment("other-node").Attacher(driverA).Node("n2").PV("pv-a2").Obj(),
				st.MakeVolumeAttachment("no-attacher").Node("n1").PV("pv-a2").Obj(),
				st.MakeVolumeAttachment("no-pv").Attacher(driverA).Node("n1").Obj(),
				st.MakeVolumeAttachment("missing-pv").Attacher(driverA).Node("n1").PV("pv-gone").Obj(),
				st.MakeVolumeAttachment("not-csi").Attacher(driverA).Node("n1").PV("pv-not-csi-attached").Obj(),
			},
		},
		{
			name:    "VolumeAttachments are counted under their attacher",
			pod:     pod("c-a1").Obj(),
			csiNode: limitA(1),
			objs:    []runtime.Object{st.MakeVolumeAttachment("va").Attacher(driverB).Node("n1").PV("pv-a2").Obj()},
		},
		{
			name:     "in-line in-tree GCE PD counts against the PD CSI driver",
			pod:      pod().GCEPersistentDisk("d1", false).Obj(),
			existing: []*v1.Pod{existing("e").GCEPersistentDisk("d2", false).Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(gceDriver, 1).Obj(),
			want:     exceeded,
		},
		{
			name:     "the same in-line GCE PD is one volume",
			pod:      pod().GCEPersistentDisk("d1", true).Obj(),
			existing: []*v1.Pod{existing("e").GCEPersistentDisk("d1", true).Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(gceDriver, 1).Obj(),
		},
		{
			name:     "in-tree PersistentVolume counts against the PD CSI driver",
			pod:      pod("c-gce").Obj(),
			existing: []*v1.Pod{existing("e").GCEPersistentDisk("d2", false).Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(gceDriver, 1).Obj(),
			want:     exceeded,
		},
		{
			name:     "unbound claim of an in-tree provisioner counts against its CSI driver",
			pod:      pod("c-unbound-gce").Obj(),
			existing: []*v1.Pod{existing("e").GCEPersistentDisk("d2", false).Obj()},
			csiNode:  st.MakeCSINode("n1").DriverLimit(gceDriver, 1).Obj(),
			want:     exceeded,
		},
		{
			name:     "in-tree volumes do not count without a CSINode",
			pod:      pod("c-gce").GCEPersistentDisk("d1", false).Obj(),
			existing: []*v1.Pod{existing("e").GCEPersistentDisk("d2", false).Obj()},
		},
		{
			name:    "driver that prevents scheduling while missing, CSINode without it",
			pod:     pod("c-unbound-strict").Obj(),
			csiNode: limitA(5),
			want:    framework.NewStatus(framework.Unschedulable, "strict.csi.test CSI driver is not installed on the node"),
		},
		{
			name: "driver that prevents scheduling while missing, no CSINode",
			pod:  pod("c-unbound-strict").Obj(),
			want: framework.NewStatus(framework.Unschedulable, "strict.csi.test CSI driver is not installed on the node"),
		},
		{
			name:    "driver that prevents scheduling while missing, installed",
			pod:     pod("c-unbound-strict").Obj(),
			csiNode: st.MakeCSINode("n1").Driver(strict).Obj(),
		},
		{
			name: "driver that does not prevent scheduling",
			pod:  pod("c-unbound-lenient").Obj(),
		},
		{
			name: "driver without a CSIDriver object",
			pod:  pod("c-a1").Obj(),
		},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append(cluster(), tt.objs...)
			if tt.csiNode != nil {
				objs = append(objs, tt.csiNode)
			}
			pl := newPlugin(t, objs...)
			snap := st.NewSnapshot(tt.existing, []*v1.Node{st.MakeNode().Name("n1").Obj()})
			state := framework.NewCycleState()
			if _, status := pl.PreFilter(ctx, state, tt.pod, snap.List()); !status.IsSuccess() {
				t.Fatalf("PreFilter = %v, want success", status)
			}
			ni, _ := snap.Get("n1")
			if diff := cmp.Diff(tt.want, pl.Filter(ctx, state, tt.pod, ni)); diff != "" {
				t.Errorf("Filter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterPodWithoutVolumes(t *testing.T) {
	pl := newPlugin(t)
	ni := framework.NewNodeInfo()
	if got := pl.Filter(context.Background(), framework.NewCycleState(), pod().Obj(), ni); got != nil {
		t.Errorf("Filter = %v, want success", got)
	}
}

func TestNewSharesTheAttachmentIndex(t *testing.T) {
	ctx := context.Background()
	h := st.NewHandle(nil)
	for i := 0; i < 2; i++ {
		if _, err := New(ctx, nil, h); err != nil {
			t.Fatalf("New #%d: %v", i+1, err)
		}
	}
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	// After the informer started, another profile's instance still works.
	if _, err := New(ctx, nil, h); err != nil {
		t.Fatalf("New after start: %v", err)
	}
	if _, err := New(ctx, &v1.Pod{}, h); err == nil {
		t.Error("New accepted args")
	}
}
