package whatif

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
)

// objects converts typed objects to a snapshot's form.
func objects(t testing.TB, objs ...runtime.Object) []unstructured.Unstructured {
	t.Helper()
	var out []unstructured.Unstructured
	for _, o := range objs {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil {
			t.Fatal(err)
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		u := unstructured.Unstructured{Object: m}
		u.SetGroupVersionKind(gvks[0])
		out = append(out, u)
	}
	return out
}

func threeZonesMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: APIVersion, Kind: SnapshotKind}
}

var taken = metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))

// threeZones is six 4-CPU nodes, two per zone, with one 1-CPU pod bound
// on a1 and four 1-CPU pods pending.
func threeZones(t *testing.T) *Snapshot {
	t.Helper()
	var objs []runtime.Object
	for _, z := range []string{"a", "b", "c"} {
		for _, i := range []string{"1", "2"} {
			objs = append(objs, st.MakeNode().Name(z+i).Label(ZoneLabel, "zone-"+z).Capacity("cpu", "4", "memory", "8Gi", "pods", "110").Obj())
		}
	}
	pod := func(name string) *st.PodWrapper {
		p := st.MakePod().Name(name).Namespace("default").SchedulerName(config.DefaultSchedulerName).Priority(0).Req("cpu", "1", "memory", "1Gi")
		p.CreationTimestamp = taken
		return p
	}
	objs = append(objs, pod("bound").Node("a1").Obj())
	for _, n := range []string{"p0", "p1", "p2", "p3"} {
		objs = append(objs, pod(n).Obj())
	}
	return &Snapshot{
		TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: SnapshotKind},
		TakenAt:  taken,
		Served:   []string{"nodes/v1", "pods/v1"},
		Objects:  objects(t, objs...),
	}
}

