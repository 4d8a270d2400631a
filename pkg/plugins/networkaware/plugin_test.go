package networkaware

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// TestChainWhateverTheOrder places frontend → api → db (each annotated
// with whom it talks to) one pod at a time, in every order of creation.
// A pod with nothing placed to be near is not scored and goes to a zone
// no pod uses yet; every other pod goes to its best node. Edges count
// both ways, so whenever the second pod created is a neighbour of the
// first, the whole chain ends up in one zone; when the two ends come
// first, each is placed on its own, and api joins one of them.
func TestChainWhateverTheOrder(t *testing.T) {
	mk := map[string]func() *v1.Pod{
		"frontend": func() *v1.Pod { return talksTo(pod("frontend", "frontend"), "app=api").Obj() },
		"api":      func() *v1.Pod { return talksTo(pod("api", "api"), "app=db").Obj() },
		"db":       func() *v1.Pod { return pod("db", "db").Obj() },
	}
	for _, order := range [][]string{
		{"frontend", "api", "db"}, {"frontend", "db", "api"}, {"api", "frontend", "db"},
		{"api", "db", "frontend"}, {"db", "frontend", "api"}, {"db", "api", "frontend"},
	} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			var pods []*v1.Pod
			for _, name := range order {
				pods = append(pods, mk[name]())
			}
			f := newFixture(t, options{pods: pods})
			fresh := []string{"c1", "a1", "b1"}
			zone := map[string]string{}
			for _, p := range pods {
				r := f.cycle(t, p)
				node := ""
				if r.preScore.IsSkip() {
					node, fresh = fresh[0], fresh[1:]
				} else {
					node = r.best()[0]
				}
				f.bind(p, node)
				zone[p.Name] = node[:1]
			}
			endsFirst := order[0] != "api" && order[1] != "api"
			switch {
			case !endsFirst && (zone["frontend"] != zone["api"] || zone["api"] != zone["db"]):
				t.Errorf("chain spread over zones: %v", zone)
			case endsFirst && zone["api"] != zone["frontend"] && zone["api"] != zone["db"]:
				t.Errorf("api apart from both its neighbours: %v", zone)
			}
		})
	}
}

// TestAPINearDB: db's replicas run in zone b; api, which talks to db, is
// best in zone b (either node: one replica local, one a node away), and
// every node of the other zones ties at the bottom.
func TestAPINearDB(t *testing.T) {
	api := talksTo(pod("api-0", "api"), "app=db").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{
		pod("db-0", "db").Node("b1").Obj(),
		pod("db-1", "db").Node("b2").Obj(),
		pod("other-app", "x").Node("a1").Obj(),
		api,
	}})
	r := f.cycle(t, api)
	if !r.preFilter.IsSkip() {
		t.Errorf("PreFilter = %v, want Skip (no bound)", r.preFilter)
	}
	want := map[string]int64{"a1": 0, "a2": 0, "b1": 100, "b2": 100, "c1": 0, "c2": 0}
	if diff := cmp.Diff(want, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	wantExplain := "total expected cost 0.5; talks-to app=db (weight 1): 2 pods placed: 1 same node, 1 other node (cost 1) → expected cost 0.5"
	if got := f.explain(t, r, api, "b1"); got != wantExplain {
		t.Errorf("explain b1:\n%s\nwant\n%s", got, wantExplain)
	}
	wantExplain = "total expected cost 10.0; talks-to app=db (weight 1): 2 pods placed: 2 other zone (cost 10) → expected cost 10.0"
	if got := f.explain(t, r, api, "a1"); got != wantExplain {
		t.Errorf("explain a1:\n%s\nwant\n%s", got, wantExplain)
	}
	// Without the cycle's state, explain computes it.
	if got := f.pl.ExplainScore(nil, api, nodeInfo(t, f, "a1")); got != wantExplain {
		t.Errorf("explain without state:\n%s", got)
	}
}

