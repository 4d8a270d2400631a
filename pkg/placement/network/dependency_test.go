package network

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
)

// placedIn counts pods on the given nodes.
func placedIn(m *Model, nodes ...*v1.Node) *Placed {
	p := m.NewPlaced()
	for _, n := range nodes {
		p.Add(m.Locate(n))
	}
	return p
}

func TestExpectedAndDescribe(t *testing.T) {
	m := defaultModel(t)
	a1 := node("a1", RackLabel, "r1", zone, "a", region, "eu")
	a3 := node("a3", RackLabel, "r2", zone, "a", region, "eu")
	a4 := node("a4", RackLabel, "r3", zone, "a", region, "eu")
	b1 := node("b1", RackLabel, "r1", zone, "b", region, "eu")
	b2 := node("b2", RackLabel, "r2", zone, "b", region, "eu")
	db := &Dependency{Name: "talks-to app=db", Weight: 1, Placed: placedIn(m, a3, a4, b1, b2)}
	cache := &Dependency{Name: "talks-to app=cache", Weight: 5, Placed: m.NewPlaced()}
	front := &Dependency{Name: "talked to by ReplicaSet frontend-7c9", Weight: 2, Placed: placedIn(m, a1)}
	deps := []*Dependency{db, cache, front}
	at := m.Locate(a1)

	// db: 2 other rack (2) + 2 other zone (10) = 6 on average; cache
	// contributes nothing; frontend is on the node itself.
	if got := Expected(deps, at); got != 6 {
		t.Errorf("Expected = %v, want 6", got)
	}
	want := "total expected cost 6.0; " +
		"talks-to app=db (weight 1): 4 pods placed: 2 other rack (cost 2), 2 other zone (cost 10) → expected cost 6.0; " +
		"talks-to app=cache (weight 5): not placed yet; " +
		"talked to by ReplicaSet frontend-7c9 (weight 2): 1 pod placed: 1 same node → expected cost 0.0"
	if got := m.Describe(deps, at); got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
	// Weights multiply: from b1, db costs (10+10+2+0)/4 = 5.5 and the
	// frontend, one zone away, 2 × 10.
	if got := Expected(deps, m.Locate(b1)); got != 5.5+20 {
		t.Errorf("Expected from b1 = %v, want 25.5", got)
	}
	want = "not scored: no dependency has a placed pod yet; talks-to app=cache (weight 5): not placed yet"
	if got := m.Describe([]*Dependency{cache}, at); got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
	if got := Expected(nil, at); got != 0 {
		t.Errorf("Expected of nothing = %v", got)
	}
}

func TestDescribePairCosts(t *testing.T) {
	levels := DefaultLevels()
	levels[2].Pairs = map[Pair]int64{{"a", "b"}: 5}
	m, err := NewModel(levels)
	if err != nil {
		t.Fatal(err)
	}
	d := &Dependency{Name: "talks-to app=db", Weight: 1,
		Placed: placedIn(m, node("b1", zone, "b", region, "eu"), node("c1", zone, "c", region, "eu"))}
	want := "total expected cost 7.5; talks-to app=db (weight 1): 2 pods placed: 2 other zone (cost 7.5) → expected cost 7.5"
	if got := m.Describe([]*Dependency{d}, m.Locate(node("a1", zone, "a", region, "eu"))); got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
}

func TestExceeded(t *testing.T) {
	m := defaultModel(t)
	a1 := node("a1", zone, "a", region, "eu")
	b1 := node("b1", zone, "b", region, "eu")
	db := &Dependency{Name: "talks-to app=db", Weight: 1, Limited: true, MaxCost: 5, Limit: "maxCost", Placed: placedIn(m, a1, b1)}
	unlimited := &Dependency{Name: "talks-to app=x", Weight: 1, Placed: placedIn(m, b1)}
	unplaced := &Dependency{Name: "talks-to app=y", Weight: 1, Limited: true, MaxCost: 0, Placed: m.NewPlaced()}
	deps := []*Dependency{unlimited, unplaced, db}

	// From a1: db costs (0+10)/2 = 5, not above 5.
	if d, _ := Exceeded(deps, m.Locate(a1)); d != nil {
		t.Errorf("a1 exceeds %s", d.Name)
	}
	// From a2 (zone a, another node): (1+10)/2 = 5.5.
	d, c := Exceeded(deps, m.Locate(node("a2", zone, "a", region, "eu")))
	if d != db || c != 5.5 {
		t.Errorf("a2: Exceeded = %v, %v; want db at 5.5", d, c)
	}
}

