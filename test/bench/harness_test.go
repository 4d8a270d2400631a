package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthsched/berth/internal/testenv"
)

// TestWorkloadsParse checks that every built-in workload loads, at every
// scale.
func TestWorkloadsParse(t *testing.T) {
	ws, err := LoadWorkloads("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Basic", "NodeAffinity", "PodAntiAffinity", "TopologySpreading", "PreferredPodAffinity", "Preemption", "UnschedulableMix", "Churn", "StatefulVolumes", "DynamicResources", "Gang"}
	var got []string
	for _, w := range ws {
		got = append(got, w.Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("workloads = %v, want %v", got, want)
	}
	for _, w := range ws {
		for _, s := range []string{ScaleFull, ScaleSmall, ScaleTiny} {
			c, err := w.Counts(s)
			if err != nil {
				t.Fatal(err)
			}
			if w.Name == "Preemption" && c.InitialPods != 4*c.Nodes {
				t.Errorf("Preemption %s: initialPods must be 4 x nodes to fill the cluster", s)
			}
			if w.Name == "PodAntiAffinity" && c.MeasuredPods > c.Nodes {
				t.Errorf("%s %s: more measured pods than nodes", w.Name, s)
			}
			if w.Name == "StatefulVolumes" {
				// Every static-volume pod needs a PV of its own: one per
				// hdd node (every fourth).
				static := 0
				for i := range c.MeasuredPods {
					if groupFor(w.MeasuredPods, i).Name == "static-volume" {
						static++
					}
				}
				if pvs := c.Nodes / 4 * w.Storage.StaticVolumes.PerNode; static > pvs {
					t.Errorf("StatefulVolumes %s: %d static-volume pods for %d static PVs", s, static, pvs)
				}
			}
		}
	}
	if n := expectedSchedulable(ws[6].MeasuredPods, 100); n != 80 {
		t.Errorf("UnschedulableMix: %d of 100 expected schedulable, want 80", n)
	}
}

// TestHarnessTiny runs the harness end to end at the tiny scale on six
// workloads (Basic also through the two kube-scheduler shells) and checks
// that the report is complete and well formed (not the speed, nor how many
// gangs are left partial).
func TestHarnessTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control planes and schedulers")
	}
	bin := requireBinaries(t, "berth", "kube-scheduler", "kube-scheduler-berth", "devcluster", "kube-apiserver")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, Options{
		Scale:        ScaleTiny,
		Workloads:    "Basic,PodAntiAffinity,Preemption,StatefulVolumes,DynamicResources,Gang",
		OutDir:       out,
		BinDir:       bin,
		StallTimeout: 5 * time.Second,
		RunTimeout:   90 * time.Second,
		Progress:     &progress,
	})
	t.Log("progress:\n" + progress.String())
	if err != nil {
		t.Fatal(err)
	}

	// The files exist and the JSON round-trips with every field present.
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var decoded Report
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	requireKeys(t, "report", raw, Report{})
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Log("results.md:\n" + string(md))

	if len(rep.Workloads) != 6 || len(raw["workloads"].([]any)) != 6 {
		t.Fatalf("want 6 workloads, got %d", len(rep.Workloads))
	}
	for wi, w := range rep.Workloads {
		rawW := raw["workloads"].([]any)[wi].(map[string]any)
		requireKeys(t, w.Name, rawW, WorkloadResult{})
		if !strings.Contains(string(md), "| "+w.Name+" |") {
			t.Errorf("results.md has no row for %s", w.Name)
		}
		if w.Error != "" {
			t.Errorf("%s: %s", w.Name, w.Error)
			continue
		}
		counts, _ := mustWorkload(t, w.Name).Counts(ScaleTiny)
		if w.MeasuredPods != counts.MeasuredPods || w.Nodes != counts.Nodes || w.InitialPods != counts.InitialPods {
			t.Errorf("%s: sizes %d/%d/%d, want %+v", w.Name, w.Nodes, w.InitialPods, w.MeasuredPods, counts)
		}
		for _, key := range []string{"kubeScheduler", "berth", "ceiling"} {
			requireKeys(t, w.Name+"."+key, rawW[key].(map[string]any), RunResult{})
		}
		for _, r := range []*RunResult{w.KubeScheduler, w.Berth, w.Ceiling} {
			checkRun(t, w, r)
		}
		// kube-scheduler and the ceiling place every schedulable pod (the
		// former preempting where needed) without violations.
		for _, r := range []*RunResult{w.KubeScheduler, w.Ceiling} {
			if r.Bound != w.ExpectedSchedulable || r.StopReason != "all-bound" {
				t.Errorf("%s/%s: bound %d/%d (%s)", w.Name, r.Scheduler, r.Bound, w.ExpectedSchedulable, r.StopReason)
			}
		}
		if v := w.KubeScheduler.Quality.Violations; v.Total != 0 {
			t.Errorf("%s/kube-scheduler: violations %+v", w.Name, v)
		}
		if len(w.TargetResults) == 0 {
			t.Errorf("%s: no target results", w.Name)
		}
		switch w.Name {
		case "Basic":
			if v := w.Berth.Quality.Violations; v.Total != 0 {
				t.Errorf("Basic/berth: violations %+v", v)
			}
			if w.Berth.Bound != w.ExpectedSchedulable {
				t.Errorf("Basic/berth: bound %d/%d", w.Berth.Bound, w.ExpectedSchedulable)
			}
			checkShells(t, w, rawW)
			r := w.Ratios
			for name, p := range map[string]*float64{
				"berth/kube-scheduler": r.BerthVsKubeScheduler, "berth/ceiling": r.BerthVsCeiling,
				"kube-scheduler/ceiling": r.KubeSchedulerVsCeiling, "p99": r.P99LatencyBerthVsKubeScheduler,
				"cpu": r.CPUBerthVsKubeScheduler, "rss": r.RSSBerthVsKubeScheduler, "p50": r.BerthVsKubeSchedulerP50,
			} {
				if p == nil || math.IsInf(*p, 0) || math.IsNaN(*p) || *p <= 0 {
					t.Errorf("Basic: ratio %s = %v, want a positive finite number", name, p)
				}
			}
		case "StatefulVolumes", "DynamicResources":
			// berth has VolumeBinding and DynamicResources: every claim
			// bound or allocated, on a node its PV or devices admit,
			// within the nodes' capacities, no device given twice.
			if v := w.Berth.Quality.Violations; v.Total != 0 {
				t.Errorf("%s/berth: violations %+v", w.Name, v)
			}
			if w.Berth.Bound != w.ExpectedSchedulable {
				t.Errorf("%s/berth: bound %d/%d", w.Name, w.Berth.Bound, w.ExpectedSchedulable)
			}
		case "Gang":
			if w.KubeSchedulerFeatureGates != "GenericWorkload=true" {
				t.Errorf("Gang: kube-scheduler feature gates %q", w.KubeSchedulerFeatureGates)
			}
			if !strings.Contains(string(md), "| Gang | berth | ") {
				t.Errorf("results.md has no gang row for berth")
			}
			for _, r := range []*RunResult{w.KubeScheduler, w.Berth, w.Ceiling} {
				checkGang(t, counts, r)
			}
		case "Preemption":
			if w.KubeScheduler.InitialPodsEvicted < w.ExpectedSchedulable {
				t.Errorf("Preemption/kube-scheduler: %d victims for %d preemptors", w.KubeScheduler.InitialPodsEvicted, w.ExpectedSchedulable)
			}
		}
	}
}