func defaults(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(nil, plugins.NewInTreeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, o Options) *Result {
	t.Helper()
	o.Registry = plugins.NewInTreeRegistry()
	if o.Config == nil {
		o.Config = defaults(t)
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestUnchangedPlacesPendingPods(t *testing.T) {
	res := run(t, Options{Snapshot: threeZones(t)})
	if res.Before.Placed != 4 || res.Before.Pending != 0 {
		t.Fatalf("before = %+v, want 4 placed", res.Before)
	}
	if len(res.Changes) != 0 || len(res.Moved)+len(res.NewlyPending) != 0 {
		t.Errorf("no change asked, got changes %v moved %v newly pending %v", res.Changes, res.Moved, res.NewlyPending)
	}
	// Least-allocated scoring spreads them: a1 already has a pod.
	for _, p := range res.Placements {
		if p.Before == "a1" {
			t.Errorf("%s went to a1, the only busy node", p.Pod)
		}
	}
	var pods int
	for _, z := range res.Zones {
		pods += z.Before.Pods
	}
	if pods != 5 {
		t.Errorf("zones hold %d pods, want 5 (1 bound + 4 placed)", pods)
	}
}

func TestDrainZoneDisplacesAndCountsCapacity(t *testing.T) {
	sel, err := labels.Parse(ZoneLabel + "=zone-a")
	if err != nil {
		t.Fatal(err)
	}
	probe := st.MakePod().Name("probe").Namespace("default").SchedulerName(config.DefaultSchedulerName).Req("cpu", "1", "memory", "1Gi").Obj()
	res := run(t, Options{Snapshot: threeZones(t), RemoveNodes: sel, Capacity: probe, MaxCapacity: 100})
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "2 nodes; 1 pods displaced") {
		t.Errorf("changes = %v", res.Changes)
	}
	var moved *Placement
	for i, p := range res.Moved {
		if p.Pod == "default/bound" {
			moved = &res.Moved[i]
		}
	}
	if moved == nil || moved.Was != "a1" || strings.HasPrefix(moved.After, "a") {
		t.Fatalf("the pod bound on a1 should move out of zone-a: moved = %+v", res.Moved)
	}
	if res.After.Placed != 5 || res.After.Pending != 0 {
		t.Errorf("after = %+v, want the 4 pending and the displaced one placed", res.After)
	}
	for _, p := range res.Placements {
		if strings.HasPrefix(p.After, "a") {
			t.Errorf("%s placed on removed node %s", p.Pod, p.After)
		}
	}
	// 4 nodes × 4 CPUs, 5 taken: 11 more 1-CPU pods, then CPU runs out
	// everywhere.
	c := res.Capacity
	if c == nil || c.Fit != 11 {
		t.Fatalf("capacity = %+v, want 11", c)
	}
	if !strings.Contains(c.Summary, `fits nowhere, mostly for "Insufficient cpu" in every zone`) || !strings.Contains(c.Summary, "12th") {
		t.Errorf("capacity summary = %q", c.Summary)
	}
	for _, z := range res.Zones {
		if z.Name == "zone-a" && (z.Before == nil || z.After != nil) {
			t.Errorf("zone-a should exist before and be gone after: %+v", z)
		}
	}
}

func TestAddWorkloadsAndNodes(t *testing.T) {
	var deploy Workload
	for _, n := range []string{"web-00000", "web-00001", "web-00002"} {
		deploy.Pods = append(deploy.Pods, st.MakePod().Name(n).Namespace("default").Label("app", "web").
			SchedulerName(config.DefaultSchedulerName).Req("cpu", "3").Obj())
	}
	node := st.MakeNode().Name("big").Label(ZoneLabel, "zone-d").Capacity("cpu", "16", "memory", "64Gi", "pods", "110").Obj()
	res := run(t, Options{Snapshot: threeZones(t),
		AddWorkloads: []WorkloadAddition{{Workloads: []Workload{deploy}, Count: 2, Source: "web.yaml"}},
		AddNodes:     []NodeAddition{{Template: node, Count: 1, Source: "big.yaml"}},
	})
	if res.Added.Placed+res.Added.Pending != 6 {
		t.Fatalf("added = %+v, want 6 pods (2 copies × 3 replicas)", res.Added)
	}
	// Free CPU: six 4-CPU nodes (one already 1 CPU busy, the four 1-CPU
	// pods go first) and a 16-CPU node: every 3-CPU pod fits.
	if res.Added.Pending != 0 {
		t.Errorf("added = %+v, want all placed", res.Added)
	}
	seen := false
	for _, p := range res.Placements {
		if p.Added && p.After == "big-0" {
			seen = true
		}
		if p.Added && !strings.HasPrefix(p.Pod, "default/web-") {
			t.Errorf("added pod named %s", p.Pod)
		}
	}
	if !seen {
		t.Errorf("no added pod went to the new, empty 16-CPU node big-0: %+v", res.Placements)
	}
}

func TestConfigChangeMovesPods(t *testing.T) {
	packing, err := config.LoadFile("../../../docs/examples/most-allocated.yaml", plugins.NewInTreeRegistry())
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, Options{Snapshot: threeZones(t), Mode: ModeAll, ConfigAfter: packing, ConfigAfterSource: "packing.yaml"})
	if res.Before.Placed != 5 || res.After.Placed != 5 {
		t.Fatalf("before %+v after %+v, want all 5 pods placed in both", res.Before, res.After)
	}
	nodes := func(after bool) map[string]int {
		m := map[string]int{}
		for _, p := range res.Placements {
			if after {
				m[p.After]++
			} else {
				m[p.Before]++
			}
		}
		return m
	}
	if b, a := len(nodes(false)), len(nodes(true)); a >= b {
		t.Errorf("MostAllocated should pack onto fewer nodes: before %v, after %v", nodes(false), nodes(true))
	}
	if len(res.Moved) == 0 {
		t.Error("a packing config should move some pods")
	}
}

// gangSnapshot has two 4-CPU nodes and a scheduler-plugins PodGroup of
// three 3-CPU pods (one per node at most) needing minMember of them.
func gangSnapshot(t *testing.T, minMember int64) *Snapshot {
	t.Helper()
	var objs []runtime.Object
	for _, n := range []string{"n1", "n2"} {
		objs = append(objs, st.MakeNode().Name(n).Capacity("cpu", "4", "memory", "8Gi", "pods", "110").Obj())
	}
	for _, n := range []string{"g0", "g1", "g2"} {
		p := st.MakePod().Name(n).Namespace("default").SchedulerName(config.DefaultSchedulerName).Priority(0).
			Label("scheduling.x-k8s.io/pod-group", "train").Req("cpu", "3").Obj()
		p.CreationTimestamp = taken
		objs = append(objs, p)
	}
	s := &Snapshot{
		TypeMeta: metav1.TypeMeta{APIVersion: APIVersion, Kind: SnapshotKind},
		TakenAt:  taken,
		Objects:  objects(t, objs...),
	}
	pg := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
		"metadata": map[string]any{"name": "train", "namespace": "default", "uid": "pg-uid"},
		"spec":     map[string]any{"minMember": minMember},
	}}
	s.Objects = append(s.Objects, pg)
	return s
}

