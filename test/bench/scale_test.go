package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

func TestParseStatusMiB(t *testing.T) {
	status := "Name:\tberth\nVmPeak:\t 2000000 kB\nVmHWM:\t  1048576 kB\nVmRSS:\t   524288 kB\nThreads:\t12\n"
	for _, tc := range []struct {
		field   string
		want    float64
		wantErr bool
	}{
		{field: "VmHWM", want: 1024},
		{field: "VmRSS", want: 512},
		{field: "Threads", wantErr: true}, // no kB unit
		{field: "VmSwap", wantErr: true},  // absent
		{field: "VmHW", wantErr: true},    // prefix of a field is not the field
	} {
		got, err := parseStatusMiB(status, tc.field)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.field, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("%s = %v MiB, want %v", tc.field, got, tc.want)
		}
	}
	// The running test's own status parses.
	if v, err := procStatusMiB(os.Getpid(), "VmHWM"); err != nil || v <= 0 {
		t.Errorf("own VmHWM = %v, %v", v, err)
	}
}

const metricsText = `# HELP berth_scheduling_attempt_duration_seconds Scheduling attempt latency.
# TYPE berth_scheduling_attempt_duration_seconds histogram
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="scheduled",le="0.001"} 10
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="scheduled",le="0.002"} 60
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="scheduled",le="0.004"} 100
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="scheduled",le="+Inf"} 100
berth_scheduling_attempt_duration_seconds_sum{profile="berth",result="scheduled"} 0.2
berth_scheduling_attempt_duration_seconds_count{profile="berth",result="scheduled"} 100
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="unschedulable",le="0.001"} 0
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="unschedulable",le="0.002"} 0
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="unschedulable",le="0.004"} 7
berth_scheduling_attempt_duration_seconds_bucket{profile="berth",result="unschedulable",le="+Inf"} 7
berth_scheduling_attempts_total{result="scheduled"} 100
`