func checkRun(t *testing.T, w *WorkloadResult, r *RunResult) {
	t.Helper()
	name := w.Name + "/" + r.Scheduler
	if r.Error != "" {
		t.Errorf("%s: %s", name, r.Error)
		return
	}
	if r.Created != w.MeasuredPods || r.ExpectedSchedulable != w.ExpectedSchedulable {
		t.Errorf("%s: created %d expected %d, want %d and %d", name, r.Created, r.ExpectedSchedulable, w.MeasuredPods, w.ExpectedSchedulable)
	}
	if r.Bound+r.Pending != r.ExpectedSchedulable || r.Bound < 0 || r.Pending < 0 {
		t.Errorf("%s: bound %d + pending %d != %d", name, r.Bound, r.Pending, r.ExpectedSchedulable)
	}
	switch r.StopReason {
	case "all-bound":
		if r.Pending != 0 {
			t.Errorf("%s: all-bound with %d pending", name, r.Pending)
		}
	case "stalled", "timeout":
	default:
		t.Errorf("%s: stop reason %q", name, r.StopReason)
	}
	finite := func(what string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			t.Errorf("%s: %s = %v", name, what, x)
		}
	}
	finite("durationSeconds", r.DurationSeconds)
	finite("createSeconds", r.CreateSeconds)
	finite("throughputAvg", r.ThroughputAvg)
	finite("throughputP50", r.ThroughputP50)
	if r.Bound > 0 {
		if r.ThroughputAvg <= 0 || r.ThroughputP50 <= 0 || r.DurationSeconds <= 0 {
			t.Errorf("%s: %d bound but throughput %v/%v over %vs", name, r.Bound, r.ThroughputAvg, r.ThroughputP50, r.DurationSeconds)
		}
		if r.LatencyP50Ms == nil || r.LatencyP90Ms == nil || r.LatencyP99Ms == nil {
			t.Errorf("%s: latency percentiles missing", name)
		} else if !(*r.LatencyP50Ms >= 0 && *r.LatencyP50Ms <= *r.LatencyP90Ms && *r.LatencyP90Ms <= *r.LatencyP99Ms) {
			t.Errorf("%s: latency percentiles out of order: %v %v %v", name, *r.LatencyP50Ms, *r.LatencyP90Ms, *r.LatencyP99Ms)
		}
	} else if r.LatencyP99Ms != nil {
		t.Errorf("%s: latency without binds", name)
	}
	if r.Scheduler == Ceiling {
		if r.CPUSeconds != nil || r.PeakRSSMiB != nil || r.Quality != nil {
			t.Errorf("%s: ceiling has process figures or quality", name)
		}
		return
	}
	if r.CPUSeconds == nil || *r.CPUSeconds < 0 || r.PeakRSSMiB == nil || *r.PeakRSSMiB <= 0 {
		t.Errorf("%s: cpu %v rss %v", name, r.CPUSeconds, r.PeakRSSMiB)
	}
	if r.Quality == nil {
		t.Errorf("%s: no quality", name)
		return
	}
	v := r.Quality.Violations
	if v.Total != v.CapacityOvercommit+v.NodeAffinity+v.PodAntiAffinity+v.PodAffinity+v.TopologySpread+v.UnschedulableBound+
		v.VolumeUnbound+v.VolumeNodeAffinity+v.StorageCapacity+v.DeviceDoubleAllocated+v.ClaimUnallocated+v.DeviceNode {
		t.Errorf("%s: violation total %d does not add up: %+v", name, v.Total, v)
	}
	finite("cpuRequestedCV", r.Quality.CPURequestedCV)
	if r.Quality.CPURequestedMean <= 0 || r.Quality.CPURequestedMean > 1 {
		t.Errorf("%s: mean requested CPU %v", name, r.Quality.CPURequestedMean)
	}
}

