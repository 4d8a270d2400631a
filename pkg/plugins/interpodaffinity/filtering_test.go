package interpodaffinity

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

var (
	affinityFail     = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	antiFail         = framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	existingAntiFail = framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
)

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		zoneNode("n1", "a"), zoneNode("n2", "a"), zoneNode("n3", "b"),
		st.MakeNode().Name("n4").Obj(), // no zone label
	}
	web := func(name, node string) *st.PodWrapper {
		return st.MakePod().Name(name).Label("app", "web").Node(node)
	}
	hostname := v1.LabelHostname
	tests := []struct {
		name          string
		pod           *v1.Pod
		pods          []*v1.Pod
		wantPreFilter *framework.Status
		// want maps the nodes that fail to their status.
		want map[string]*framework.Status
	}{
		{
			name:          "no terms anywhere: skip",
			pod:           st.MakePod().Name("p").Obj(),
			pods:          []*v1.Pod{web("w", "n1").Obj()},
			wantPreFilter: framework.NewStatus(framework.Skip),
		},
		{
			name: "affinity: the zone with a matching pod",
			pod:  st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj()},
			want: map[string]*framework.Status{"n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: labelSelector expression that matches nothing",
			pod:  st.MakePod().Name("p").PodAffinity(zoneKey, st.LabelsIn("app", "db")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: nil labelSelector selects no pod",
			pod:  st.MakePod().Name("p").PodAffinity(zoneKey, nil).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: empty labelSelector selects every pod of the namespace",
			pod:  st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels()).Obj(),
			pods: []*v1.Pod{st.MakePod().Name("x").Node("n3").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: hostname",
			pod:  st.MakePod().Name("p").PodAffinity(hostname, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n2").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: a single pod must match every term",
			pod: st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels("app", "web")).
				PodAffinity(zoneKey, st.Labels("tier", "front")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj(), st.MakePod().Name("f").Label("tier", "front").Node("n2").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: one pod matching both terms",
			pod: st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels("app", "web")).
				PodAffinity(hostname, st.Labels("tier", "front")).Obj(),
			pods: []*v1.Pod{web("w", "n2").Label("tier", "front").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: pods in another namespace do not count by default",
			pod:  st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Namespace("team-a").Obj()},
			// No matching pod anywhere, but p does not match itself.
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: namespaces lists another namespace",
			pod: st.MakePod().Name("p").PodAffinityTerm(
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).Namespaces("team-a").Obj()).Obj(),
			pods: []*v1.Pod{web("w", "n3").Namespace("team-a").Obj(), web("w2", "n1").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: namespaceSelector by namespace labels",
			pod: st.MakePod().Name("p").PodAffinityTerm(
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).NamespaceSelector(st.Labels("team", "b")).Obj()).Obj(),
			pods: []*v1.Pod{web("w", "n3").Namespace("team-b").Obj(), web("w2", "n1").Namespace("team-a").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n4": affinityFail},
		},
		{
			name: "affinity: namespaces and namespaceSelector are ORed",
			pod: st.MakePod().Name("p").PodAffinityTerm(
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).Namespaces("team-a").NamespaceSelector(st.Labels("team", "b")).Obj()).Obj(),
			pods: []*v1.Pod{web("w", "n3").Namespace("team-b").Obj(), web("w2", "n1").Namespace("team-a").Obj()},
			want: map[string]*framework.Status{"n4": affinityFail},
		},
		{
			name: "affinity: empty namespaceSelector selects every namespace",
			pod: st.MakePod().Name("p").PodAffinityTerm(
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).NamespaceSelector(st.Labels()).Obj()).Obj(),
			pods: []*v1.Pod{web("w", "n3").Namespace("team-b").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n4": affinityFail},
		},
		{
			name: "first pod of a group: matches its own term, goes wherever the key exists",
			pod:  st.MakePod().Name("p").Label("app", "web").PodAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{st.MakePod().Name("x").Node("n1").Obj()},
			want: map[string]*framework.Status{"n4": affinityFail},
		},
		{
			name: "first pod of a group: needs to match all of its terms",
			pod: st.MakePod().Name("p").Label("app", "web").PodAffinity(zoneKey, st.Labels("app", "web")).
				PodAffinity(zoneKey, st.Labels("tier", "front")).Obj(),
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "self-matching pod once the group exists: only its zone",
			pod:  st.MakePod().Name("p").Label("app", "web").PodAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n3").Obj()},
			want: map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n4": affinityFail},
		},
		{
			name: "a matching pod on a node without the key does not count: first-pod rule applies",
			pod:  st.MakePod().Name("p").Label("app", "web").PodAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n4").Obj()},
			want: map[string]*framework.Status{"n4": affinityFail},
		},
		{
			name: "anti-affinity on hostname",
			pod:  st.MakePod().Name("p").PodAntiAffinity(hostname, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj(), web("w4", "n4").Obj()},
			want: map[string]*framework.Status{"n1": antiFail, "n4": antiFail},
		},
		{
			name: "anti-affinity on zone; a node without the key is fine",
			pod:  st.MakePod().Name("p").PodAntiAffinity(zoneKey, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj(), web("w4", "n4").Obj()},
			want: map[string]*framework.Status{"n1": antiFail, "n2": antiFail},
		},
		{
			name: "anti-affinity: other namespace by namespaceSelector",
			pod: st.MakePod().Name("p").PodAntiAffinityTerm(
				st.MakeAffinityTerm(zoneKey, st.Labels("app", "web")).NamespaceSelector(st.LabelsExist("team")).Obj()).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj(), web("w3", "n3").Namespace("team-b").Obj()},
			want: map[string]*framework.Status{"n3": antiFail},
		},
		{
			name: "anti-affinity matching itself is no exception",
			pod:  st.MakePod().Name("p").Label("app", "web").PodAntiAffinity(hostname, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n2").Obj()},
			want: map[string]*framework.Status{"n2": antiFail},
		},
		{
			name: "symmetry: an existing pod's anti-affinity rejects the pod",
			pod:  st.MakePod().Name("p").Label("app", "db").Obj(),
			pods: []*v1.Pod{st.MakePod().Name("e").Node("n1").PodAntiAffinity(zoneKey, st.Labels("app", "db")).Obj()},
			want: map[string]*framework.Status{"n1": existingAntiFail, "n2": existingAntiFail},
		},
		{
			name:          "symmetry: existing pod's term in another namespace does not select the pod",
			pod:           st.MakePod().Name("p").Label("app", "db").Obj(),
			pods:          []*v1.Pod{st.MakePod().Name("e").Namespace("team-a").Node("n1").PodAntiAffinity(zoneKey, st.Labels("app", "db")).Obj()},
			wantPreFilter: framework.NewStatus(framework.Skip),
		},
		{
			name: "symmetry: existing pod's namespaceSelector matches the pod's namespace labels",
			pod:  st.MakePod().Name("p").Namespace("team-b").Label("app", "db").Obj(),
			pods: []*v1.Pod{st.MakePod().Name("e").Namespace("team-a").Node("n3").PodAntiAffinityTerm(
				st.MakeAffinityTerm(hostname, st.Labels("app", "db")).NamespaceSelector(st.Labels("team", "b")).Obj()).Obj()},
			want: map[string]*framework.Status{"n3": existingAntiFail},
		},
		{
			name: "symmetry is checked after the pod's own anti-affinity",
			pod:  st.MakePod().Name("p").Label("app", "db").PodAntiAffinity(hostname, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{
				st.MakePod().Name("e").Label("app", "web").Node("n1").PodAntiAffinity(zoneKey, st.Labels("app", "db")).Obj(),
			},
			want: map[string]*framework.Status{"n1": antiFail, "n2": existingAntiFail},
		},
		{
			name: "affinity is checked before anti-affinity",
			pod: st.MakePod().Name("p").PodAffinity(zoneKey, st.Labels("app", "web")).
				PodAntiAffinity(hostname, st.Labels("app", "web")).Obj(),
			pods: []*v1.Pod{web("w", "n1").Obj()},
			want: map[string]*framework.Status{"n1": antiFail, "n3": affinityFail, "n4": affinityFail},
		},
		{
			name: "matchLabelKeys as the API server stores it: merged into the selector",
			pod: st.MakePod().Name("p").Label("app", "web").Label("pod-template-hash", "v2").PodAntiAffinityTerm(
				st.MakeAffinityTerm(hostname, &metav1.LabelSelector{
					MatchLabels: map[string]string{"app": "web"},
					MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "pod-template-hash", Operator: metav1.LabelSelectorOpIn, Values: []string{"v2"}}},
				}).MatchLabelKeys("pod-template-hash").Obj()).Obj(),
			pods: []*v1.Pod{web("old", "n1").Label("pod-template-hash", "v1").Obj(), web("new", "n3").Label("pod-template-hash", "v2").Obj()},
			want: map[string]*framework.Status{"n3": antiFail},
		},
		{
			name: "matchLabelKeys alone is not read by the scheduler",
			pod: st.MakePod().Name("p").Label("app", "web").Label("pod-template-hash", "v2").PodAntiAffinityTerm(
				st.MakeAffinityTerm(hostname, st.Labels("app", "web")).MatchLabelKeys("pod-template-hash").Obj()).Obj(),
			pods: []*v1.Pod{web("old", "n1").Label("pod-template-hash", "v1").Obj()},
			want: map[string]*framework.Status{"n1": antiFail},
		},
		{
			name: "mismatchLabelKeys as the API server stores it",
			pod: st.MakePod().Name("p").Label("tenant", "x").PodAntiAffinityTerm(
				st.MakeAffinityTerm(zoneKey, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tenant", Operator: metav1.LabelSelectorOpExists},
					{Key: "tenant", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"x"}}}}).
					MismatchLabelKeys("tenant").Obj()).Obj(),
			pods: []*v1.Pod{
				st.MakePod().Name("same").Label("tenant", "x").Node("n1").Obj(),
				st.MakePod().Name("other").Label("tenant", "y").Node("n3").Obj(),
			},
			want: map[string]*framework.Status{"n3": antiFail},
		},
		{
			name: "invalid selector: the pod is unresolvable",
			pod: st.MakePod().Name("p").PodAffinity(zoneKey, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: "Bogus"}}}).Obj(),
			wantPreFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable,
				`parsing pod: requiredAffinityTerms: "Bogus" is not a valid label selector operator`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, snap := newTestPlugin(t, nil, tt.pods, nodes)
			preStatus, got := filterAll(t, pl, snap, tt.pod)
			if diff := cmp.Diff(tt.wantPreFilter, preStatus); diff != "" {
				t.Fatalf("PreFilter status (-want +got):\n%s", diff)
			}
			if preStatus != nil {
				return
			}
			if tt.want == nil {
				tt.want = map[string]*framework.Status{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Filter statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddRemovePod(t *testing.T) {
	nodes := []*v1.Node{zoneNode("n1", "a"), zoneNode("n2", "a"), zoneNode("n3", "b")}
	web := st.MakePod().Name("w").Label("app", "web").Node("n1").Obj()
	hater := st.MakePod().Name("h").Node("n3").PodAntiAffinity(zoneKey, st.Labels("app", "db")).Obj()
	pod := st.MakePod().Name("p").Label("app", "db").
		PodAffinity(zoneKey, st.Labels("app", "web")).
		PodAntiAffinity(v1.LabelHostname, st.Labels("app", "cache")).Obj()
	cache := st.MakePod().Name("c").Label("app", "cache").Node("n2").Obj()

	pl, snap := newTestPlugin(t, nil, []*v1.Pod{web, hater, cache}, nodes)
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, snap.List()); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	ni := func(name string) *framework.NodeInfo {
		n, err := snap.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(state *framework.CycleState, want map[string]*framework.Status) {
		t.Helper()
		got := map[string]*framework.Status{}
		for _, n := range snap.List() {
			if s := pl.Filter(ctx, state, pod, n); !s.IsSuccess() {
				got[n.Node().Name] = s
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Filter statuses (-want +got):\n%s", diff)
		}
	}
	check(state, map[string]*framework.Status{"n2": antiFail, "n3": affinityFail})

	// Preemption works on clones; the original must not change.
	removed := state.Clone()
	for _, p := range []*v1.Pod{web, cache} {
		if s := pl.RemovePod(ctx, removed, pod, framework.NewPodInfo(p), ni(p.Spec.NodeName)); !s.IsSuccess() {
			t.Fatalf("RemovePod: %v", s)
		}
	}
	// Without web, p is not the first of its group (it does not match
	// its own term), so no node has a matching pod.
	check(removed, map[string]*framework.Status{"n1": affinityFail, "n2": affinityFail, "n3": affinityFail})
	check(state, map[string]*framework.Status{"n2": antiFail, "n3": affinityFail})

	added := state.Clone()
	if s := pl.RemovePod(ctx, added, pod, framework.NewPodInfo(hater), ni("n3")); !s.IsSuccess() {
		t.Fatalf("RemovePod: %v", s)
	}
	web2 := st.MakePod().Name("w2").Label("app", "web").Node("n3").Obj()
	if s := pl.AddPod(ctx, added, pod, framework.NewPodInfo(web2), ni("n3")); !s.IsSuccess() {
		t.Fatalf("AddPod: %v", s)
	}
	check(added, map[string]*framework.Status{"n2": antiFail})

	hater2 := st.MakePod().Name("h2").Node("n1").PodAntiAffinity(v1.LabelHostname, st.Labels("app", "db")).Obj()
	if s := pl.AddPod(ctx, added, pod, framework.NewPodInfo(hater2), ni("n1")); !s.IsSuccess() {
		t.Fatalf("AddPod: %v", s)
	}
	check(added, map[string]*framework.Status{"n1": existingAntiFail, "n2": antiFail})
}

func TestFilterWithoutPreFilter(t *testing.T) {
	pl, snap := newTestPlugin(t, nil, nil, []*v1.Node{zoneNode("n1", "a")})
	s := pl.Filter(context.Background(), framework.NewCycleState(), st.MakePod().Name("p").Obj(), snap.List()[0])
	if s.Code() != framework.Error {
		t.Errorf("Filter without PreFilter state = %v, want Error", s)
	}
}
