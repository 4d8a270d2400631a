package load

import (
	"strings"
	"testing"
	"time"
)

var now0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func sample(v float64, age time.Duration) Sample {
	return Sample{Value: v, Time: now0.Add(-age), Window: time.Minute}
}

func cpuMem() [NumResources]float64 { return [NumResources]float64{CPU: 1, Memory: 1} }

func basePolicy() Policy {
	return Policy{Mode: LeastUtilized, Weights: cpuMem(), TTL: 2 * time.Minute, Warmup: 30 * time.Second, Target: 0.6, RiskK: 1}
}

func nodeWith(cpu, mem float64, age time.Duration) NodeState {
	nl := &NodeLoad{}
	nl.Samples[CPU] = sample(cpu, age)
	nl.Samples[Memory] = sample(mem, age)
	return NodeState{Name: "n1", Load: nl,
		Allocatable: [NumResources]float64{CPU: 4000, Memory: 16 << 30},
		Requested:   [NumResources]float64{CPU: 1000, Memory: 4 << 30}}
}

func TestViewFreshness(t *testing.T) {
	p := basePolicy()
	cases := []struct {
		name       string
		ns         NodeState
		byRequests bool
		reason     string
		util       float64
	}{
		{"fresh", nodeWith(0.8, 0.5, 20*time.Second), false, "", 0.8},
		{"stale", nodeWith(0.8, 0.5, 4*time.Minute), true, "load data for n1 is 4m0s old (ttl 2m0s); scored by requests", 0.25},
		{"no data", NodeState{Name: "n1", Allocatable: [NumResources]float64{CPU: 4000, Memory: 1}, Requested: [NumResources]float64{CPU: 2000}, Problem: "prometheus has not answered yet"},
			true, "no load data for n1 (prometheus has not answered yet); scored by requests", 0.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := p.View(now0, c.ns, p.Weights)
			if v.ByRequests != c.byRequests || v.Reason != c.reason {
				t.Fatalf("got byRequests=%v reason %q, want %v %q", v.ByRequests, v.Reason, c.byRequests, c.reason)
			}
			if v.Util[CPU] != c.util {
				t.Errorf("cpu util %v, want %v", v.Util[CPU], c.util)
			}
		})
	}
}

func TestViewMissingOneResource(t *testing.T) {
	p := basePolicy()
	ns := nodeWith(0.3, 0.3, 0)
	ns.Load.Samples[Memory] = Sample{}
	ns.Problem = `query "mem" failed`
	v := p.View(now0, ns, p.Weights)
	if !v.ByRequests || !strings.Contains(v.Reason, "no memory data for n1") || !strings.Contains(v.Reason, `query "mem" failed`) {
		t.Fatalf("reason %q", v.Reason)
	}
	// A resource the pod is not scored by does not matter.
	w := p.Weights
	w[Memory] = 0
	if v := p.View(now0, ns, w); v.ByRequests {
		t.Fatalf("memory has weight 0, yet the view fell back: %s", v.Reason)
	}
}

// TestEstimates: pods placed after the sample's window began (minus the
// warmup) are added; older ones are in the sample already.
func TestEstimates(t *testing.T) {
	p := basePolicy()
	ns := nodeWith(0.5, 0.5, 10*time.Second) // sample at now0-10s, window 1m: covers now0-70s..now0-10s
	ns.Placed = []Placement{
		{At: now0.Add(-5 * time.Second), Share: [NumResources]float64{CPU: 0.1, Memory: 0.05}},  // after the sample
		{At: now0.Add(-80 * time.Second), Share: [NumResources]float64{CPU: 0.1, Memory: 0.05}}, // in the window, within warmup
		{At: now0.Add(-10 * time.Minute), Share: [NumResources]float64{CPU: 0.1, Memory: 0.05}}, // long before: in the sample
	}
	v := p.View(now0, ns, p.Weights)
	if v.EstimatedPods != 2 {
		t.Fatalf("estimated pods %d, want 2", v.EstimatedPods)
	}
	if got := v.Util[CPU]; got < 0.699 || got > 0.701 {
		t.Fatalf("cpu util %v, want 0.7 (0.5 measured + 2×0.1)", got)
	}
}

// TestNoHerding: a burst of pods placed one after the other on the node
// that looked coolest moves to the other node once the estimates make the
// first look busier — the failure mode of scoring the raw sample.
func TestNoHerding(t *testing.T) {
	p := basePolicy()
	a, b := nodeWith(0.30, 0.3, 5*time.Second), nodeWith(0.40, 0.3, 5*time.Second)
	a.Name, b.Name = "a", "b"
	pod := [NumResources]float64{CPU: 0.05}
	chosen := map[string]int{}
	for i := 0; i < 10; i++ {
		va, vb := p.View(now0, a, p.Weights), p.View(now0, b, p.Weights)
		sa, sb := p.Score(va, pod, p.Weights), p.Score(vb, pod, p.Weights)
		target := &a
		if sb > sa {
			target = &b
		}
		chosen[target.Name]++
		target.Placed = append(target.Placed, Placement{At: now0, Share: pod})
	}
	if chosen["a"] == 10 || chosen["b"] == 0 {
		t.Fatalf("every pod went to the same node: %v", chosen)
	}
}

