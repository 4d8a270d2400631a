package networkaware

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// shopGroup is frontend → api → db, api → db bounded by maxNetworkCost 5.
func shopGroup(t *testing.T, namespace string) *unstructured.Unstructured {
	return appGroup(t, namespace, "shop",
		workload("frontend", dependsOn("api", 0)),
		workload("api", dependsOn("db", 5)),
		workload("db"))
}

// TestAppGroup: api's dependencies come from the AppGroup, both ways —
// db (which api talks to, bounded by maxNetworkCost 5) and frontend
// (which talks to api). Filter refuses the nodes too far from db; the
// rest are scored on both.
func TestAppGroup(t *testing.T) {
	api := inAppGroup(pod("api-0", "api"), "shop", "api").Obj()
	frontendNext := inAppGroup(pod("frontend-1", "frontend"), "shop", "frontend").Obj()
	f := newFixture(t, options{
		objects: []*unstructured.Unstructured{shopGroup(t, ns)},
		pods: []*v1.Pod{
			inAppGroup(pod("db-0", "db"), "shop", "db").Node("b1").Obj(),
			inAppGroup(pod("db-1", "db"), "shop", "db").Node("b2").Obj(),
			inAppGroup(pod("frontend-0", "frontend"), "shop", "frontend").Node("c1").Obj(),
			// Same labels in another namespace: not the shop's pods.
			inAppGroup(pod("db-x", "db"), "shop", "db").Namespace("elsewhere").Node("c2").Obj(),
			api, frontendNext,
		},
	})
	r := f.cycle(t, api)
	msg := "node(s) too far from talks-to workload db of AppGroup shop (expected network cost above the AppGroup's maxNetworkCost 5)"
	if diff := cmp.Diff(map[string]string{"a1": msg, "a2": msg, "c1": msg, "c2": msg}, r.rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	// b1 and b2 cost the same (db 0.5, frontend 10): a tie, nothing to
	// prefer.
	if diff := cmp.Diff(map[string]int64{"b1": 0, "b2": 0}, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	want := "total expected cost 10.5; " +
		"talks-to workload db of AppGroup shop (weight 1): 2 pods placed: 1 same node, 1 other node (cost 1) → expected cost 0.5; " +
		"talked to by workload frontend of AppGroup shop (weight 1): 1 pod placed: 1 other zone (cost 10) → expected cost 10.0"
	if got := f.explain(t, r, api, "b1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}

	// frontend has no bound and api is not placed: nothing to filter or
	// score.
	r = f.cycle(t, frontendNext)
	if !r.preFilter.IsSkip() || !r.preScore.IsSkip() {
		t.Errorf("frontend: PreFilter %v, PreScore %v; want Skip, Skip", r.preFilter, r.preScore)
	}
	want = "not scored: no dependency has a placed pod yet; talks-to workload api of AppGroup shop (weight 1): not placed yet"
	if got := f.explain(t, r, frontendNext, "a1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}
	if evs := f.drain(); len(evs) != 0 {
		t.Errorf("events %v", evs)
	}
}

// TestAppGroupElsewhere: the AppGroup lives in another namespace listed
// in appGroupNamespaces; its workloads default to the pod's namespace,
// and the weight comes from args.
func TestAppGroupElsewhere(t *testing.T) {
	api := inAppGroup(pod("api-0", "api"), "shop", "api").Obj()
	f := newFixture(t, options{
		args:    &Args{AppGroupNamespaces: []string{"platform"}, AppGroupWeight: 4},
		objects: []*unstructured.Unstructured{shopGroup(t, "platform")},
		pods:    []*v1.Pod{inAppGroup(pod("db-0", "db"), "shop", "db").Node("b1").Obj(), api},
	})
	r := f.cycle(t, api)
	want := "total expected cost 40.0; talks-to workload db of AppGroup shop (weight 4): 1 pod placed: 1 other zone (cost 10) → expected cost 10.0; " +
		"talked to by workload frontend of AppGroup shop (weight 4): not placed yet"
	if got := f.explain(t, r, api, "c1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}
}

// TestAppGroupProblems: a pod whose AppGroup cannot be used is placed
// without it — never held — and gets one Warning event saying why, the
// answer to "AppGroup not found" silences.
func TestAppGroupProblems(t *testing.T) {
	tests := []struct {
		name      string
		pod       *v1.Pod
		served    []schema.GroupVersionResource
		noDynamic bool
		reason    string
		note      string
	}{
		{
			name: "no such AppGroup", pod: inAppGroup(pod("api-0", "api"), "missing", "api").Obj(),
			reason: ReasonAppGroupNotFound,
			note:   `AppGroup "missing" (named by the pod's label appgroup.diktyo.x-k8s.io) not found in namespace shop; the pod is placed without its dependencies`,
		},
		{
			name: "CRD not served", pod: inAppGroup(pod("api-0", "api"), "shop", "api").Obj(),
			served: []schema.GroupVersionResource{ntGVR},
			reason: ReasonAppGroupNotFound,
			note: `the pod names AppGroup "shop" (label appgroup.diktyo.x-k8s.io), which berth does not read: ` +
				`the API server does not serve appgroup.diktyo.x-k8s.io/v1alpha1 (install the AppGroup CRD (deploy/crds), then restart berth); the pod is placed without its dependencies`,
		},
		{
			name: "no dynamic client", pod: inAppGroup(pod("api-0", "api"), "shop", "api").Obj(), noDynamic: true,
			reason: ReasonAppGroupNotFound,
			note:   `the pod names AppGroup "shop" (label appgroup.diktyo.x-k8s.io), which berth does not read: no dynamic client; the pod is placed without its dependencies`,
		},
		{
			name: "no workload label", pod: pod("api-0", "api").Label("appgroup.diktyo.x-k8s.io", "shop").Obj(),
			reason: ReasonAppGroupWorkloadNotFound,
			note:   "the pod names AppGroup shop/shop but has no label appgroup.diktyo.x-k8s.io.workload naming its workload; the pod is placed without its dependencies",
		},
		{
			name: "unknown workload", pod: inAppGroup(pod("api-0", "api"), "shop", "payments").Obj(),
			reason: ReasonAppGroupWorkloadNotFound,
			note:   `AppGroup shop/shop has no workload with selector "payments" (the pod's label appgroup.diktyo.x-k8s.io.workload); the pod is placed without its dependencies`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, options{
				sideEffects: true, served: tt.served, noDynamic: tt.noDynamic,
				objects: []*unstructured.Unstructured{shopGroup(t, ns)},
				pods:    []*v1.Pod{inAppGroup(pod("db-0", "db"), "shop", "db").Node("b1").Obj(), tt.pod},
			})
			r := f.cycle(t, tt.pod)
			if !r.preFilter.IsSkip() || !r.preScore.IsSkip() {
				t.Errorf("PreFilter %v, PreScore %v; want Skip, Skip (placed without the AppGroup)", r.preFilter, r.preScore)
			}
			if got := f.explain(t, r, tt.pod, "a1"); got != tt.note {
				t.Errorf("explain:\n%s\nwant\n%s", got, tt.note)
			}
			f.cycle(t, tt.pod)
			if diff := cmp.Diff([]string{"Warning " + tt.reason + " " + tt.note}, f.drain()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNetworkTopology: the zone costs of a NetworkTopology override the
// levels' — zone a is 3 from zone b, c stays at 10 — and problems with
// the object are noted, costs then coming from the levels alone.
func TestNetworkTopology(t *testing.T) {
	nt := func(weights string, key string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networktopology.diktyo.x-k8s.io/v1alpha1",
			"kind":       "NetworkTopology",
			"metadata":   map[string]any{"namespace": "default", "name": "nt", "resourceVersion": "1"},
			"spec": map[string]any{"configmapName": "x", "weights": []any{map[string]any{
				"name": weights,
				"topologyList": []any{map[string]any{
					"topologyKey": key,
					"originList": []any{map[string]any{"origin": "a", "costList": []any{
						map[string]any{"destination": "b", "networkCost": int64(3)},
					}}},
				}},
			}}},
		}}
	}
	api := talksTo(pod("api-0", "api"), "app=db").Obj()
	pods := []*v1.Pod{pod("db-0", "db").Node("b1").Obj(), api}
	args := func() *Args { return &Args{NetworkTopology: &NetworkTopologyRef{Name: "nt"}} }

	f := newFixture(t, options{args: args(), objects: []*unstructured.Unstructured{nt("UserDefined", v1.LabelTopologyZone)}, pods: pods})
	r := f.cycle(t, api)
	if diff := cmp.Diff(map[string]int64{"a1": 70, "a2": 70, "b1": 100, "b2": 90, "c1": 0, "c2": 0}, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	want := "total expected cost 3.0; talks-to app=db (weight 1): 1 pod placed: 1 other zone (cost 3) → expected cost 3.0"
	if got := f.explain(t, r, api, "a1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}

	levelsOnly := "total expected cost 10.0; talks-to app=db (weight 1): 1 pod placed: 1 other zone (cost 10) → expected cost 10.0; "
	for _, tc := range []struct {
		name    string
		objects []*unstructured.Unstructured
		served  []schema.GroupVersionResource
		note    string
	}{
		{name: "not found", note: "NetworkTopology default/nt not found; costs from args.levels only"},
		{name: "no such weights", objects: []*unstructured.Unstructured{nt("NetperfCosts", v1.LabelTopologyZone)},
			note: `NetworkTopology default/nt has no weights named "UserDefined"; costs from args.levels only`},
		{name: "unknown key", objects: []*unstructured.Unstructured{nt("UserDefined", "topology.kubernetes.io/segment")},
			note: "NetworkTopology default/nt: topology keys topology.kubernetes.io/segment are not among args.levels; their costs are ignored"},
		{name: "CRD not served", served: []schema.GroupVersionResource{agGVR},
			note: "NetworkTopology default/nt not read: the API server does not serve networktopology.diktyo.x-k8s.io/v1alpha1 (install the NetworkTopology CRD (deploy/crds), then restart berth); costs from args.levels only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, options{args: args(), objects: tc.objects, served: tc.served, pods: pods})
			r := f.cycle(t, api)
			if got := f.explain(t, r, api, "a1"); got != levelsOnly+tc.note {
				t.Errorf("explain:\n%s\nwant\n%s", got, levelsOnly+tc.note)
			}
		})
	}
}
