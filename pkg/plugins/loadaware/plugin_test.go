package loadaware

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
)

var now0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

type fixture struct {
	pl    *LoadAware
	src   *metricsource.Static
	snap  *st.Snapshot
	nodes map[string]*framework.NodeInfo
}

// newFixture builds the plugin over a static source on nodes a, b and c
// (4 CPUs, 16Gi each; b has 3 CPUs requested), with measured loads.
func newFixture(t *testing.T, args *Args, loads map[string]load.NodeLoad) *fixture {
	t.Helper()
	nodes := []*v1.Node{
		st.MakeNode().Name("a").Capacity("cpu", "4", "memory", "16Gi", "pods", "110").Obj(),
		st.MakeNode().Name("b").Capacity("cpu", "4", "memory", "16Gi", "pods", "110").Obj(),
		st.MakeNode().Name("c").Capacity("cpu", "4", "memory", "16Gi", "pods", "110", "nvidia.com/gpu", "2").Obj(),
	}
	pods := []*v1.Pod{st.MakePod().Name("big").UID("big").Node("b").Req("cpu", "3", "memory", "4Gi").Obj()}
	snap := st.NewSnapshot(pods, nodes)
	src := metricsource.NewStatic("test")
	s := &load.Snapshot{Refreshed: now0, Nodes: map[string]*load.NodeLoad{}}
	for n, l := range loads {
		l := l
		s.Nodes[n] = &l
	}
	src.Set(s)
	if args == nil {
		args = &Args{}
	}
	pl, err := NewWithSource(context.Background(), args, st.NewHandle(snap), src)
	if err != nil {
		t.Fatal(err)
	}
	pl.SetClock(func() time.Time { return now0 })
	f := &fixture{pl: pl, src: src, snap: snap, nodes: map[string]*framework.NodeInfo{}}
	for _, ni := range snap.List() {
		f.nodes[ni.Node().Name] = ni
	}
	return f
}

func measured(cpu, mem float64, age time.Duration) load.NodeLoad {
	var nl load.NodeLoad
	nl.Samples[load.CPU] = load.Sample{Value: cpu, Time: now0.Add(-age), Window: time.Minute}
	nl.Samples[load.Memory] = load.Sample{Value: mem, Time: now0.Add(-age), Window: time.Minute}
	return nl
}

// scores runs PreScore, Score on every node and NormalizeScore.
func (f *fixture) scores(t *testing.T, pod *v1.Pod) (map[string]int64, *framework.CycleState) {
	t.Helper()
	ctx := context.Background()
	cs := framework.NewCycleState()
	if st := f.pl.PreScore(ctx, cs, pod, f.snap.List()); !st.IsSuccess() {
		t.Fatal(st)
	}
	out := map[string]int64{}
	var list framework.NodeScoreList
	for name, ni := range f.nodes {
		s, st := f.pl.Score(ctx, cs, pod, ni)
		if !st.IsSuccess() {
			t.Fatal(st)
		}
		out[name] = s
		list = append(list, framework.NodeScore{Name: name, Score: s})
	}
	f.pl.NormalizeScore(ctx, cs, pod, list)
	return out, cs
}

func cpuPod(name string) *v1.Pod {
	return st.MakePod().Name(name).UID(name).Req("cpu", "500m", "memory", "1Gi").Obj()
}

// TestMeasuredBeatsRequests: node a has no requests but runs hot (a
// pod without requests, say); b is three-quarters requested but idle.
// Requests would choose a; LoadAware chooses b.
func TestMeasuredBeatsRequests(t *testing.T) {
	f := newFixture(t, nil, map[string]load.NodeLoad{"a": measured(0.9, 0.8, 10*time.Second), "b": measured(0.1, 0.1, 10*time.Second), "c": measured(0.5, 0.5, 10*time.Second)})
	s, cs := f.scores(t, cpuPod("p"))
	if !(s["b"] > s["c"] && s["c"] > s["a"]) {
		t.Fatalf("scores %v: want b > c > a", s)
	}
	note := f.pl.ExplainScore(cs, cpuPod("p"), f.nodes["a"])
	if !strings.HasPrefix(note, "measured cpu 90%") || !strings.Contains(note, "data 10s old") {
		t.Fatalf("explain for a: %q", note)
	}
}

