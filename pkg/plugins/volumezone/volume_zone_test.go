package volumezone

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const ns = "default"

// storageObjects is the cluster every test case reads: bound claims named
// after their volumes, unbound claims of every kind of class, and the
// classes.
func storageObjects() []runtime.Object {
	pvs := []*v1.PersistentVolume{
		st.MakePV("zone-a").Label(v1.LabelTopologyZone, "a").Obj(),
		st.MakePV("beta-zone-a").Label(v1.LabelFailureDomainBetaZone, "a").Obj(),
		st.MakePV("region-r1").Label(v1.LabelTopologyRegion, "r1").Obj(),
		st.MakePV("beta-region-r1").Label(v1.LabelFailureDomainBetaRegion, "r1").Obj(),
		st.MakePV("zone-a-region-r1").Label(v1.LabelTopologyZone, "a").Label(v1.LabelTopologyRegion, "r1").Obj(),
		st.MakePV("zones-a-b").Label(v1.LabelTopologyZone, "a__ b").Obj(),
		st.MakePV("bad-zone-label").Label(v1.LabelTopologyZone, "a____b").Obj(),
		st.MakePV("no-labels").Label("other", "x").Obj(),
	}
	var objs []runtime.Object
	for _, pv := range pvs {
		objs = append(objs, pv, st.MakePVC(pv.Name, ns).Class("").VolumeName(pv.Name).Obj())
	}
	return append(objs,
		st.MakeStorageClass("wffc").WaitForFirstConsumer().Obj(),
		st.MakeStorageClass("immediate").Immediate().Obj(),
		st.MakeStorageClass("no-mode").Obj(),
		st.MakePVC("unbound-wffc", ns).Class("wffc").Obj(),
		st.MakePVC("unbound-wffc-beta-annotation", ns).NoClass().Annotation(v1.BetaStorageClassAnnotation, "wffc").Obj(),
		st.MakePVC("unbound-immediate", ns).Class("immediate").Obj(),
		st.MakePVC("unbound-no-mode", ns).Class("no-mode").Obj(),
		st.MakePVC("unbound-no-class", ns).NoClass().Obj(),
		st.MakePVC("unbound-missing-class", ns).Class("ghost").Obj(),
		st.MakePVC("bound-to-missing-pv", ns).Class("").VolumeName("ghost").Obj(),
		st.MakePVC("zone-a", "other").Class("").VolumeName("zone-a").Obj(),
	)
}

func newPlugin(t *testing.T, objs ...runtime.Object) *VolumeZone {
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
	return p.(*VolumeZone)
}