func TestParseHistogramQuantile(t *testing.T) {
	h, err := parseHistogram(metricsText, "berth_scheduling_attempt_duration_seconds", map[string]string{"result": "scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.count(); got != 100 {
		t.Fatalf("count = %v, want 100 (unschedulable series left out)", got)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	// Rank 50 lies 40/50 of the way through (0.001, 0.002].
	if got := h.quantile(0.5); !near(got, 0.0018) {
		t.Errorf("p50 = %v, want 0.0018", got)
	}
	// Rank 5 lies half-way through the first bucket, from 0.
	if got := h.quantile(0.05); !near(got, 0.0005) {
		t.Errorf("p5 = %v, want 0.0005", got)
	}
	if got := h.quantile(0.99); !near(got, 0.002+0.002*39/40) {
		t.Errorf("p99 = %v", got)
	}
	// The window between two scrapes.
	h0 := histogram{0.001: 10, 0.002: 50, 0.004: 60, math.Inf(1): 60}
	d := h.minus(h0)
	if d.count() != 40 || d[0.001] != 0 || d[0.004] != 40 {
		t.Errorf("minus = %v", d)
	}
	if got := d.quantile(0.5); !near(got, 0.002+0.002*10/30) {
		t.Errorf("window p50 = %v", got)
	}
	// Observations above the last finite bound answer that bound.
	if got := (histogram{0.001: 0, math.Inf(1): 5}).quantile(0.99); got != 0.001 {
		t.Errorf("+Inf p99 = %v, want 0.001", got)
	}
	if !math.IsNaN((histogram{math.Inf(1): 0}).quantile(0.5)) {
		t.Error("empty histogram: want NaN")
	}
	if _, err := parseHistogram(metricsText, "scheduler_scheduling_attempt_duration_seconds", nil); err == nil {
		t.Error("absent metric: want an error")
	}
}

func TestScaleMarkdown(t *testing.T) {
	rep := &ScaleReport{Nodes: 15000, Pods: 150000, Measured: 2000, NodeCreateSeconds: 200, PodFillSeconds: 150.5, FillSeconds: 350.5,
		Results: []*ScaleResult{
			{Scheduler: KubeScheduler, SyncSeconds: 41.25, ThroughputAvg: 120.4, LatencyP50Ms: ptr.To(900.0), LatencyP99Ms: ptr.To(4000.0),
				CycleP50Ms: ptr.To(3.125), CycleP99Ms: ptr.To(12.5), CPUSeconds: 30.2, CPUMsPerPod: ptr.To(15.1), PeakRSSMiB: 2048, FinalRSSMiB: 1900},
			{Scheduler: Berth, SyncSeconds: 20, ThroughputAvg: 300, PeakRSSMiB: 900, Error: "3 of 2000 measured pods not bound (stalled)\nlog tail"},
		}}
	md := rep.Markdown()
	for _, want := range []string{
		"15000 nodes, 150000 existing pods, 2000 measured pods",
		"nodes 200.0s + pods 150.5s = 350.5s",
		"| kube-scheduler | 41.2 s | 120.4 pods/s | 900ms / 4000ms | 3.12 ms / 12.50 ms | 30.2 s | 15.10 ms | 2.00 GiB | 1.86 GiB |",
		"| berth | 20.0 s | 300.0 pods/s | - / - | - / - | 0.0 s | - | 900 MiB | - |",
		"berth failed: 3 of 2000 measured pods not bound (stalled)\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "log tail") {
		t.Error("markdown carries more than an error's first line")
	}
}

// TestScaleTiny runs the scale run end to end at 50 nodes, 200 existing
// pods and 20 measured pods against kube-scheduler and berth: every
// measured pod must be bound and every figure read.
func TestScaleTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and two schedulers")
	}
	bin := requireBinaries(t, "berth", "kube-scheduler", "devcluster", "kube-apiserver")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := RunScale(ctx, ScaleOptions{Nodes: 50, Pods: 200, Measured: 20, OutDir: out, BinDir: bin,
		SyncTimeout: time.Minute, StallTimeout: 15 * time.Second, RunTimeout: time.Minute, Progress: &progress})
	t.Log("progress:\n" + progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.FillSeconds <= 0 {
		t.Errorf("fill time %v", rep.FillSeconds)
	}
	if len(rep.Results) != 2 || rep.Results[0].Scheduler != KubeScheduler || rep.Results[1].Scheduler != Berth {
		t.Fatalf("results %+v, want kube-scheduler then berth", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Errorf("%s: %s", r.Scheduler, r.Error)
		}
		if r.Bound != 20 || r.Created != 20 || r.StopReason != "all-bound" {
			t.Errorf("%s: created %d, bound %d of 20 (%s)", r.Scheduler, r.Created, r.Bound, r.StopReason)
		}
		if r.SyncSeconds <= 0 || r.PeakRSSMiB <= 0 || r.FinalRSSMiB <= 0 || r.MaxSampledRSSMiB <= 0 || r.RSSAfterSyncMiB <= 0 {
			t.Errorf("%s: sync %vs, RSS peak %v / final %v / sampled %v / after sync %v MiB: want all > 0", r.Scheduler,
				r.SyncSeconds, r.PeakRSSMiB, r.FinalRSSMiB, r.MaxSampledRSSMiB, r.RSSAfterSyncMiB)
		}
		if r.LatencyP99Ms == nil || r.CPUMsPerPod == nil {
			t.Errorf("%s: no latency or CPU per pod", r.Scheduler)
		}
		// Both serve /metrics: the cycle histogram saw the measured pods.
		if r.CycleP99Ms == nil || r.CycleCount < 20 {
			t.Errorf("%s: cycle p99 %v over %d attempts, want at least 20", r.Scheduler, r.CycleP99Ms, r.CycleCount)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var decoded ScaleReport
	if err := json.Unmarshal(data, &decoded); err != nil || len(decoded.Results) != 2 {
		t.Fatalf("results.json: %v, %d results", err, len(decoded.Results))
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| berth |") || !strings.Contains(string(md), "| kube-scheduler |") {
		t.Errorf("results.md:\n%s", md)
	}
}
