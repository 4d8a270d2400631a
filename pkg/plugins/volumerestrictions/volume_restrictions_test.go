package volumerestrictions

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

var (
	diskConflict = framework.NewStatus(framework.Unschedulable, ErrReasonDiskConflict)
	rwopConflict = framework.NewStatus(framework.Unschedulable, ErrReasonReadWriteOncePodConflict)
	skip         = framework.NewStatus(framework.Skip)
)

func iscsi(iqn string, readOnly bool) v1.Volume {
	return v1.Volume{Name: "iscsi-" + iqn, VolumeSource: v1.VolumeSource{
		ISCSI: &v1.ISCSIVolumeSource{TargetPortal: "127.0.0.1:3260", IQN: iqn, ReadOnly: readOnly}}}
}

func rbd(monitors []string, pool, image string, readOnly bool) v1.Volume {
	return v1.Volume{Name: "rbd-" + image, VolumeSource: v1.VolumeSource{
		RBD: &v1.RBDVolumeSource{CephMonitors: monitors, RBDPool: pool, RBDImage: image, ReadOnly: readOnly}}}
}

// claims is the cluster's claims: ReadWriteOncePod ones, a ReadWriteOnce
// one, and one in another namespace.
func claims() []runtime.Object {
	return []runtime.Object{
		st.MakePVC("rwop", "default").AccessModes(v1.ReadWriteOncePod).Obj(),
		st.MakePVC("rwop2", "default").AccessModes(v1.ReadWriteOnce, v1.ReadWriteOncePod).Obj(),
		st.MakePVC("rwo", "default").AccessModes(v1.ReadWriteOnce).Obj(),
		st.MakePVC("owner-data", "default").AccessModes(v1.ReadWriteOncePod).Obj(),
		st.MakePVC("rwop", "other").AccessModes(v1.ReadWriteOncePod).Obj(),
	}
}

type fixture struct {
	pl   *VolumeRestrictions
	snap *st.Snapshot
}

