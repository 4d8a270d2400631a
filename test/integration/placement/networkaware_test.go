package placement

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// networkConfig enables NetworkAware with its default levels (node 1,
// rack 2, zone 10, region 100) at weight 5, as docs/network-aware.md
// shows; every other plugin is berth's default, PodTopologySpread's
// system default constraints (which spread a ReplicaSet's pods over zones
// and nodes) included.
var networkConfig = configFor("NetworkAware", 5, "")

var zones = []string{"zone-a", "zone-b", "zone-c"}

// zonesAndRacks labels nodes over zones × racksPerZone racks, perRack
// nodes each, in zone-major order: rack r1 of every zone, then r2…
// (rack names repeat across zones, as they often do).
func zonesAndRacks(racksPerZone, perRack int) func(int) map[string]string {
	return func(i int) map[string]string {
		rack := i / perRack
		return map[string]string{
			v1.LabelTopologyZone:   zones[rack/racksPerZone%len(zones)],
			rackLabel:              fmt.Sprintf("r%d", rack%racksPerZone+1),
			v1.LabelTopologyRegion: "region-1",
		}
	}
}

// rackOf names a node's rack with its zone (rack names repeat).
func (e *env) rackOf(node string) string {
	return e.label(node, v1.LabelTopologyZone) + "/" + e.label(node, rackLabel)
}

// within fails t unless every pod of placed runs in a domain (by key, or
// rack when key is rackLabel) that hosts a pod of near.
func (e *env) within(what string, placed, near map[string]string, key string) {
	e.t.Helper()
	of := func(n string) string { return e.label(n, key) }
	if key == rackLabel {
		of = e.rackOf
	}
	ok := map[string]bool{}
	for _, n := range near {
		ok[of(n)] = true
	}
	for p, n := range placed {
		if !ok[of(n)] {
			e.t.Errorf("%s: %s runs on %s in %s %s, where none of %v runs: %s", what, p, n, key, of(n), slices.Sorted(maps.Keys(near)),
				e.describe(placed, v1.LabelTopologyZone, rackLabel))
		}
	}
}

// TestChainColocatesDBFirst: 3 zones × 2 racks × 2 nodes. db (2 pods,
// pinned to zone-b by a nodeSelector) comes first, then api (3 pods,
// talks-to app=db), then frontend (2 pods, talks-to app=api). With room
// everywhere, api runs in db's zone and racks, frontend in api's, despite
// the default spreading of each ReplicaSet. Explain on an api pod shows
// the cost to app=db node by node.
func TestChainColocatesDBFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "chain", 12, zonesAndRacks(2, 2), networkConfig)
	db := &workload{app: "db", cpu: "500m", edit: func(p *v1.Pod) { p.Spec.NodeSelector[v1.LabelTopologyZone] = "zone-b" }}
	api := &workload{app: "api", cpu: "500m", talksTo: "app=db"}
	frontend := &workload{app: "frontend", cpu: "500m", talksTo: "app=api"}

	dbs := e.run(db, 0, 2)
	apis := e.run(api, 0, 3)
	fronts := e.run(frontend, 0, 2)
	t.Logf("db %s; api %s; frontend %s", e.describe(dbs, v1.LabelTopologyZone, rackLabel),
		e.describe(apis, v1.LabelTopologyZone, rackLabel), e.describe(fronts, v1.LabelTopologyZone, rackLabel))
	e.within("api near db", apis, dbs, rackLabel)
	e.within("frontend near api", fronts, apis, rackLabel)

	// api-0 is evaluated as if pending: the best nodes hold a db pod, and
	// each such node's note counts that pod as on the same node.
	out := e.explain("api-0")
	hosts := map[string]bool{}
	for _, n := range dbs {
		hosts[n] = true
	}
	found := false
	for n := range e.nodes {
		for _, l := range nodeLines(out, n) {
			if !strings.Contains(l, "NetworkAware: total expected cost ") {
				continue
			}
			if !strings.Contains(l, "talks-to app=db (weight 1): 2 pods placed: ") {
				t.Errorf("explain on api-0: the note of %s lacks the cost to app=db: %s", n, l)
			}
			if hosts[n] {
				found = true
				if !strings.Contains(l, "talks-to app=db (weight 1): 2 pods placed: 1 same node, ") {
					t.Errorf("explain on api-0: %s holds a db pod but its note does not say so: %s", n, l)
				}
			}
		}
	}
	if !found {
		t.Errorf("explain on api-0 shows no NetworkAware note for a node holding a db pod (%v):\n%s", slices.Sorted(maps.Keys(hosts)), out)
	}
}