// TestStaleAndMissingFallBackToRequests: the freshness contract, its
// metric and its explanation.
func TestStaleAndMissingFallBackToRequests(t *testing.T) {
	f := newFixture(t, nil, map[string]load.NodeLoad{"a": measured(0.9, 0.8, 4*time.Minute), "b": measured(0.1, 0.1, 10*time.Second)})
	stale := testutil.ToFloat64(metricsource.ScoredNodes.WithLabelValues("stale"))
	missing := testutil.ToFloat64(metricsource.ScoredNodes.WithLabelValues("missing"))
	s, cs := f.scores(t, cpuPod("p"))
	// a is scored by requests (nothing requested: looks idle), c too.
	if s["a"] <= s["b"] {
		t.Fatalf("stale node a kept its hot sample: %v", s)
	}
	if got := f.pl.ExplainScore(cs, cpuPod("p"), f.nodes["a"]); got != "load data for a is 4m0s old (ttl 2m0s); scored by requests" {
		t.Fatalf("explain a: %q", got)
	}
	if got := f.pl.ExplainScore(cs, cpuPod("p"), f.nodes["c"]); got != "no load data for c; scored by requests" {
		t.Fatalf("explain c: %q", got)
	}
	if d := testutil.ToFloat64(metricsource.ScoredNodes.WithLabelValues("stale")) - stale; d != 1 {
		t.Errorf("stale count +%v, want +1", d)
	}
	if d := testutil.ToFloat64(metricsource.ScoredNodes.WithLabelValues("missing")) - missing; d != 1 {
		t.Errorf("missing count +%v, want +1", d)
	}
	// A source that has never answered says so.
	f.src.Set(&load.Snapshot{Err: "dial tcp: connection refused"})
	_, cs = f.scores(t, cpuPod("q"))
	if got := f.pl.ExplainScore(cs, cpuPod("q"), f.nodes["b"]); !strings.Contains(got, "has not answered yet: dial tcp: connection refused") {
		t.Fatalf("explain with a dead source: %q", got)
	}
}

// TestReserveEstimatesPreventHerding: pods reserved since the sample are
// added to it, so a burst spreads instead of piling onto the node that
// looked coolest; Unreserve takes the estimate back.
func TestReserveEstimatesPreventHerding(t *testing.T) {
	f := newFixture(t, nil, map[string]load.NodeLoad{"a": measured(0.3, 0.3, 5*time.Second), "b": measured(0.4, 0.3, 5*time.Second), "c": measured(0.9, 0.9, 5*time.Second)})
	ctx := context.Background()
	placed := map[string]int{}
	var pods []*v1.Pod
	for i := 0; i < 6; i++ {
		pod := cpuPod("p" + string(rune('0'+i)))
		s, cs := f.scores(t, pod)
		best := "a"
		if s["b"] > s["a"] {
			best = "b"
		}
		placed[best]++
		f.pl.Reserve(ctx, cs, pod, best)
		pods = append(pods, pod)
	}
	if placed["a"] == 6 || placed["b"] == 0 {
		t.Fatalf("the burst herded: %v", placed)
	}
	before, _ := f.scores(t, cpuPod("x"))
	for _, p := range pods {
		f.pl.Unreserve(ctx, nil, p, "")
	}
	after, _ := f.scores(t, cpuPod("x"))
	if after["a"] <= before["a"] {
		t.Fatalf("unreserve did not remove the estimates: before %v after %v", before, after)
	}
}

// TestInformerPlacementsCount: pods another scheduler bound count as
// estimates from their PodScheduled time; finished pods do not.
func TestInformerPlacementsCount(t *testing.T) {
	f := newFixture(t, nil, map[string]load.NodeLoad{"a": measured(0.3, 0.3, 5*time.Second)})
	h := f.pl.tracker.handlers()
	bound := cpuPod("other")
	bound.Spec.NodeName = "a"
	bound.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(now0.Add(-2 * time.Second))}}
	old := cpuPod("old")
	old.Spec.NodeName = "a"
	old.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(now0.Add(-time.Hour))}}
	h.OnAdd(bound, false)
	h.OnAdd(old, false)
	if got := len(f.pl.tracker.byNode()["a"]); got != 1 {
		t.Fatalf("tracked %d placements on a, want 1 (the old one is in the samples)", got)
	}
	done := bound.DeepCopy()
	done.Status.Phase = v1.PodSucceeded
	h.OnUpdate(bound, done)
	if got := len(f.pl.tracker.byNode()["a"]); got != 0 {
		t.Fatalf("a finished pod still counts: %d", got)
	}
}

func TestThresholdFilter(t *testing.T) {
	args := &Args{ThresholdPercent: map[string]int32{"cpu": 85}}
	f := newFixture(t, args, map[string]load.NodeLoad{"a": measured(0.9, 0.2, 5*time.Second), "b": measured(0.95, 0.2, 10*time.Minute), "c": measured(0.5, 0.2, 0)})
	ctx := context.Background()
	pod := cpuPod("p")
	cs := framework.NewCycleState()
	if _, st := f.pl.PreFilter(ctx, cs, pod, f.snap.List()); !st.IsSuccess() {
		t.Fatal(st)
	}
	st := f.pl.Filter(ctx, cs, pod, f.nodes["a"])
	if st.Code() != framework.Unschedulable || st.Message() != "node's measured cpu utilisation 90% is above the 85% threshold" {
		t.Fatalf("hot node: %v", st)
	}
	if st := f.pl.Filter(ctx, cs, pod, f.nodes["b"]); !st.IsSuccess() {
		t.Fatalf("stale data refused a node: %v", st)
	}
	if st := f.pl.Filter(ctx, cs, pod, f.nodes["c"]); !st.IsSuccess() {
		t.Fatalf("cool node refused: %v", st)
	}
	// Without thresholds Filter is skipped.
	f2 := newFixture(t, nil, nil)
	if _, st := f2.pl.PreFilter(ctx, framework.NewCycleState(), pod, nil); st.Code() != framework.Skip {
		t.Fatalf("PreFilter without thresholds: %v", st)
	}
}