func newFixture(t *testing.T, pods []*v1.Pod, objs ...runtime.Object) fixture {
	t.Helper()
	ctx := context.Background()
	nodes := []*v1.Node{st.MakeNode().Name("n1").Obj(), st.MakeNode().Name("n2").Obj()}
	snap := st.NewSnapshot(pods, nodes)
	h := st.NewHandle(snap, objs...)
	p, err := New(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	return fixture{pl: p.(*VolumeRestrictions), snap: snap}
}

func TestDiskConflicts(t *testing.T) {
	mons := []string{"a", "b"}
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing *v1.Pod
		want     *framework.Status
	}{
		{name: "GCE PD, same disk, both read-write", pod: st.MakePod().GCEPersistentDisk("d", false).Obj(),
			existing: st.MakePod().GCEPersistentDisk("d", false).Obj(), want: diskConflict},
		{name: "GCE PD, same disk, one read-only", pod: st.MakePod().GCEPersistentDisk("d", true).Obj(),
			existing: st.MakePod().GCEPersistentDisk("d", false).Obj(), want: diskConflict},
		{name: "GCE PD, same disk, both read-only", pod: st.MakePod().GCEPersistentDisk("d", true).Obj(),
			existing: st.MakePod().GCEPersistentDisk("d", true).Obj()},
		{name: "GCE PD, other disk", pod: st.MakePod().GCEPersistentDisk("d", false).Obj(),
			existing: st.MakePod().GCEPersistentDisk("e", false).Obj()},
		{name: "AWS EBS, same volume", pod: st.MakePod().AWSElasticBlockStore("vol-1").Obj(),
			existing: st.MakePod().AWSElasticBlockStore("vol-1").Obj(), want: diskConflict},
		{name: "AWS EBS, same volume, both read-only still conflict",
			pod: st.MakePod().Volume(v1.Volume{Name: "x", VolumeSource: v1.VolumeSource{
				AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: "vol-1", ReadOnly: true}}}).Obj(),
			existing: st.MakePod().Volume(v1.Volume{Name: "x", VolumeSource: v1.VolumeSource{
				AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: "vol-1", ReadOnly: true}}}).Obj(),
			want: diskConflict},
		{name: "AWS EBS, other volume", pod: st.MakePod().AWSElasticBlockStore("vol-1").Obj(),
			existing: st.MakePod().AWSElasticBlockStore("vol-2").Obj()},
		{name: "iSCSI, same IQN", pod: st.MakePod().Volume(iscsi("iqn.a", false)).Obj(),
			existing: st.MakePod().Volume(iscsi("iqn.a", true)).Obj(), want: diskConflict},
		{name: "iSCSI, same IQN, both read-only", pod: st.MakePod().Volume(iscsi("iqn.a", true)).Obj(),
			existing: st.MakePod().Volume(iscsi("iqn.a", true)).Obj()},
		{name: "iSCSI, other IQN", pod: st.MakePod().Volume(iscsi("iqn.a", false)).Obj(),
			existing: st.MakePod().Volume(iscsi("iqn.b", false)).Obj()},
		{name: "RBD, shared monitor, same pool and image", pod: st.MakePod().Volume(rbd(mons, "p", "i", false)).Obj(),
			existing: st.MakePod().Volume(rbd([]string{"b", "c"}, "p", "i", false)).Obj(), want: diskConflict},
		{name: "RBD, both read-only", pod: st.MakePod().Volume(rbd(mons, "p", "i", true)).Obj(),
			existing: st.MakePod().Volume(rbd(mons, "p", "i", true)).Obj()},
		{name: "RBD, no monitor in common", pod: st.MakePod().Volume(rbd(mons, "p", "i", false)).Obj(),
			existing: st.MakePod().Volume(rbd([]string{"c"}, "p", "i", false)).Obj()},
		{name: "RBD, other pool", pod: st.MakePod().Volume(rbd(mons, "p", "i", false)).Obj(),
			existing: st.MakePod().Volume(rbd(mons, "q", "i", false)).Obj()},
		{name: "RBD, other image", pod: st.MakePod().Volume(rbd(mons, "p", "i", false)).Obj(),
			existing: st.MakePod().Volume(rbd(mons, "p", "j", false)).Obj()},
		{name: "different disk kinds never conflict", pod: st.MakePod().GCEPersistentDisk("d", false).Obj(),
			existing: st.MakePod().AWSElasticBlockStore("d").Obj()},
		{name: "second volume conflicts", pod: st.MakePod().AWSElasticBlockStore("vol-9").GCEPersistentDisk("d", false).Obj(),
			existing: st.MakePod().AWSElasticBlockStore("vol-1").GCEPersistentDisk("d", false).Obj(), want: diskConflict},
		{name: "disk holders in other namespaces count", pod: st.MakePod().GCEPersistentDisk("d", false).Obj(),
			existing: st.MakePod().Namespace("other").GCEPersistentDisk("d", false).Obj(), want: diskConflict},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Name, tt.pod.UID = "p", "uid-p"
			existing := tt.existing.DeepCopy()
			existing.Name, existing.UID, existing.Spec.NodeName = "e", "uid-e", "n1"
			f := newFixture(t, []*v1.Pod{existing}, claims()...)
			state := framework.NewCycleState()
			if _, status := f.pl.PreFilter(ctx, state, tt.pod, f.snap.List()); !status.IsSuccess() {
				t.Fatalf("PreFilter = %v, want success", status)
			}
			n1, _ := f.snap.Get("n1")
			if diff := cmp.Diff(tt.want, f.pl.Filter(ctx, state, tt.pod, n1)); diff != "" {
				t.Errorf("Filter on the holder's node (-want +got):\n%s", diff)
			}
			n2, _ := f.snap.Get("n2")
			if got := f.pl.Filter(ctx, state, tt.pod, n2); got != nil {
				t.Errorf("Filter on an empty node = %v, want success", got)
			}
		})
	}
}

