package loadsim

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
	"github.com/berthsched/berth/pkg/plugins"
)

var small struct {
	once sync.Once
	rep  *Report
	err  error
}

// smallReport runs the small preset once for the tests that read it:
// what `make test` runs.
func smallReport(t *testing.T) *Report {
	t.Helper()
	small.once.Do(func() {
		o, err := SizeOptions(SizeSmall)
		if err != nil {
			small.err = err
			return
		}
		o.Registry = plugins.NewInTreeRegistry()
		small.rep, small.err = Run(context.Background(), o)
	})
	if small.err != nil {
		t.Fatal(small.err)
	}
	return small.rep
}

// TestSmallSamePacking: every policy places every pod, so they compare
// at the same packing.
func TestSmallSamePacking(t *testing.T) {
	rep := smallReport(t)
	if len(rep.Results) != len(DefaultPolicies()) {
		t.Fatalf("%d results for %d policies", len(rep.Results), len(DefaultPolicies()))
	}
	base := rep.Results[0]
	wantMinutes := rep.Nodes * int(rep.Days*MinutesPerDay)
	for _, r := range rep.Results {
		if r.Failed != 0 || r.Placed != rep.Pods {
			t.Errorf("%s placed %d and failed %d of %d pods", r.Policy.Name, r.Placed, r.Failed, rep.Pods)
		}
		if r.MeanRequested != base.MeanRequested || r.MaxRequested != base.MaxRequested {
			t.Errorf("%s: requested mean %v max %v, %s: %v %v", r.Policy.Name, r.MeanRequested, r.MaxRequested,
				base.Policy.Name, base.MeanRequested, base.MaxRequested)
		}
		if r.NodeMinutes != wantMinutes {
			t.Errorf("%s measured %d node-minutes, want %d", r.Policy.Name, r.NodeMinutes, wantMinutes)
		}
		// The same demand, wherever it runs (only saturation caps it).
		if r.SaturatedNodeMinutes == 0 && math.Abs(r.Mean-base.Mean) > 1e-9 {
			t.Errorf("%s: mean utilisation %v, %s: %v", r.Policy.Name, r.Mean, base.Policy.Name, base.Mean)
		}
	}
	if base.MaxRequested > DefaultRequestFraction+0.005 || base.MeanRequested < DefaultRequestFraction-0.02 {
		t.Errorf("requested CPU mean %.2f max %.2f: the workload is not at its intended packing", base.MeanRequested, base.MaxRequested)
	}
}

// TestSmallForecastFewerHotMinutes is the evaluation's claim at the
// small size: berth's forecast-based scoring leaves fewer hot
// node-minutes than requests-only.
func TestSmallForecastFewerHotMinutes(t *testing.T) {
	rep := smallReport(t)
	reqs, berth := rep.Result(PolicyRequests), rep.Result(PolicyBerthForecast)
	if reqs.HotNodeMinutes == 0 {
		t.Fatalf("requests-only has no hot node-minutes: the small workload does not exercise the comparison")
	}
	if berth.HotNodeMinutes >= reqs.HotNodeMinutes {
		t.Errorf("%s: %d hot node-minutes, not fewer than %s's %d", berth.Policy.Name, berth.HotNodeMinutes, reqs.Policy.Name, reqs.HotNodeMinutes)
	}
	if berth.P99 >= reqs.P99 {
		t.Errorf("%s: p99 utilisation %.3f, not below %s's %.3f", berth.Policy.Name, berth.P99, reqs.Policy.Name, reqs.P99)
	}
	// After the 2-day warm-up the forecast is Holt-Winters, as
	// configured, not its EWMA fallback.
	if berth.Models[load.ModelHoltWinters] == 0 {
		t.Errorf("%s never forecast with Holt-Winters: %v", berth.Policy.Name, berth.Models)
	}
}

// tiny is a run of a few simulated hours.
func tiny(seed int64, parallelism int) Options {
	return Options{Nodes: 6, WarmupDays: 0.25, Days: 0.25, Seed: seed, Registry: plugins.NewInTreeRegistry(), Parallelism: parallelism}
}