func TestPreFilterAndFilter(t *testing.T) {
	conflict := framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
	skip := framework.NewStatus(framework.Skip)
	node := func(kv ...string) *v1.Node {
		n := st.MakeNode().Name("n")
		for i := 0; i < len(kv); i += 2 {
			n.Label(kv[i], kv[i+1])
		}
		return n.Obj()
	}
	pod := func(claims ...string) *v1.Pod {
		p := st.MakePod().Name("p")
		for _, c := range claims {
			p.PVC(c)
		}
		return p.Obj()
	}
	tests := []struct {
		name          string
		pod           *v1.Pod
		node          *v1.Node
		wantPreFilter *framework.Status
		want          *framework.Status
	}{
		{
			name:          "pod without volumes",
			pod:           pod(),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: skip,
		},
		{
			name:          "pod with only non-claim volumes",
			pod:           st.MakePod().Name("p").GCEPersistentDisk("disk", false).Obj(),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: skip,
		},
		{
			name: "zone matches",
			pod:  pod("zone-a"),
			node: node(v1.LabelTopologyZone, "a"),
		},
		{
			name: "zone does not match",
			pod:  pod("zone-a"),
			node: node(v1.LabelTopologyZone, "b"),
			want: conflict,
		},
		{
			name: "node without any topology label passes",
			pod:  pod("zone-a"),
			node: node("other", "x"),
		},
		{
			name: "node with only a region label lacks the zone",
			pod:  pod("zone-a"),
			node: node(v1.LabelTopologyRegion, "r1"),
			want: conflict,
		},
		{
			name: "region matches",
			pod:  pod("region-r1"),
			node: node(v1.LabelTopologyRegion, "r1", v1.LabelTopologyZone, "z"),
		},
		{
			name: "region does not match",
			pod:  pod("region-r1"),
			node: node(v1.LabelTopologyRegion, "r2"),
			want: conflict,
		},
		{
			name: "beta zone on volume and node matches",
			pod:  pod("beta-zone-a"),
			node: node(v1.LabelFailureDomainBetaZone, "a"),
		},
		{
			name: "beta zone on volume, GA zone on node matches",
			pod:  pod("beta-zone-a"),
			node: node(v1.LabelTopologyZone, "a"),
		},
		{
			name: "beta zone on volume, GA zone on node does not match",
			pod:  pod("beta-zone-a"),
			node: node(v1.LabelTopologyZone, "b"),
			want: conflict,
		},
		{
			name: "beta region on volume, GA region on node matches",
			pod:  pod("beta-region-r1"),
			node: node(v1.LabelTopologyRegion, "r1"),
		},
		{
			name: "beta region on volume, beta region on node does not match",
			pod:  pod("beta-region-r1"),
			node: node(v1.LabelFailureDomainBetaRegion, "r2"),
			want: conflict,
		},
		{
			name: "GA zone on volume is not matched by a beta zone on the node",
			pod:  pod("zone-a"),
			node: node(v1.LabelFailureDomainBetaZone, "a"),
			want: conflict,
		},
		{
			name: "zone and region both match",
			pod:  pod("zone-a-region-r1"),
			node: node(v1.LabelTopologyZone, "a", v1.LabelTopologyRegion, "r1"),
		},
		{
			name: "zone matches but region does not",
			pod:  pod("zone-a-region-r1"),
			node: node(v1.LabelTopologyZone, "a", v1.LabelTopologyRegion, "r2"),
			want: conflict,
		},
		{
			name: "multi-zone volume, second zone (spaces trimmed)",
			pod:  pod("zones-a-b"),
			node: node(v1.LabelTopologyZone, "b"),
		},
		{
			name: "multi-zone volume, other zone",
			pod:  pod("zones-a-b"),
			node: node(v1.LabelTopologyZone, "c"),
			want: conflict,
		},
		{
			name:          "unparsable zone label is ignored",
			pod:           pod("bad-zone-label"),
			node:          node(v1.LabelTopologyZone, "c"),
			wantPreFilter: skip,
		},
		{
			name:          "volume without topology labels",
			pod:           pod("no-labels"),
			node:          node(v1.LabelTopologyZone, "c"),
			wantPreFilter: skip,
		},
		{
			name: "every volume must match",
			pod:  pod("zone-a", "region-r1"),
			node: node(v1.LabelTopologyZone, "a", v1.LabelTopologyRegion, "r2"),
			want: conflict,
		},
		{
			name:          "unbound claim of a WaitForFirstConsumer class is skipped",
			pod:           pod("unbound-wffc"),
			node:          node(v1.LabelTopologyZone, "c"),
			wantPreFilter: skip,
		},
		{
			name: "unbound delayed claim beside a bound one",
			pod:  pod("unbound-wffc", "zone-a"),
			node: node(v1.LabelTopologyZone, "c"),
			want: conflict,
		},
		{
			name:          "class from the beta annotation",
			pod:           pod("unbound-wffc-beta-annotation"),
			node:          node(v1.LabelTopologyZone, "c"),
			wantPreFilter: skip,
		},
		{
			name:          "unbound claim of an Immediate class",
			pod:           pod("unbound-immediate"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediate),
		},
		{
			name:          "unbound claim of a class without binding mode",
			pod:           pod("unbound-no-mode"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `VolumeBindingMode not set for StorageClass "no-mode"`),
		},
		{
			name:          "unbound claim without class",
			pod:           pod("unbound-no-class"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundNoClass),
		},
		{
			name:          "unbound claim of a missing class",
			pod:           pod("unbound-missing-class"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `storageclass.storage.k8s.io "ghost" not found`),
		},
		{
			name:          "missing claim",
			pod:           pod("missing"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "missing" not found`),
		},
		{
			name:          "claim in another namespace does not count",
			pod:           st.MakePod().Name("p").Namespace("third").PVC("zone-a").Obj(),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "zone-a" not found`),
		},
		{
			name:          "claim bound to a missing volume",
			pod:           pod("bound-to-missing-pv"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolume "ghost" not found`),
		},
		{
			name:          "volume without claim name",
			pod:           pod(""),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonClaimNoName),
		},
		{
			name:          "first failing claim decides",
			pod:           pod("zone-a", "missing", "unbound-immediate"),
			node:          node(v1.LabelTopologyZone, "a"),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "missing" not found`),
		},
	}
	pl := newPlugin(t, storageObjects()...)
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := st.NewSnapshot(nil, []*v1.Node{tt.node})
			state := framework.NewCycleState()
			_, status := pl.PreFilter(ctx, state, tt.pod, snap.List())
			if diff := cmp.Diff(tt.wantPreFilter, status); diff != "" {
				t.Fatalf("PreFilter status (-want +got):\n%s", diff)
			}
			if !status.IsSuccess() {
				return
			}
			ni, _ := snap.Get("n")
			if diff := cmp.Diff(tt.want, pl.Filter(ctx, state, tt.pod, ni)); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
			// Without PreFilter's state Filter computes the same verdict.
			if diff := cmp.Diff(tt.want, pl.Filter(ctx, framework.NewCycleState(), tt.pod, ni)); diff != "" {
				t.Errorf("Filter status without PreFilter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterWithoutPreFilterReportsLookupFailures(t *testing.T) {
	pl := newPlugin(t, storageObjects()...)
	ni := framework.NewNodeInfo()
	ni.SetNode(st.MakeNode().Name("n").Label(v1.LabelTopologyZone, "a").Obj())
	pod := st.MakePod().Name("p").PVC("missing").Obj()
	want := framework.NewStatus(framework.UnschedulableAndUnresolvable, `persistentvolumeclaim "missing" not found`)
	if diff := cmp.Diff(want, pl.Filter(context.Background(), framework.NewCycleState(), pod, ni)); diff != "" {
		t.Errorf("Filter status (-want +got):\n%s", diff)
	}
}

func TestNewRejectsArgs(t *testing.T) {
	if _, err := New(context.Background(), &v1.Pod{}, st.NewHandle(nil)); err == nil {
		t.Error("New accepted args")
	}
}

func TestParseZones(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{in: "a", want: []string{"a"}, ok: true},
		{in: "a__b", want: []string{"a", "b"}, ok: true},
		{in: " a __ b ", want: []string{"a", "b"}, ok: true},
		{in: "a__a", want: []string{"a"}, ok: true},
		{in: "", ok: false},
		{in: "a__", ok: false},
		{in: "a__ __b", ok: false},
	}
	for _, tt := range tests {
		got, ok := parseZones(tt.in)
		if ok != tt.ok {
			t.Errorf("parseZones(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok {
			if diff := cmp.Diff(tt.want, sets.List(got)); diff != "" {
				t.Errorf("parseZones(%q) (-want +got):\n%s", tt.in, diff)
			}
		}
	}
}
