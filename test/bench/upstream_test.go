package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/test/bench/upstream"
)

func TestUpstreamMarkdown(t *testing.T) {
	rep := &UpstreamReport{Factor: 0.2, Schedulers: []string{KubeScheduler, Berth},
		Workloads: []*UpstreamResult{{
			TestCase: "SchedulingBasic", Workload: "500Nodes", Factor: 0.2, Threshold: upstream.Threshold{Value: 680}, ThresholdFrom: "5000Nodes_10000Pods",
			Runs: []*UpstreamRun{
				{Scheduler: KubeScheduler, Nodes: 100, Measured: 200, Bound: 200, ThroughputAvg: 150.5, LatencyP99Ms: ptr.To(900.0)},
				{Scheduler: Berth, Nodes: 100, Measured: 200, Bound: 199, ThroughputAvg: 400, LatencyP99Ms: ptr.To(120.0)},
			},
		}},
		Skipped: []upstream.Skip{{TestCase: "SchedulingWithMixedChurn", Reason: "churn is not implemented"}},
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| SchedulingBasic | 500Nodes ×0.2 | 100 | 200 | 680 (5000Nodes_10000Pods) | 150.5 | 900ms | 400.0 (199/200 bound) | 120ms |",
		"- SchedulingWithMixedChurn: churn is not implemented",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestUpstreamTiny runs the upstream suite end to end on the parser's
// testdata (Basic/5Nodes: five nodes, five initial and ten measured pods)
// with kube-scheduler and berth.
func TestUpstreamTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control planes and schedulers")
	}
	bin := requireBinaries(t, "berth", "kube-scheduler", "devcluster", "kube-apiserver")
	dir, err := filepath.Abs("upstream/testdata/perf")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := RunUpstream(ctx, UpstreamOptions{
		Options: Options{OutDir: out, BinDir: bin, StallTimeout: 10 * time.Second, RunTimeout: time.Minute, Progress: &progress},
		Dir:     dir, Workloads: "Basic/5Nodes",
	})
	t.Log("progress:\n" + progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != 1 || len(rep.Workloads[0].Runs) != 2 {
		t.Fatalf("report: %+v", rep.Workloads)
	}
	for _, r := range rep.Workloads[0].Runs {
		if r.Error != "" || r.Nodes != 5 || r.Measured != 10 || r.Bound != 10 || r.ThroughputAvg <= 0 || r.LatencyP99Ms == nil {
			t.Errorf("%s: %+v", r.Scheduler, r)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "upstream-results.md")); err != nil {
		t.Error(err)
	}
}