func TestScoreModes(t *testing.T) {
	none := [NumResources]float64{}
	mk := func(cpu float64) View {
		var v View
		v.Util[CPU], v.Util[Memory] = cpu, cpu
		return v
	}
	p := basePolicy()
	if lo, hi := p.Score(mk(0.2), none, p.Weights), p.Score(mk(0.8), none, p.Weights); lo <= hi {
		t.Errorf("leastUtilized: idle node %d should beat busy node %d", lo, hi)
	}
	p.Mode = TargetLoadPacking
	at, below, above, idle := p.Score(mk(0.6), none, p.Weights), p.Score(mk(0.4), none, p.Weights), p.Score(mk(0.9), none, p.Weights), p.Score(mk(0), none, p.Weights)
	if !(at == 100 && below > idle && idle > above) {
		t.Errorf("targetLoadPacking: at target %d, below %d, idle %d, above %d", at, below, idle, above)
	}
	p.Mode = RiskBalancing
	steady, swinging := mk(0.4), mk(0.4)
	steady.Risk[CPU], steady.HasRisk[CPU] = 0.45, true
	swinging.Risk[CPU], swinging.HasRisk[CPU] = 0.9, true
	if s, w := p.Score(steady, none, p.Weights), p.Score(swinging, none, p.Weights); s <= w {
		t.Errorf("riskBalancing: steady %d should beat swinging %d", s, w)
	}
	// Forecast: a node about to peak loses to one that stays flat.
	p.Mode, p.UseForecast = LeastUtilized, true
	flat, peaking := mk(0.4), mk(0.3)
	peaking.Peak[CPU], peaking.HasPeak[CPU] = 0.85, true
	if f, pk := p.Score(flat, none, p.Weights), p.Score(peaking, none, p.Weights); f <= pk {
		t.Errorf("forecast: flat %d should beat peaking %d", f, pk)
	}
}

func TestExceeds(t *testing.T) {
	p := basePolicy()
	p.Thresholds[CPU] = 0.9
	hot := nodeWith(0.95, 0.2, 0)
	if r, u, ok := p.Exceeds(p.View(now0, hot, p.Weights)); !ok || r != CPU || u != 0.95 {
		t.Fatalf("hot node not refused: %v %v %v", r, u, ok)
	}
	// Stale data never refuses: an unreachable source must not block.
	stale := nodeWith(0.95, 0.2, 10*time.Minute)
	if _, _, ok := p.Exceeds(p.View(now0, stale, p.Weights)); ok {
		t.Fatal("stale data refused a node")
	}
	// A trusted CPU sample still refuses when another resource is missing.
	partial := nodeWith(0.95, 0.2, 0)
	partial.Load.Samples[Memory] = Sample{}
	v := p.View(now0, partial, p.Weights)
	if !v.ByRequests {
		t.Fatal("expected a fallback for the missing memory")
	}
	if _, _, ok := p.Exceeds(v); !ok {
		t.Fatal("a fresh 95% CPU sample passed the 90% threshold because memory was missing")
	}
}

func TestDescribe(t *testing.T) {
	p := basePolicy()
	ns := nodeWith(0.62, 0.4, 20*time.Second)
	ns.Placed = []Placement{{At: now0, Share: [NumResources]float64{CPU: 0.08}}}
	got := p.Describe(p.View(now0, ns, p.Weights), p.Weights)
	want := "measured cpu 70% (+8% estimated), memory 40%; 1 pod(s) placed since the sample counted as estimates; data 20s old"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestSnapshotLookupAndKeys(t *testing.T) {
	s := &Snapshot{Nodes: map[string]*NodeLoad{"10.0.0.5": {}, "node-b": {}}}
	if s.Lookup("node-a", []string{"10.0.0.5"}) == nil || s.Lookup("node-b", nil) == nil || s.Lookup("node-c", []string{"x"}) != nil {
		t.Fatal("lookup by name or address failed")
	}
	if NodeKey("10.0.0.5:9100") != "10.0.0.5" || NodeKey("node-a") != "node-a" || NodeKey("[fe80::1]:9100") != "fe80::1" {
		t.Fatal("NodeKey")
	}
	var nilSnap *Snapshot
	if nilSnap.Lookup("x", nil) != nil {
		t.Fatal("nil snapshot")
	}
	for _, r := range []string{"cpu", "memory", "gpu", "diskIO"} {
		if got, ok := ParseResource(r); !ok || got.String() != r {
			t.Fatalf("ParseResource(%q)", r)
		}
	}
}
