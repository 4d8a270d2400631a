package volumerestrictions

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/plugintest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// TestRemovePodFreesClaim is what preemption does: on a clone of the
// cycle state, remove the holder of the claim and filter again.
func TestRemovePodFreesClaim(t *testing.T) {
	ctx := context.Background()
	holder := st.MakePod().Name("holder").Node("n1").PVC("rwop").PVC("rwo").Obj()
	bystander := st.MakePod().Name("bystander").Node("n1").PVC("rwo").Obj()
	f := newFixture(t, []*v1.Pod{holder, bystander}, claims()...)
	pod := st.MakePod().Name("p").Priority(100).PVC("rwop").Obj()
	state := framework.NewCycleState()
	if _, status := f.pl.PreFilter(ctx, state, pod, f.snap.List()); !status.IsSuccess() {
		t.Fatalf("PreFilter = %v", status)
	}
	n1, _ := f.snap.Get("n1")

	withoutBystander := state.Clone()
	if status := f.pl.RemovePod(ctx, withoutBystander, pod, framework.NewPodInfo(bystander), n1); !status.IsSuccess() {
		t.Fatal(status)
	}
	if diff := cmp.Diff(rwopConflict, f.pl.Filter(ctx, withoutBystander, pod, n1)); diff != "" {
		t.Errorf("removing a pod that does not use the claim (-want +got):\n%s", diff)
	}

	withoutHolder := state.Clone()
	if status := f.pl.RemovePod(ctx, withoutHolder, pod, framework.NewPodInfo(holder), n1); !status.IsSuccess() {
		t.Fatal(status)
	}
	if got := f.pl.Filter(ctx, withoutHolder, pod, n1); got != nil {
		t.Errorf("Filter with the holder removed = %v, want success", got)
	}
	// Adding it back restores the conflict.
	if status := f.pl.AddPod(ctx, withoutHolder, pod, framework.NewPodInfo(holder), n1); !status.IsSuccess() {
		t.Fatal(status)
	}
	if diff := cmp.Diff(rwopConflict, f.pl.Filter(ctx, withoutHolder, pod, n1)); diff != "" {
		t.Errorf("holder added back (-want +got):\n%s", diff)
	}
	// The original state is untouched by its clones.
	if diff := cmp.Diff(rwopConflict, f.pl.Filter(ctx, state, pod, n1)); diff != "" {
		t.Errorf("original state (-want +got):\n%s", diff)
	}
}

func TestAddPodCountsOnlySameNamespaceUsers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, claims()...)
	// The disk makes PreFilter keep its state although the claim is free.
	pod := st.MakePod().Name("p").GCEPersistentDisk("d", false).PVC("rwop").Obj()
	state := framework.NewCycleState()
	if _, status := f.pl.PreFilter(ctx, state, pod, f.snap.List()); !status.IsSuccess() {
		t.Fatalf("PreFilter = %v", status)
	}
	n1, _ := f.snap.Get("n1")
	tests := []struct {
		name string
		add  *v1.Pod
		want *framework.Status
	}{
		{name: "user of the claim", add: st.MakePod().Name("u").Node("n1").PVC("rwop").Obj(), want: rwopConflict},
		{name: "same claim name, other namespace", add: st.MakePod().Name("u").Namespace("other").Node("n1").PVC("rwop").Obj()},
		{name: "other claim", add: st.MakePod().Name("u").Node("n1").PVC("rwo").Obj()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.Clone()
			if status := f.pl.AddPod(ctx, s, pod, framework.NewPodInfo(tt.add), n1); !status.IsSuccess() {
				t.Fatal(status)
			}
			if diff := cmp.Diff(tt.want, f.pl.Filter(ctx, s, pod, n1)); diff != "" {
				t.Errorf("Filter (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNominatedPodHoldsClaim runs the plugin through the runner preemption
// and nominated-pod accounting use: a higher-priority pod nominated to the
// node with the claim makes the node infeasible for the pod.
func TestNominatedPodHoldsClaim(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil, claims()...)
	h := plugintest.NewPreemptionHandle(st.NewHandle(f.snap), f.pl)
	pod := st.MakePod().Name("p").Priority(1).GCEPersistentDisk("d", false).PVC("rwop").Obj()
	h.Nominate(st.MakePod().Name("nominated").Priority(10).PVC("rwop").Obj(), "n1")
	state := framework.NewCycleState()
	if status := h.Runner.RunPreFilterPlugins(ctx, state, pod, f.snap.List()); !status.IsSuccess() {
		t.Fatalf("PreFilter = %v", status)
	}
	n1, _ := f.snap.Get("n1")
	if got := h.Runner.RunFilterPluginsWithNominatedPods(ctx, state, pod, n1); got.Code() != framework.Unschedulable ||
		got.Message() != ErrReasonReadWriteOncePodConflict {
		t.Errorf("n1 with the nominated pod = %v, want the ReadWriteOncePod conflict", got)
	}
	n2, _ := f.snap.Get("n2")
	if got := h.Runner.RunFilterPluginsWithNominatedPods(ctx, state, pod, n2); got != nil {
		t.Errorf("n2 = %v, want success", got)
	}
}

func TestExtensionsWithoutState(t *testing.T) {
	ctx := context.Background()
	pl := &VolumeRestrictions{}
	pi := framework.NewPodInfo(st.MakePod().Name("x").Obj())
	if got := pl.AddPod(ctx, framework.NewCycleState(), pi.Pod, pi, framework.NewNodeInfo()); got.Code() != framework.Error {
		t.Errorf("AddPod without state = %v, want Error", got)
	}
	if got := pl.RemovePod(ctx, framework.NewCycleState(), pi.Pod, pi, framework.NewNodeInfo()); got.Code() != framework.Error {
		t.Errorf("RemovePod without state = %v, want Error", got)
	}
}