func nodeInfo(t *testing.T, f *fixture, name string) *framework.NodeInfo {
	t.Helper()
	ni, err := f.h.Lister.NodeInfos().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

// TestWeightsAndMixedZones: db (weight 1) half in b, half in c; cache
// (weight 5) in c: zone c wins, b beats a, and explain shows both
// dependencies with their groups.
func TestWeightsAndMixedZones(t *testing.T) {
	api := talksTo(pod("api-0", "api"), "app=db,app=cache:5").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{
		pod("db-0", "db").Node("b1").Obj(),
		pod("db-1", "db").Node("c1").Obj(),
		pod("cache-0", "cache").Node("c2").Obj(),
		api,
	}})
	r := f.cycle(t, api)
	// Costs: a* 10+50=60; b1 5+50=55, b2 5.5+50=55.5; c1 5+5=10, c2 5.5+0=5.5.
	want := map[string]int64{"a1": 0, "a2": 0, "b1": 9, "b2": 8, "c1": 91, "c2": 100}
	if diff := cmp.Diff(want, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	wantExplain := "total expected cost 10.0; talks-to app=db (weight 1): 2 pods placed: 1 same node, 1 other zone (cost 10) → expected cost 5.0; " +
		"talks-to app=cache (weight 5): 1 pod placed: 1 other node (cost 1) → expected cost 1.0"
	if got := f.explain(t, r, api, "c1"); got != wantExplain {
		t.Errorf("explain c1:\n%s\nwant\n%s", got, wantExplain)
	}
}

// TestUnplacedDependency: a dependency with no placed pod changes no
// score and is noted as not placed yet.
func TestUnplacedDependency(t *testing.T) {
	lonely := talksTo(pod("api-0", "api"), "app=cache").Obj()
	mixed := talksTo(pod("api-1", "api"), "app=db,app=cache").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{
		pod("db-0", "db").Node("b1").Obj(),
		pod("cache-pending", "cache").Obj(), // not bound: does not count
		lonely, mixed,
	}})
	r := f.cycle(t, lonely)
	if !r.preScore.IsSkip() || r.scores != nil {
		t.Errorf("PreScore = %v, scores %v; want Skip and no scores", r.preScore, r.scores)
	}
	want := "not scored: no dependency has a placed pod yet; talks-to app=cache (weight 1): not placed yet"
	if got := f.explain(t, r, lonely, "a1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}

	// With db placed, cache adds nothing: the scores are db's alone.
	r = f.cycle(t, mixed)
	only := f.cycle(t, talksTo(pod("api-2", "api"), "app=db").Obj())
	if diff := cmp.Diff(only.scores, r.scores); diff != "" {
		t.Errorf("an unplaced dependency changed the scores (-db only +db and cache):\n%s", diff)
	}
	want = "total expected cost 10.0; talks-to app=db (weight 1): 1 pod placed: 1 other zone (cost 10) → expected cost 10.0; talks-to app=cache (weight 1): not placed yet"
	if got := f.explain(t, r, mixed, "a1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}
}

// TestNoDependencies: a pod that talks to nobody and that nobody talks
// to is skipped at every point, and explain says nothing.
func TestNoDependencies(t *testing.T) {
	solo := pod("solo", "solo").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{
		talksTo(pod("frontend-0", "frontend"), "app=api").Node("a1").Obj(),
		solo,
	}})
	r := f.cycle(t, solo)
	if !r.preFilter.IsSkip() || !r.preScore.IsSkip() {
		t.Errorf("PreFilter %v, PreScore %v; want Skip, Skip", r.preFilter, r.preScore)
	}
	if got := f.explain(t, r, solo, "a1"); got != "" {
		t.Errorf("explain = %q, want nothing", got)
	}
}