func TestAppGroupEdges(t *testing.T) {
	wl := func(sel string) agv1alpha1.AppGroupWorkloadInfo {
		return agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: sel + "-deployment", Selector: sel}
	}
	ag := &agv1alpha1.AppGroup{Spec: agv1alpha1.AppGroupSpec{Workloads: []agv1alpha1.AppGroupWorkload{
		{Workload: wl("frontend"), Dependencies: []agv1alpha1.DependenciesInfo{{Workload: wl("api")}, {Workload: wl("cache")}}},
		{Workload: wl("api"), Dependencies: []agv1alpha1.DependenciesInfo{{Workload: wl("db"), MaxNetworkCost: 20}, {Workload: wl("db"), MaxNetworkCost: 30}}},
		{Workload: wl("db")},
		{Workload: wl("batch"), Dependencies: []agv1alpha1.DependenciesInfo{{Workload: wl("api")}}},
	}}}
	edges, found := AppGroupEdges(ag, "api")
	want := []WorkloadEdge{
		{Workload: wl("db"), Direction: Outgoing, MaxNetworkCost: 20},
		{Workload: wl("frontend"), Direction: Incoming},
		{Workload: wl("batch"), Direction: Incoming},
	}
	if !found {
		t.Error("api not found")
	}
	if diff := cmp.Diff(want, edges); diff != "" {
		t.Errorf("api's edges (-want +got):\n%s", diff)
	}
	// cache is only ever depended on: found, with one incoming edge.
	edges, found = AppGroupEdges(ag, "cache")
	if !found || len(edges) != 1 || edges[0].Workload.Selector != "frontend" || edges[0].Direction != Incoming {
		t.Errorf("cache: %v, %v", edges, found)
	}
	// db has no dependencies of its own but is listed.
	if edges, found := AppGroupEdges(ag, "db"); !found || len(edges) != 1 {
		t.Errorf("db: %v, %v", edges, found)
	}
	if edges, found := AppGroupEdges(ag, "nope"); found || edges != nil {
		t.Errorf("unknown workload: %v, %v", edges, found)
	}
}

func TestTopologyPairs(t *testing.T) {
	nt := &ntv1alpha1.NetworkTopology{Spec: ntv1alpha1.NetworkTopologySpec{Weights: []ntv1alpha1.WeightInfo{
		{Name: "NetperfCosts", TopologyList: []ntv1alpha1.TopologyInfo{{TopologyKey: zone, OriginList: []ntv1alpha1.OriginInfo{
			{Origin: "z1", CostList: []ntv1alpha1.CostInfo{{Destination: "z2", NetworkCost: 99}}},
		}}}},
		{Name: "UserDefined", TopologyList: []ntv1alpha1.TopologyInfo{
			{TopologyKey: region, OriginList: []ntv1alpha1.OriginInfo{
				{Origin: "us-west-1", CostList: []ntv1alpha1.CostInfo{{Destination: "us-east-1", NetworkCost: 20}}},
			}},
			{TopologyKey: zone, OriginList: []ntv1alpha1.OriginInfo{
				{Origin: "z1", CostList: []ntv1alpha1.CostInfo{{Destination: "z2", NetworkCost: 5}, {Destination: "z3", NetworkCost: 7}}},
				{Origin: "z2", CostList: []ntv1alpha1.CostInfo{{Destination: "z1", NetworkCost: 6}}},
			}},
		}},
	}}}
	got, found := TopologyPairs(nt, "UserDefined")
	want := map[string]map[Pair]int64{
		region: {{"us-west-1", "us-east-1"}: 20},
		zone:   {{"z1", "z2"}: 5, {"z1", "z3"}: 7, {"z2", "z1"}: 6},
	}
	if !found {
		t.Error("UserDefined not found")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
	if got, found := TopologyPairs(nt, "Other"); found || got != nil {
		t.Errorf("unknown set: %v, %v", got, found)
	}
}

func TestNormalized(t *testing.T) {
	for _, tt := range []struct {
		cost, cheapest, dearest, want int64
	}{
		{cost: 1000, cheapest: 1000, dearest: 10000, want: 100},
		{cost: 10000, cheapest: 1000, dearest: 10000, want: 0},
		{cost: 5500, cheapest: 1000, dearest: 10000, want: 50},
		{cost: 3000, cheapest: 3000, dearest: 3000, want: 0},
	} {
		if got := Normalized(tt.cost, tt.cheapest, tt.dearest, 100); got != tt.want {
			t.Errorf("Normalized(%d, %d, %d) = %d, want %d", tt.cost, tt.cheapest, tt.dearest, got, tt.want)
		}
	}
	if RawCost(6.0) != 6000 || RawCost(2.0/3) != 667 {
		t.Errorf("RawCost = %d, %d", RawCost(6.0), RawCost(2.0/3))
	}
}

func TestTalkerAndEligible(t *testing.T) {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "frontend-7c9-x2x", OwnerReferences: []metav1.OwnerReference{
		{Kind: "Service", Name: "not-a-controller"},
		{Kind: "ReplicaSet", Name: "frontend-7c9", Controller: ptr.To(true)},
	}}}
	if got := Talker(p); got != "ReplicaSet frontend-7c9" {
		t.Errorf("Talker = %q", got)
	}
	if got := Talker(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"}}); got != "pod debug" {
		t.Errorf("Talker = %q", got)
	}
	if !Eligible(p) {
		t.Error("a running pod is not eligible")
	}
	done := p.DeepCopy()
	done.Status.Phase = v1.PodSucceeded
	leaving := p.DeepCopy()
	leaving.DeletionTimestamp = &metav1.Time{}
	if Eligible(done) || Eligible(leaving) {
		t.Error("a finished or deleted pod is eligible")
	}
}