func TestReadWriteOncePod(t *testing.T) {
	on := func(node, name string) *st.PodWrapper { return st.MakePod().Name(name).Node(node) }
	tests := []struct {
		name          string
		pod           *v1.Pod
		existing      []*v1.Pod
		wantPreFilter *framework.Status
		want          *framework.Status
		wantInUse     int
	}{
		{
			name:          "no volumes",
			pod:           st.MakePod().Name("p").Obj(),
			wantPreFilter: skip,
		},
		{
			name:          "missing claim",
			pod:           st.MakePod().Name("p").PVC("rwo").PVC("missing").Obj(),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "missing" not found`),
		},
		{
			name:          "missing claim rejects even with a disk to check",
			pod:           st.MakePod().Name("p").GCEPersistentDisk("d", false).PVC("missing").Obj(),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "missing" not found`),
		},
		{
			name:          "ReadWriteOncePod claim nobody uses",
			pod:           st.MakePod().Name("p").PVC("rwop").Obj(),
			existing:      []*v1.Pod{on("n1", "e").PVC("rwo").Obj()},
			wantPreFilter: skip,
		},
		{
			name:          "ReadWriteOnce claim in use is not restricted",
			pod:           st.MakePod().Name("p").PVC("rwo").Obj(),
			existing:      []*v1.Pod{on("n1", "e").PVC("rwo").Obj()},
			wantPreFilter: skip,
		},
		{
			name:      "ReadWriteOncePod claim in use rejects every node",
			pod:       st.MakePod().Name("p").PVC("rwop").Obj(),
			existing:  []*v1.Pod{on("n1", "e").PVC("rwop").Obj()},
			want:      rwopConflict,
			wantInUse: 1,
		},
		{
			name:      "claim with several access modes including ReadWriteOncePod",
			pod:       st.MakePod().Name("p").PVC("rwop2").Obj(),
			existing:  []*v1.Pod{on("n2", "e").PVC("rwop2").Obj()},
			want:      rwopConflict,
			wantInUse: 1,
		},
		{
			name:      "a claim used by two pods counts once",
			pod:       st.MakePod().Name("p").PVC("rwop").Obj(),
			existing:  []*v1.Pod{on("n1", "e1").PVC("rwop").Obj(), on("n2", "e2").PVC("rwop").Obj()},
			want:      rwopConflict,
			wantInUse: 1,
		},
		{
			name:      "two claims in use",
			pod:       st.MakePod().Name("p").PVC("rwop").PVC("rwop2").Obj(),
			existing:  []*v1.Pod{on("n1", "e1").PVC("rwop").Obj(), on("n2", "e2").PVC("rwop2").Obj()},
			want:      rwopConflict,
			wantInUse: 2,
		},
		{
			name:          "same claim name in another namespace",
			pod:           st.MakePod().Name("p").PVC("rwop").Obj(),
			existing:      []*v1.Pod{on("n1", "e").Namespace("other").PVC("rwop").Obj()},
			wantPreFilter: skip,
		},
		{
			name:      "claim of a generic ephemeral volume counts as used",
			pod:       st.MakePod().Name("p").PVC("owner-data").Obj(),
			existing:  []*v1.Pod{on("n1", "owner").EphemeralVolume("data", "").Obj()},
			want:      rwopConflict,
			wantInUse: 1,
		},
		{
			name:     "disk to check, ReadWriteOncePod claim free",
			pod:      st.MakePod().Name("p").GCEPersistentDisk("d", false).PVC("rwop").Obj(),
			existing: []*v1.Pod{on("n1", "e").GCEPersistentDisk("other", false).Obj()},
		},
		{
			name:     "disk conflict is reported before the claim",
			pod:      st.MakePod().Name("p").GCEPersistentDisk("d", false).PVC("rwop").Obj(),
			existing: []*v1.Pod{on("n1", "e").GCEPersistentDisk("d", false).PVC("rwop").Obj()},
			// n1 has the disk; n2 only sees the claim.
			want:      diskConflict,
			wantInUse: 1,
		},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.existing, claims()...)
			state := framework.NewCycleState()
			_, status := f.pl.PreFilter(ctx, state, tt.pod, f.snap.List())
			if diff := cmp.Diff(tt.wantPreFilter, status); diff != "" {
				t.Fatalf("PreFilter status (-want +got):\n%s", diff)
			}
			if !status.IsSuccess() {
				return
			}
			s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
			if err != nil {
				t.Fatal(err)
			}
			if s.inUse != tt.wantInUse {
				t.Errorf("claims in use = %d, want %d", s.inUse, tt.wantInUse)
			}
			n1, _ := f.snap.Get("n1")
			if diff := cmp.Diff(tt.want, f.pl.Filter(ctx, state, tt.pod, n1)); diff != "" {
				t.Errorf("Filter on n1 (-want +got):\n%s", diff)
			}
			wantN2 := tt.want
			if tt.wantInUse == 0 {
				wantN2 = nil
			} else if tt.want.Code() != framework.Success {
				wantN2 = rwopConflict
			}
			n2, _ := f.snap.Get("n2")
			if diff := cmp.Diff(wantN2, f.pl.Filter(ctx, state, tt.pod, n2)); diff != "" {
				t.Errorf("Filter on n2 (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterWithoutPreFilterState(t *testing.T) {
	f := newFixture(t, nil)
	n1, _ := f.snap.Get("n1")
	got := f.pl.Filter(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), n1)
	if got.Code() != framework.Error {
		t.Errorf("Filter without PreFilter state = %v, want Error", got)
	}
}

func TestNewRejectsArgs(t *testing.T) {
	if _, err := New(context.Background(), &v1.Pod{}, st.NewHandle(nil)); err == nil {
		t.Error("New accepted args")
	}
}