// TestTalkedToBy: db declares nothing, but api's replicas say they talk
// to it: db is placed near them, the replicas grouped by their
// ReplicaSet; another namespace's talkers do not count.
func TestTalkedToBy(t *testing.T) {
	rs := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	db := pod("db-0", "db").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{
		talksTo(pod("api-0", "api"), "app=db:3").OwnerReference("api-7c9", rs).Node("c1").Obj(),
		talksTo(pod("api-1", "api"), "app=db:3").OwnerReference("api-7c9", rs).Node("c2").Obj(),
		talksTo(pod("stranger", "x"), "app=db").Namespace("elsewhere").Node("a1").Obj(),
		talksTo(pod("bad", "x"), "app=db,").Node("a2").Obj(), // malformed: ignored
		db,
	}})
	r := f.cycle(t, db)
	if got := r.best(); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Errorf("best = %v, want c1 c2 (scores %v)", got, r.scores)
	}
	want := "total expected cost 1.5; talked to by ReplicaSet api-7c9 (weight 3): 2 pods placed: 1 same node, 1 other node (cost 1) → expected cost 0.5"
	if got := f.explain(t, r, db, "c1"); got != want {
		t.Errorf("explain:\n%s\nwant\n%s", got, want)
	}
}

// TestFilterMaxCost: with maxCost 5, nodes whose expected cost to db is
// above 5 are refused with one message per dependency.
func TestFilterMaxCost(t *testing.T) {
	five := int64(5)
	api := talksTo(pod("api-0", "api"), "app=db,app=cache").Obj()
	f := newFixture(t, options{args: &Args{MaxCost: &five}, pods: []*v1.Pod{
		pod("db-0", "db").Node("b1").Obj(),
		pod("db-1", "db").Node("b2").Obj(),
		api,
	}})
	r := f.cycle(t, api)
	if !r.preFilter.IsSuccess() {
		t.Fatalf("PreFilter = %v", r.preFilter)
	}
	msg := "node(s) too far from talks-to app=db (expected network cost above maxCost 5)"
	want := map[string]string{"a1": msg, "a2": msg, "c1": msg, "c2": msg}
	if diff := cmp.Diff(want, r.rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"b1": 0, "b2": 0}, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}

	// Nothing placed yet: nothing to bound, Filter is skipped.
	lonely := talksTo(pod("api-1", "api"), "app=cache").Obj()
	if r := f.cycle(t, lonely); !r.preFilter.IsSkip() {
		t.Errorf("PreFilter with no placed dependency = %v, want Skip", r.preFilter)
	}
	// A node that disappeared from under the snapshot.
	ni := framework.NewNodeInfo()
	if st := f.pl.Filter(f.ctx, r.cs, api, ni); st.Code() != framework.UnschedulableAndUnresolvable {
		t.Errorf("Filter without node = %v", st)
	}
}