func TestGangAllOrNothing(t *testing.T) {
	res := run(t, Options{Snapshot: gangSnapshot(t, 3)})
	if res.Before.Placed != 0 || res.Before.Pending != 3 {
		t.Fatalf("before = %+v, want the whole gang pending (2 of 3 fit)", res.Before)
	}
	for _, p := range res.Placements {
		if !strings.Contains(p.BeforeReason, "gang default/train: only 2 of the 3 more members it needs fit") {
			t.Errorf("%s: reason %q", p.Pod, p.BeforeReason)
		}
	}
	// Nothing was left reserved by the gang that failed: the cluster is
	// empty for the capacity question.
	probe := st.MakePod().Name("probe").Namespace("default").SchedulerName(config.DefaultSchedulerName).Req("cpu", "1").Obj()
	res = run(t, Options{Snapshot: gangSnapshot(t, 3), Capacity: probe, MaxCapacity: 50})
	if res.Capacity.Fit != 8 {
		t.Errorf("capacity after the failed gang = %d, want 8 (both nodes empty)", res.Capacity.Fit)
	}

	res = run(t, Options{Snapshot: gangSnapshot(t, 2)})
	if res.Before.Placed != 2 || res.Before.Pending != 1 {
		t.Errorf("minMember 2: before = %+v, want 2 placed and the third pending", res.Before)
	}
}

func TestDecodeRefusesOtherFiles(t *testing.T) {
	for name, in := range map[string]string{
		"other kind":    "apiVersion: v1\nkind: List\nitems: []\n",
		"unknown field": "apiVersion: snapshot.berth.io/v1alpha1\nkind: ClusterSnapshot\nobjcts: []\n",
		"nameless":      "apiVersion: snapshot.berth.io/v1alpha1\nkind: ClusterSnapshot\nobjects: [{apiVersion: v1, kind: Node}]\n",
	} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	s := threeZones(t)
	var b strings.Builder
	if err := s.Write(&b, false); err != nil {
		t.Fatal(err)
	}
	back, err := Decode([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if back.CountsString() != "6 Node, 5 Pod" {
		t.Errorf("round trip holds %s", back.CountsString())
	}
}

func TestDeallocateOnlyClaimsNoStayingPodUses(t *testing.T) {
	claim := func(name string, users ...string) *unstructured.Unstructured {
		var rs []any
		for _, u := range users {
			rs = append(rs, map[string]any{"resource": "pods", "name": u, "uid": u})
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
			"metadata": map[string]any{"name": name, "namespace": "ns"},
			"status":   map[string]any{"allocation": map[string]any{"devices": map[string]any{}}, "reservedFor": rs},
		}}
	}
	own, shared, other := claim("own", "moved"), claim("shared", "moved", "stays"), claim("other", "stays")
	deallocate([]*unstructured.Unstructured{own, shared, other},
		map[string]bool{"ns/own": true, "ns/shared": true}, map[types.UID]bool{"moved": true})
	allocated := func(u *unstructured.Unstructured) bool {
		_, ok, _ := unstructured.NestedMap(u.Object, "status", "allocation")
		return ok
	}
	if allocated(own) || !allocated(shared) || !allocated(other) {
		t.Errorf("allocated after: own %v (want false), shared %v (want true), other %v (want true)", allocated(own), allocated(shared), allocated(other))
	}
}