// TestChainColocatesReversed: the same chain created in the reverse order,
// frontend first (nothing to be near: placed by the other scorers), then
// api, then db. Only frontend declares app=api and only api declares
// app=db, so api comes near frontend and db near api through the edges'
// other direction ("talked to by"), which explain on db shows.
func TestChainColocatesReversed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "reversed", 12, zonesAndRacks(2, 2), networkConfig)
	db := &workload{app: "db", cpu: "500m"}
	api := &workload{app: "api", cpu: "500m", talksTo: "app=db"}
	frontend := &workload{app: "frontend", cpu: "500m", talksTo: "app=api"}

	fronts := e.run(frontend, 0, 2)
	apis := e.run(api, 0, 3)
	dbs := e.run(db, 0, 2)
	t.Logf("frontend %s; api %s; db %s", e.describe(fronts, v1.LabelTopologyZone, rackLabel),
		e.describe(apis, v1.LabelTopologyZone, rackLabel), e.describe(dbs, v1.LabelTopologyZone, rackLabel))
	e.within("api near frontend", apis, fronts, v1.LabelTopologyZone)
	e.within("db near api", dbs, apis, rackLabel)

	out := e.explain("db-0")
	want := fmt.Sprintf("talked to by ReplicaSet %s (weight 1): 3 pods placed: ", api.rs.Name)
	if !strings.Contains(out, "NetworkAware: total expected cost") || !strings.Contains(out, want) {
		t.Errorf("explain on db-0 lacks the incoming edge %q:\n%s", want, out)
	}
}

// TestAntiAffinitySpreadsAPI: 3 zones × 1 rack × 2 nodes, one db pod
// pinned to zone-c, and api pods that talk to db but must not share a
// zone (required pod anti-affinity on the zone key). The first api pod
// goes to db's zone; the next two to the two other zones, one each; a
// fourth has no zone left and stays pending, with the anti-affinity as
// the reason.
func TestAntiAffinitySpreadsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "anti", 6, zonesAndRacks(1, 2), networkConfig)
	db := &workload{app: "db", cpu: "500m", edit: func(p *v1.Pod) { p.Spec.NodeSelector[v1.LabelTopologyZone] = "zone-c" }}
	api := &workload{app: "api", cpu: "500m", talksTo: "app=db", edit: func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				TopologyKey:   v1.LabelTopologyZone,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			}},
		}}
	}}

	e.run(db, 0, 1)
	first := e.run(api, 0, 1)
	if z := e.label(first["api-0"], v1.LabelTopologyZone); z != "zone-c" {
		t.Errorf("the first api pod went to %s, not to db's zone-c", z)
	}
	// One at a time, so that each sees the previous one bound.
	all := maps.Clone(first)
	maps.Copy(all, e.run(api, 1, 2))
	maps.Copy(all, e.run(api, 2, 3))
	if got := e.domains(all, v1.LabelTopologyZone); len(got) != 3 {
		t.Errorf("the api pods share zones despite their anti-affinity: %s", e.describe(all, v1.LabelTopologyZone))
	}
	e.create(e.pod(api, 3))
	if msg := e.failedScheduling("api-3"); !strings.Contains(msg, "didn't match pod anti-affinity rules") {
		t.Errorf("the fourth api pod's FailedScheduling message does not name the anti-affinity:\n%s", msg)
	}
}

// maxCostConfig bounds the expected cost to any placed dependency at 5:
// half a zone away on average.
var maxCostConfig = configFor("NetworkAware", 5, "      maxCost: 5\n")

// TestMaxCostRefusesFarNodes: one node per zone, db on zone-a's. With
// maxCost 5, an api pod too big for zone-a's node stays pending: the
// other two nodes are a zone away (cost 10), and the event counts them
// under the plugin's reason. An api pod that fits goes to zone-a.
func TestMaxCostRefusesFarNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "maxcost", 3, zonesAndRacks(1, 1), maxCostConfig)
	db := &workload{app: "db", cpu: "2", edit: func(p *v1.Pod) { p.Spec.NodeSelector[v1.LabelTopologyZone] = "zone-a" }}
	e.run(db, 0, 1)
	big := &workload{app: "big", cpu: "7", talksTo: "app=db"}
	e.create(e.pod(big, 0))
	msg := e.failedScheduling("big-0")
	for _, want := range []string{"1 Insufficient cpu", "2 node(s) too far from talks-to app=db (expected network cost above maxCost 5)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the FailedScheduling message lacks %q:\n%s", want, msg)
		}
	}
	api := &workload{app: "api", cpu: "1", talksTo: "app=db"}
	if n := e.run(api, 0, 1)["api-0"]; e.label(n, v1.LabelTopologyZone) != "zone-a" {
		t.Errorf("api-0 went to %s in %s, beyond maxCost", n, e.label(n, v1.LabelTopologyZone))
	}
}