// TestGPUPodsWeighGPU: GPU utilisation counts for pods that request GPUs,
// and a missing GPU metric does not push CPU pods onto requests.
func TestGPUPodsWeighGPU(t *testing.T) {
	busyGPU := measured(0.2, 0.2, 0)
	busyGPU.Samples[load.GPU] = load.Sample{Value: 0.95, Time: now0, Window: time.Minute}
	f := newFixture(t, nil, map[string]load.NodeLoad{"c": busyGPU})
	gpuPod := st.MakePod().Name("g").UID("g").Req("cpu", "1", "nvidia.com/gpu", "1").Obj()
	_, cs := f.scores(t, gpuPod)
	if note := f.pl.ExplainScore(cs, gpuPod, f.nodes["c"]); !strings.Contains(note, "gpu 95%") {
		t.Fatalf("GPU pod's note: %q", note)
	}
	_, cs = f.scores(t, cpuPod("p"))
	if note := f.pl.ExplainScore(cs, cpuPod("p"), f.nodes["c"]); strings.Contains(note, "gpu") || strings.Contains(note, "requests") {
		t.Fatalf("CPU pod's note: %q", note)
	}
}

func TestArgsValidation(t *testing.T) {
	neg := -1.0
	zero := metav1.Duration{}
	cases := map[string]struct {
		args Args
		want string
	}{
		"no source address": {Args{}, "args.source.prometheus.address: Required value"},
		"bad mode":          {Args{Mode: "coolest"}, `args.mode: Unsupported value: "coolest"`},
		"bad weight":        {Args{Weights: map[string]int64{"cpu": -1, "disk": 1}}, "args.weights[cpu]: Invalid value: -1"},
		"unknown weight":    {Args{Weights: map[string]int64{"disk": 1}}, `args.weights[disk]: Unsupported value: "disk"`},
		"ttl below refresh": {Args{TTL: metav1.Duration{Duration: 10 * time.Second}}, "args.ttl: Invalid value: \"10s\": shorter than the source's interval (30s)"},
		"risk k":            {Args{RiskStdDevs: &neg}, "args.riskStdDevs: Invalid value: -1"},
		"threshold":         {Args{ThresholdPercent: map[string]int32{"cpu": 150}}, "args.thresholdPercent[cpu]: Invalid value: 150"},
		"forecast alpha":    {Args{Forecast: ForecastArgs{Model: load.ModelEWMA, Alpha: 1.5}}, "args.forecast.alpha: Invalid value: 1.5"},
		"forecast model":    {Args{Forecast: ForecastArgs{Model: "arima"}}, `args.forecast.model: Invalid value: "arima"`},
		"hw needs history":  {Args{Forecast: ForecastArgs{Model: load.ModelHoltWinters}}, "args.source.history.window: Invalid value: \"1h0m0s\": holtWinters needs two seasons of history (≥ 48h0m0s)"},
		"ewma needs history": {Args{Forecast: ForecastArgs{Model: load.ModelEWMA}, Source: metricsource.Spec{History: metricsource.HistorySpec{Window: &zero}}},
			`args.source.history.window: Invalid value: "0s": ewma needs history`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(context.Background(), &c.args, st.NewHandle(nil))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant %q", err, c.want)
			}
		})
	}
}

// BenchmarkScore5000Nodes is one pod's PreScore and Score over 5,000
// nodes with fresh samples and a few recent placements: the plugin's cost
// per scheduling cycle.
func BenchmarkScore5000Nodes(b *testing.B) {
	const n = 5000
	var nodes []*v1.Node
	s := &load.Snapshot{Refreshed: now0, Nodes: map[string]*load.NodeLoad{}}
	for i := 0; i < n; i++ {
		name := "node-" + strconv.Itoa(i)
		nodes = append(nodes, st.MakeNode().Name(name).Capacity("cpu", "32", "memory", "128Gi", "pods", "110").Obj())
		nl := measured(float64(i%100)/100, 0.5, 10*time.Second)
		s.Nodes[name] = &nl
	}
	snap := st.NewSnapshot(nil, nodes)
	src := metricsource.NewStatic("bench")
	src.Set(s)
	pl, err := NewWithSource(context.Background(), &Args{}, st.NewHandle(snap), src)
	if err != nil {
		b.Fatal(err)
	}
	pl.SetClock(func() time.Time { return now0 })
	for i := 0; i < 200; i++ {
		pl.tracker.add(cpuPod("r"+strconv.Itoa(i)), "node-"+strconv.Itoa(i*7), now0)
	}
	list := snap.List()
	pod := cpuPod("p")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cs := framework.NewCycleState()
		pl.PreScore(ctx, cs, pod, list)
		for _, ni := range list {
			if _, st := pl.Score(ctx, cs, pod, ni); !st.IsSuccess() {
				b.Fatal(st)
			}
		}
	}
}