// TestInvalidAnnotation: the pod is placed without the annotation, and
// berth says why — in explain, and as one Warning event where the engine
// has side effects.
func TestInvalidAnnotation(t *testing.T) {
	bad := talksTo(pod("api-0", "api"), "app=db,app=cache:x").Obj()
	note := `annotation berth.io/talks-to: term 2 "app=cache:x": weight "x" is not a whole number from 1 to 1000; the pod is placed without the annotation's dependencies`
	for _, side := range []bool{false, true} {
		t.Run(fmt.Sprintf("side effects %v", side), func(t *testing.T) {
			f := newFixture(t, options{sideEffects: side, pods: []*v1.Pod{pod("db-0", "db").Node("b1").Obj(), bad}})
			r := f.cycle(t, bad)
			if !r.preScore.IsSkip() {
				t.Errorf("PreScore = %v, want Skip", r.preScore)
			}
			if got := f.explain(t, r, bad, "a1"); got != note {
				t.Errorf("explain:\n%s\nwant\n%s", got, note)
			}
			f.cycle(t, bad) // a retry does not repeat the event
			var want []string
			if side {
				want = []string{"Warning InvalidTalksTo " + note}
			}
			if diff := cmp.Diff(want, f.drain()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsToRegister(t *testing.T) {
	f := newFixture(t, options{args: &Args{NetworkTopology: &NetworkTopologyRef{Name: "nt"}}})
	evs, err := f.pl.EventsToRegister(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s/%d", e.Event.Resource, e.Event.ActionType))
	}
	want := []string{
		fmt.Sprintf("AssignedPod/%d", framework.Add|framework.Delete|framework.UpdatePodLabel),
		fmt.Sprintf("Node/%d", framework.Add|framework.UpdateNodeLabel),
		fmt.Sprintf("appgroups.appgroup.diktyo.x-k8s.io/%d", framework.Add|framework.UpdateOther|framework.Delete),
		fmt.Sprintf("networktopologies.networktopology.diktyo.x-k8s.io/%d", framework.Add|framework.UpdateOther|framework.Delete),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]framework.EventSource{
		{Resource: "appgroups.appgroup.diktyo.x-k8s.io", GVR: agGVR},
		{Resource: "networktopologies.networktopology.diktyo.x-k8s.io", GVR: ntGVR},
	}, f.pl.EventSources()); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}

	// The hint: a pod of another namespace cannot be a dependency unless
	// the waiting pod is in an AppGroup.
	waiting := pod("api-0", "api").Obj()
	other := st.MakePod().Name("x").Namespace("elsewhere").Obj()
	same := pod("db-0", "db").Obj()
	hint := evs[0].QueueingHintFn
	for _, tc := range []struct {
		waiting, event *v1.Pod
		want           framework.QueueingHint
	}{
		{waiting, same, framework.Queue},
		{waiting, other, framework.QueueSkip},
		{inAppGroup(pod("api-1", "api"), "shop", "api").Obj(), other, framework.Queue},
	} {
		if got, err := hint(klog.Background(), tc.waiting, nil, tc.event); err != nil || got != tc.want {
			t.Errorf("hint(%s, %s) = %v, %v; want %v", tc.waiting.Name, tc.event.Namespace, got, err, tc.want)
		}
	}
	if got, _ := hint(klog.Background(), waiting, other, nil); got != framework.QueueSkip {
		t.Errorf("hint on delete = %v", got)
	}

	// Neither CRD served: no sources, no CRD events.
	f = newFixture(t, options{served: []schema.GroupVersionResource{}, args: &Args{NetworkTopology: &NetworkTopologyRef{Name: "nt"}}})
	evs, _ = f.pl.EventsToRegister(f.ctx)
	if len(evs) != 2 || len(f.pl.EventSources()) != 0 {
		t.Errorf("with no CRD served: %d events, sources %v", len(evs), f.pl.EventSources())
	}
}

func TestName(t *testing.T) {
	if got := newFixture(t, options{}).pl.Name(); got != "NetworkAware" {
		t.Errorf("Name = %q", got)
	}
}

// TestPairCostsInArgs: pair costs given in the args refine a level the
// way a NetworkTopology's do.
func TestPairCostsInArgs(t *testing.T) {
	args := &Args{Levels: []LevelArgs{
		{Key: v1.LabelHostname, Cost: 1},
		{Key: v1.LabelTopologyZone, Cost: 10, Pairs: []PairCost{{From: "b", To: "a", Cost: 3}}},
		{Key: v1.LabelTopologyRegion, Cost: 100},
	}}
	api := talksTo(pod("api-0", "api"), "app=db").Obj()
	f := newFixture(t, options{args: args, pods: []*v1.Pod{pod("db-0", "db").Node("b1").Obj(), api}})
	r := f.cycle(t, api)
	if diff := cmp.Diff(map[string]int64{"a1": 70, "a2": 70, "b1": 100, "b2": 90, "c1": 0, "c2": 0}, r.scores); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
}

// TestTalkerCount: the plugin looks for pods that talk to others only in
// namespaces that have some, following the pod informer.
func TestTalkerCount(t *testing.T) {
	talker := talksTo(pod("frontend-0", "frontend"), "app=api").Node("a1").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{talker}})
	c := f.h.Client.CoreV1().Pods(ns)
	waitFor := func(what string, want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for f.pl.talkers.any(ns) != want {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("the talker to be counted", true)
	if f.pl.talkers.any("elsewhere") {
		t.Error("a namespace without talkers has some")
	}
	quiet := talker.DeepCopy()
	quiet.Annotations = nil
	if _, err := c.Update(f.ctx, quiet, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the annotation's removal", false)
	if _, err := c.Update(f.ctx, talker, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the annotation's return", true)
	if err := c.Delete(f.ctx, talker.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the talker's deletion", false)
}
