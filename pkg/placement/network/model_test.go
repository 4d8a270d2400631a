package network

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	host   = v1.LabelHostname
	zone   = v1.LabelTopologyZone
	region = v1.LabelTopologyRegion
)

// node builds a node with its hostname label and more labels given as
// key, value pairs.
func node(name string, kv ...string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{host: name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func defaultModel(t testing.TB) *Model {
	t.Helper()
	m, err := NewModel(DefaultLevels())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCost(t *testing.T) {
	m := defaultModel(t)
	at := func(n *v1.Node) Location { return m.Locate(n) }
	a1 := node("a1", RackLabel, "r1", zone, "a", region, "eu")
	tests := []struct {
		name string
		a, b *v1.Node
		want int64
	}{
		{"same node", a1, a1, 0},
		{"same rack", a1, node("a2", RackLabel, "r1", zone, "a", region, "eu"), 1},
		{"other rack, same zone", a1, node("a3", RackLabel, "r2", zone, "a", region, "eu"), 2},
		{"other zone, same region", a1, node("b1", RackLabel, "r1", zone, "b", region, "eu"), 10},
		{"other region", a1, node("c1", RackLabel, "r1", zone, "a", region, "us"), 100},
		// A rack name reused in another zone is another rack: domains are
		// identified together with the broader ones.
		{"same rack name, other zone", a1, node("b2", RackLabel, "r1", zone, "b", region, "eu"), 10},
		// Labels both nodes lack say nothing: no racks anywhere, so nodes
		// of one zone cross only the node boundary.
		{"no racks, same zone", node("x1", zone, "a", region, "eu"), node("x2", zone, "a", region, "eu"), 1},
		{"no regions, other zone", node("x1", zone, "a"), node("x2", zone, "b"), 10},
		{"no regions, same zone", node("x1", zone, "a"), node("x2", zone, "a"), 1},
		// A label only one node has is a difference at that level.
		{"region on one node only", node("x1", zone, "a", region, "eu"), node("x2", zone, "a"), 100},
		{"rack on one node only", node("x1", RackLabel, "r1", zone, "a"), node("x2", zone, "a"), 2},
		// Nothing but names: different nodes still cross the node level.
		{"no labels at all", &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "q"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Cost(at(tt.a), at(tt.b)); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
			if got := m.Cost(at(tt.b), at(tt.a)); got != tt.want {
				t.Errorf("Cost reversed = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCostPairs(t *testing.T) {
	levels := DefaultLevels()
	levels[2].Pairs = map[Pair]int64{{"a", "b"}: 5, {"a", "c"}: 30, {"c", "a"}: 40}
	m, err := NewModel(levels)
	if err != nil {
		t.Fatal(err)
	}
	m, unused := m.WithPairs(map[string]map[Pair]int64{
		region:             {{"eu", "us"}: 70},
		zone:               {{"a", "c"}: 35},
		"example.com/pod":  {{"x", "y"}: 1},
		"example.com/cage": {{"x", "y"}: 1},
	})
	if diff := cmp.Diff([]string{"example.com/cage", "example.com/pod"}, unused); diff != "" {
		t.Errorf("unused keys (-want +got):\n%s", diff)
	}
	loc := func(name, z, r string) Location { return m.Locate(node(name, zone, z, region, r)) }
	for _, tt := range []struct {
		name string
		a, b Location
		want int64
	}{
		{"pair", loc("1", "a", "eu"), loc("2", "b", "eu"), 5},
		{"pair serves the other direction", loc("1", "b", "eu"), loc("2", "a", "eu"), 5},
		{"each direction its own", loc("1", "c", "eu"), loc("2", "a", "eu"), 40},
		{"extra pairs win", loc("1", "a", "eu"), loc("2", "c", "eu"), 35},
		{"no pair: the level's cost", loc("1", "b", "eu"), loc("2", "c", "eu"), 10},
		{"region pair", loc("1", "a", "eu"), loc("2", "a", "us"), 70},
		{"same zone", loc("1", "a", "eu"), loc("2", "a", "eu"), 1},
	} {
		if got := m.Cost(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Cost = %d, want %d", tt.name, got, tt.want)
		}
	}
	// WithPairs leaves the model it was called on alone.
	if defaultModel(t).Levels()[3].Pairs != nil {
		t.Error("default levels have pairs")
	}
}

func TestNewModel(t *testing.T) {
	if _, err := NewModel(nil); err == nil {
		t.Error("no levels: no error")
	}
	if _, err := NewModel([]Level{{Key: zone, Cost: 1}, {Key: zone, Cost: 2}}); err == nil {
		t.Error("repeated key: no error")
	}
	if _, err := NewModel([]Level{{Key: "", Cost: 1}}); err == nil {
		t.Error("empty key: no error")
	}
}

func TestLevelName(t *testing.T) {
	for key, want := range map[string]string{
		host: "node", RackLabel: "rack", zone: "zone", region: "region", "pod-network": "pod-network",
	} {
		if got := LevelName(key); got != want {
			t.Errorf("LevelName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestMeanIsTheMeanCost checks the aggregate against the definition — the
// mean over the placed pods of Cost — on random clusters with missing
// labels, reused rack names and pair costs.
func TestMeanIsTheMeanCost(t *testing.T) {
	levels := DefaultLevels()
	levels[2].Pairs = map[Pair]int64{{"z0", "z1"}: 4, {"z2", "z0"}: 25}
	levels[3].Pairs = map[Pair]int64{{"r0", "r1"}: 60}
	m, err := NewModel(levels)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(key string, n int) []string {
		if rng.IntN(5) == 0 {
			return nil // label missing
		}
		return []string{key, string(rune('0' + rng.IntN(n)))}
	}
	for round := range 50 {
		var nodes []Location
		for i := range 2 + rng.IntN(12) {
			var kv []string
			kv = append(kv, prefixed("r", pick(region, 2))...)
			kv = append(kv, prefixed("z", pick(zone, 3))...)
			kv = append(kv, pick(RackLabel, 2)...)
			n := node(string(rune('a'+i)), kv...)
			if rng.IntN(6) == 0 {
				delete(n.Labels, host)
			}
			nodes = append(nodes, m.Locate(n))
		}
		p := m.NewPlaced()
		var pods []Location
		for range rng.IntN(20) {
			l := nodes[rng.IntN(len(nodes))]
			n := 1 + rng.IntN(3)
			if n == 1 {
				p.Add(l)
			} else {
				p.AddN(l, n)
			}
			for range n {
				pods = append(pods, l)
			}
		}
		p.AddN(nodes[0], 0) // adds nothing
		for _, at := range nodes {
			var sum int64
			for _, q := range pods {
				sum += m.Cost(at, q)
			}
			want := 0.0
			if len(pods) > 0 {
				want = float64(sum) / float64(len(pods))
			}
			if got := p.Mean(at); got != want {
				t.Fatalf("round %d, node %s: Mean = %v, want %v", round, at.Node, got, want)
			}
			n := 0
			var cost float64
			for _, g := range p.Groups(at) {
				n += g.Count
				cost += g.Cost * float64(g.Count)
			}
			if n != len(pods) || (n > 0 && !approxEqual(cost/float64(n), want)) {
				t.Fatalf("round %d, node %s: groups %v cover %d pods at mean %v, want %d at %v", round, at.Node, p.Groups(at), n, cost/float64(n), len(pods), want)
			}
		}
	}
}

// prefixed puts prefix before the value of a key, value pair.
func prefixed(prefix string, kv []string) []string {
	if kv == nil {
		return nil
	}
	return []string{kv[0], prefix + kv[1]}
}

func approxEqual(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestGroups(t *testing.T) {
	m := defaultModel(t)
	a1 := m.Locate(node("a1", RackLabel, "r1", zone, "a", region, "eu"))
	p := m.NewPlaced()
	for _, n := range []*v1.Node{
		node("a1", RackLabel, "r1", zone, "a", region, "eu"),
		node("a2", RackLabel, "r1", zone, "a", region, "eu"),
		node("a3", RackLabel, "r2", zone, "a", region, "eu"),
		node("a3", RackLabel, "r2", zone, "a", region, "eu"),
		node("b1", RackLabel, "r1", zone, "b", region, "eu"),
		node("u1", zone, "u", region, "us"),
	} {
		p.Add(m.Locate(n))
	}
	want := []Group{{Level: -1, Count: 1}, {Level: 0, Count: 1, Cost: 1}, {Level: 1, Count: 2, Cost: 2}, {Level: 2, Count: 1, Cost: 10}, {Level: 3, Count: 1, Cost: 100}}
	if diff := cmp.Diff(want, p.Groups(a1)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got, want := p.Mean(a1), (0+1+2+2+10+100)/6.0; got != want {
		t.Errorf("Mean = %v, want %v", got, want)
	}
	if p.Count() != 6 {
		t.Errorf("Count = %d", p.Count())
	}
	if got := m.NewPlaced().Mean(a1); got != 0 {
		t.Errorf("Mean of nothing = %v", got)
	}
}