// checkShells checks Basic's runs of the kube-scheduler shells: every pod
// bound without violations, the extender's usage summed over its two
// processes, and the shells' ratios present.
func checkShells(t *testing.T, w *WorkloadResult, rawW map[string]any) {
	t.Helper()
	for _, key := range []string{"berthExtender", "pluginMode"} {
		m, ok := rawW[key].(map[string]any)
		if !ok {
			t.Errorf("Basic: no %s run in results.json", key)
			return
		}
		requireKeys(t, "Basic."+key, m, RunResult{})
	}
	for _, r := range []*RunResult{w.BerthExtender, w.PluginMode} {
		checkRun(t, w, r)
		if r.Bound != w.ExpectedSchedulable || r.StopReason != "all-bound" {
			t.Errorf("Basic/%s: bound %d/%d (%s)", r.Scheduler, r.Bound, w.ExpectedSchedulable, r.StopReason)
		}
		if r.Quality != nil && r.Quality.Violations.Total != 0 {
			t.Errorf("Basic/%s: violations %+v", r.Scheduler, r.Quality.Violations)
		}
	}
	if p := w.BerthExtender.Processes; len(p) != 2 || w.BerthExtender.CPUSeconds == nil ||
		math.Abs(*w.BerthExtender.CPUSeconds-(p[0].CPUSeconds+p[1].CPUSeconds)) > 0.002 {
		t.Errorf("Basic/berth-extender: CPU %v is not the sum of %+v", w.BerthExtender.CPUSeconds, p)
	}
	for name, sr := range map[string]*ShellRatios{BerthExtender: w.Ratios.BerthExtender, PluginMode: w.Ratios.PluginMode} {
		if sr == nil || sr.ThroughputVsKubeScheduler == nil || sr.ThroughputVsBerth == nil || sr.ThroughputVsCeiling == nil ||
			sr.CPUVsKubeScheduler == nil || sr.RSSVsKubeScheduler == nil || sr.P99LatencyVsKubeScheduler == nil {
			t.Errorf("Basic: %s ratios %+v", name, sr)
		}
	}
}

