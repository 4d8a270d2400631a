package storagelocality

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/storage/volume"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const ns = "default"

var nodes = []*v1.Node{
	st.MakeNode().Name("a1").Label(v1.LabelHostname, "a1").Label(v1.LabelTopologyZone, "zone-a").Obj(),
	st.MakeNode().Name("a2").Label(v1.LabelHostname, "a2").Label(v1.LabelTopologyZone, "zone-a").Obj(),
	st.MakeNode().Name("b1").Label(v1.LabelHostname, "b1").Label(v1.LabelTopologyZone, "zone-b").Obj(),
	st.MakeNode().Name("c1").Label(v1.LabelHostname, "c1").Label(v1.LabelTopologyZone, "zone-c").Obj(),
}

func bound(name, pv, class string) *v1.PersistentVolumeClaim {
	return st.MakePVC(name, ns).Class(class).VolumeName(pv).Annotation(volume.AnnBindCompleted, "yes").Obj()
}

func scores(t *testing.T, args *Args, pod *v1.Pod, objs ...runtime.Object) (map[string]int64, *framework.Status) {
	t.Helper()
	snap := st.NewSnapshot(nil, nodes)
	h := st.NewHandle(snap, objs...)
	var obj runtime.Object
	if args != nil {
		obj = args
	}
	p, err := New(context.Background(), obj, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	pl := p.(*StorageLocality)
	cs := framework.NewCycleState()
	if s := pl.PreScore(ctx, cs, pod, snap.List()); !s.IsSuccess() {
		return nil, s
	}
	out := map[string]int64{}
	for _, ni := range snap.List() {
		sc, s := pl.Score(ctx, cs, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score(%s): %v", ni.Node().Name, s)
		}
		out[ni.Node().Name] = sc
	}
	return out, nil
}

func check(t *testing.T, got, want map[string]int64) {
	t.Helper()
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: score %d, want %d (all %v)", n, got[n], w, got)
		}
	}
}

func TestSkipsPodsWithoutClaims(t *testing.T) {
	_, s := scores(t, nil, st.MakePod().Name("p").Namespace(ns).Obj())
	if !s.IsSkip() {
		t.Fatalf("PreScore = %v, want Skip", s)
	}
}

func TestZoneCohesion(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("x").PVC("y").Obj()
	got, _ := scores(t, nil, pod,
		bound("x", "pv-x", "zonal"), bound("y", "pv-y", "zonal"),
		st.MakePV("pv-x").Class("zonal").NodeAffinityIn(v1.LabelTopologyZone, "zone-a", "zone-b").Obj(),
		st.MakePV("pv-y").Class("zonal").Label(v1.LabelTopologyZone, "zone-a").Obj())
	// Only zone cohesion applies: zone-a holds both volumes, zone-b one.
	check(t, got, map[string]int64{"a1": 100, "a2": 100, "b1": 50, "c1": 0})
}

func TestSameClassLocality(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("data").PVC("logs").Obj()
	objs := []runtime.Object{
		bound("data", "pv-data", "local"),
		st.MakePV("pv-data").Class("local").NodeAffinityIn(v1.LabelHostname, "a1").Obj(),
		st.MakePVC("logs", ns).Class("local").Request("1Gi").Obj(),
	}
	zeroZone := int32(0)
	got, _ := scores(t, &Args{ZoneWeight: &zeroZone}, pod, objs...)
	// The new "local" claim should join the pod's other local volume: same
	// node best, same zone half.
	check(t, got, map[string]int64{"a1": 100, "a2": 50, "b1": 0, "c1": 0})
	got, _ = scores(t, nil, pod, objs...)
	// With zone cohesion too (weights 2 and 2): a2 is in the volume's
	// zone (100) but not on its node (50).
	check(t, got, map[string]int64{"a1": 100, "a2": 75, "b1": 0})
}

func TestCapacityModes(t *testing.T) {
	pod := st.MakePod().Name("p").Namespace(ns).PVC("data").Obj()
	objs := []runtime.Object{
		st.MakeStorageClass("local").Provisioner("local.example.com").WaitForFirstConsumer().Obj(),
		st.MakeCSIDriver("local.example.com").StorageCapacity(true).Obj(),
		st.MakePVC("data", ns).Class("local").Request("10Gi").Obj(),
		st.MakeCSIStorageCapacity("a1", "kube-system", "local").TopologyLabel(v1.LabelHostname, "a1").Capacity("100Gi").Obj(),
		st.MakeCSIStorageCapacity("a2", "kube-system", "local").TopologyLabel(v1.LabelHostname, "a2").Capacity("20Gi").Obj(),
		st.MakeCSIStorageCapacity("b1", "kube-system", "local").TopologyLabel(v1.LabelHostname, "b1").Capacity("5Gi").Obj(),
	}
	got, _ := scores(t, nil, pod, objs...)
	check(t, got, map[string]int64{"a1": 90, "a2": 50, "b1": 0, "c1": 0})
	got, _ = scores(t, &Args{CapacityMode: Pack}, pod, objs...)
	check(t, got, map[string]int64{"a1": 10, "a2": 50, "b1": 0, "c1": 0})

	// Without capacity tracking the signal does not apply.
	objs[1] = st.MakeCSIDriver("local.example.com").StorageCapacity(false).Obj()
	got, _ = scores(t, nil, pod, objs...)
	check(t, got, map[string]int64{"a1": 0, "a2": 0})
}

func TestArgs(t *testing.T) {
	neg, zero := int32(-1), int32(0)
	tests := []struct {
		args Args
		want string
	}{
		{Args{CapacityMode: "Sideways"}, `args.capacityMode: Unsupported value: "Sideways"`},
		{Args{ZoneWeight: &neg}, "args.zoneWeight: Invalid value: -1"},
		{Args{ZoneWeight: &zero, ClassWeight: &zero, CapacityWeight: &zero}, "at least one weight must be positive"},
	}
	for _, tt := range tests {
		a := tt.args
		SetDefaultArgs(&a)
		errs := ValidateArgs(&a, field.NewPath("args"))
		if !strings.Contains(errs.ToAggregate().Error(), tt.want) {
			t.Errorf("%+v: errors %v, want %q", tt.args, errs, tt.want)
		}
	}
	a := &Args{}
	SetDefaultArgs(a)
	if errs := ValidateArgs(a, field.NewPath("args")); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
}