func stripWall(rep *Report) {
	for _, r := range rep.Results {
		r.Wall = 0
	}
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	a, err := Run(ctx, tiny(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(ctx, tiny(5, 3))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Run(ctx, tiny(6, 0))
	if err != nil {
		t.Fatal(err)
	}
	stripWall(a)
	stripWall(b)
	stripWall(c)
	for i := range a.Results {
		ra, rb, rc := a.Results[i], b.Results[i], c.Results[i]
		if !equalResults(ra, rb) {
			t.Errorf("%s: the same seed gave\n%+v\n%+v", ra.Policy.Name, *ra, *rb)
		}
		if ra.Metrics == rc.Metrics {
			t.Errorf("%s: seeds 5 and 6 gave the same metrics %+v", ra.Policy.Name, ra.Metrics)
		}
	}
}

func equalResults(a, b *Result) bool {
	if a.Placed != b.Placed || a.Failed != b.Failed || a.Metrics != b.Metrics || a.MeanRequested != b.MeanRequested ||
		a.MaxRequested != b.MaxRequested || a.Refits != b.Refits || len(a.Models) != len(b.Models) {
		return false
	}
	for k, v := range a.Models {
		if b.Models[k] != v {
			return false
		}
	}
	return true
}

// TestSnapshotFollowsDepartures runs one policy and checks that the
// snapshot holds exactly the pods still running: departures leave it.
func TestSnapshotFollowsDepartures(t *testing.T) {
	ctx := context.Background()
	o := tiny(2, 1)
	o.WarmupDays, o.Days = 0.5, 0.5
	if err := o.complete(); err != nil {
		t.Fatal(err)
	}
	total := o.minutes(o.WarmupDays + o.Days)
	w, err := Generate(WorkloadSpec{Apps: o.Apps, CapacityMilli: int64(o.Nodes) * o.NodeCPUMilli, RequestFraction: o.RequestFraction,
		Duration: time.Duration(total) * time.Minute, Seed: o.Seed})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSim(ctx, &o, w, o.Policies[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	end := time.Duration(total)*time.Minute - time.Nanosecond
	left := 0
	for i := range w.Pods {
		if p := &w.Pods[i]; p.Arrival+p.Lifetime <= end {
			left++
		}
	}
	if left == 0 {
		t.Fatal("no pod left during the run")
	}
	var inSnapshot int
	var requested int64
	for n, ni := range s.snap.List() {
		inSnapshot += len(ni.Pods)
		requested += ni.Requested.MilliCPU
		if len(ni.Pods) != len(s.pods[n]) {
			t.Errorf("node %s: %d pods in the snapshot, %d running", ni.Node().Name, len(ni.Pods), len(s.pods[n]))
		}
	}
	if want := w.RequestedMilli(end); requested != want || requested != s.requested {
		t.Errorf("the snapshot requests %dm, the running pods %dm (counter %dm)", requested, want, s.requested)
	}
	if inSnapshot+left != len(w.Pods) {
		t.Errorf("%d pods in the snapshot + %d gone != %d arrived", inSnapshot, left, len(w.Pods))
	}
}

// TestSourceDerive pins the simulated source: samples are published at
// the minute with a one-minute window, and the history is read at the
// step grid from now-window, as a Prometheus range query returns it.
func TestSourceDerive(t *testing.T) {
	static := metricsource.NewStatic("test")
	s := newSource(static, sourceConfig{window: 10 * time.Minute, step: 5 * time.Minute, interval: 5 * time.Minute, stats: true},
		Start, []string{"n"})
	for m := 1; m <= 10; m++ {
		if err := s.publish(m, []float64{float64(m) / 100}); err != nil {
			t.Fatal(err)
		}
	}
	snap := static.Snapshot()
	nl := snap.Nodes["n"]
	if nl == nil {
		t.Fatal("node n not published")
	}
	smp := nl.Samples[load.CPU]
	if smp.Value != 0.10 || !smp.Time.Equal(Start.Add(10*time.Minute)) || smp.Window != time.Minute || !snap.Refreshed.Equal(smp.Time) {
		t.Errorf("sample %+v, refreshed %s", smp, snap.Refreshed)
	}
	// Refits at minutes 1, 6 (5 minutes later); at 6 the grid is
	// minutes -5, 0, 5: only minute 5 measured.
	if s.refits != 2 || !nl.HasStats[load.CPU] || math.Abs(nl.Mean[load.CPU]-0.05) > 1e-12 || nl.Std[load.CPU] != 0 {
		t.Errorf("refits %d, stats %v mean %v std %v", s.refits, nl.HasStats[load.CPU], nl.Mean[load.CPU], nl.Std[load.CPU])
	}
	if err := s.publish(11, []float64{0.5}); err != nil {
		t.Fatal(err)
	}
	// Minute 11: grid 0, 5, 10 → NaN (nothing before the start), 0.05, 0.10.
	if nl := static.Snapshot().Nodes["n"]; s.refits != 3 || math.Abs(nl.Mean[load.CPU]-0.075) > 1e-12 {
		t.Errorf("refits %d, mean %v, want 3 and 0.075", s.refits, nl.Mean[load.CPU])
	}
}

func TestOptionsErrors(t *testing.T) {
	reg := plugins.NewInTreeRegistry()
	noScorer := DefaultPolicies()[:1]
	noScorer[0].RequestScorers = false
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Days: 1, Registry: reg}, "nodes must be positive"},
		{Options{Nodes: 1, Registry: reg}, "days must be positive"},
		{Options{Nodes: 1, Days: 1}, "no plugin registry"},
		{Options{Nodes: 1, Days: 1, Registry: reg, RequestFraction: 1.2}, "request fraction"},
		{Options{Nodes: 1, Days: 1, Registry: reg, HotThreshold: 1}, "hot threshold"},
		{Options{Nodes: 1, Days: 1, Registry: reg, Policies: noScorer}, "enables no scorer"},
		{Options{Nodes: 1, Days: 1, Registry: reg, Policies: append(DefaultPolicies()[:1], DefaultPolicies()[0])}, "two policies named"},
	} {
		_, err := Run(context.Background(), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	if _, err := SizeOptions("huge"); err == nil || !strings.Contains(err.Error(), "unknown size") {
		t.Errorf("size huge: %v", err)
	}
	if _, err := PoliciesByName([]string{"fifo"}); err == nil || !strings.Contains(err.Error(), `unknown policy "fifo"`) {
		t.Errorf("policy fifo: %v", err)
	}
	ps, err := PoliciesByName([]string{PolicyBerthForecast, " " + PolicyRequests, PolicyBerthForecast})
	if err != nil || len(ps) != 2 || ps[0].Name != PolicyBerthForecast || ps[1].Name != PolicyRequests {
		t.Errorf("PoliciesByName: %v %v", ps, err)
	}
}