// checkGang checks that a gang run's figures are present and consistent
// (partial gangs are reported, not judged).
func checkGang(t *testing.T, c Counts, r *RunResult) {
	t.Helper()
	g := r.Gang
	if g == nil {
		t.Errorf("Gang/%s: no gang figures", r.Scheduler)
		return
	}
	if g.Groups != c.Groups || g.GroupsPlaced < 0 || g.GroupsPlaced > g.Groups || len(g.Contest) != 2 {
		t.Errorf("Gang/%s: %+v", r.Scheduler, g)
	}
	if g.GroupsPlaced > 0 && (g.GroupTimeP50Ms == nil || g.GroupTimeP99Ms == nil || *g.GroupTimeP50Ms > *g.GroupTimeP99Ms) {
		t.Errorf("Gang/%s: gang times %v %v", r.Scheduler, g.GroupTimeP50Ms, g.GroupTimeP99Ms)
	}
	if g.PartialAtEnd < 0 || g.PartialAtEnd > c.Groups+2 || g.PartialMax < 0 || g.PartialMax > c.Groups+2 || g.PartialGroupSeconds < 0 {
		t.Errorf("Gang/%s: partial figures %d %d %v", r.Scheduler, g.PartialAtEnd, g.PartialMax, g.PartialGroupSeconds)
	}
	switch g.ContestPlaced {
	case ContestA, ContestB, "none", "both":
	default:
		t.Errorf("Gang/%s: contest placed %q", r.Scheduler, g.ContestPlaced)
	}
}

// requireKeys checks that obj has a key for every json field of the struct
// type of zero.
func requireKeys(t *testing.T, what string, obj map[string]any, zero any) {
	t.Helper()
	typ := reflect.TypeOf(zero)
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || strings.Contains(opts, "omitempty") {
			continue
		}
		if _, ok := obj[name]; !ok {
			t.Errorf("%s: JSON field %q missing", what, name)
		}
	}
}

func mustWorkload(t *testing.T, name string) *Workload {
	t.Helper()
	ws, err := LoadWorkloads("")
	if err != nil {
		t.Fatal(err)
	}
	sel, err := SelectWorkloads(ws, name)
	if err != nil {
		t.Fatal(err)
	}
	return sel[0]
}

// requireBinaries returns the binary directory, failing the test when one
// of names is missing there: a failure, not a skip, because `make test`
// builds them first and a silently skipped harness test would prove
// nothing.
func requireBinaries(t *testing.T, names ...string) string {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range names {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s not built (run `make build`): %v", b, err)
		}
	}
	return bin
}
