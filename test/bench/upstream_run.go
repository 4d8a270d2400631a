package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/test/bench/upstream"
)

// UpstreamOptions configure `berth-bench --suite upstream`: kube-scheduler's
// own scheduler_perf workloads (performance-config.yaml), run against the
// harness's scheduler processes.
type UpstreamOptions struct {
	// Options supplies BinDir, OutDir, QPS, Burst, CreateWorkers,
	// StallTimeout, RunTimeout, Progress and Schedulers (default:
	// kube-scheduler, berth; the ceiling and the shells are not offered:
	// upstream's pods are created by opcodes the ceiling binder does not
	// follow). Scale, Workloads and WorkloadDir are not used.
	Options
	// Dir is scheduler_perf's directory; empty: located in the module
	// cache through the kube module (upstream.Locate).
	Dir string
	// Workloads is a comma-separated list of test cases, each optionally
	// TestCase/Workload; empty: upstream.DefaultChoices; "all": every test
	// case the harness can run.
	Workloads string
	// Factor multiplies every count parameter (nodes, pods, claims, pod
	// groups; see upstream.Scaled) of the chosen workload; 0 means 1.
	Factor float64
}

// UpstreamReport is the upstream suite's results.
type UpstreamReport struct {
	StartedAt      string  `json:"startedAt"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	// Dir is the scheduler_perf directory the definitions came from.
	Dir string `json:"dir"`
	// Factor scaled every count parameter (times each choice's Scale).
	Factor     float64           `json:"factor"`
	Schedulers []string          `json:"schedulers"`
	Host       Host              `json:"host"`
	Workloads  []*UpstreamResult `json:"workloads"`
	// Skipped lists the test cases not run, with the reason.
	Skipped []upstream.Skip `json:"skipped"`
}

// UpstreamResult is one upstream workload's runs.
type UpstreamResult struct {
	TestCase string `json:"testCase"`
	Workload string `json:"workload"`
	// Factor scaled the count parameters (the suite's factor times the
	// choice's Scale).
	Factor float64 `json:"factor"`
	// Params are the workload's parameters after scaling.
	Params map[string]any `json:"params"`
	// FeatureGates passed to kube-scheduler (berth takes none).
	FeatureGates string `json:"featureGates,omitempty"`
	// Threshold is upstream's published SchedulingThroughput threshold
	// (pods/s) and ThresholdFrom the workload it is published for (which
	// runs at upstream's full scale, not this one).
	Threshold     upstream.Threshold `json:"threshold"`
	ThresholdFrom string             `json:"thresholdFrom,omitempty"`
	Runs          []*UpstreamRun     `json:"runs"`
	// Notes record where the harness departs from scheduler_perf.
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
}

// UpstreamRun is one scheduler's figures on one upstream workload.
type UpstreamRun struct {
	Scheduler string `json:"scheduler"`
	// Nodes created by the workload's ops.
	Nodes int `json:"nodes"`
	// Measured pods (created by collectMetrics ops) and how many were
	// bound.
	Measured int `json:"measured"`
	Bound    int `json:"bound"`
	// ThroughputAvg is Bound / (last bind - first measured create), pods/s
	// (upstream's SchedulingThroughput average).
	ThroughputAvg float64 `json:"throughputAvg"`
	// Latencies from create to bind on the watch, measured pods.
	LatencyP50Ms *float64 `json:"latencyP50Ms"`
	LatencyP99Ms *float64 `json:"latencyP99Ms"`
	// Deleted counts pods deleted by someone else than the harness during
	// the run (preemption victims).
	Deleted int `json:"deleted"`
	// StopReason of the measured ops: all-bound, stalled, timeout.
	StopReason string   `json:"stopReason"`
	CPUSeconds *float64 `json:"cpuSeconds"`
	PeakRSSMiB *float64 `json:"peakRSSMiB"`
	// WallSeconds of the whole run, control plane included.
	WallSeconds float64 `json:"wallSeconds"`
	Error       string  `json:"error,omitempty"`
}

// RunUpstream runs the chosen upstream workloads and writes
// OutDir/upstream-results.{json,md}.
func RunUpstream(ctx context.Context, o UpstreamOptions) (*UpstreamReport, error) {
	o.defaults()
	if o.Factor == 0 {
		o.Factor = 1
	}
	if len(o.Schedulers) == 0 {
		o.Schedulers = []string{KubeScheduler, Berth}
	}
	for _, s := range o.Schedulers {
		if s != KubeScheduler && s != Berth && s != PluginMode {
			return nil, fmt.Errorf("the upstream suite runs kube-scheduler, berth and plugin-mode, not %q", s)
		}
	}
	var err error
	if o.Dir == "" {
		if o.Dir, err = upstream.Locate(); err != nil {
			return nil, fmt.Errorf("locate scheduler_perf (or pass --upstream-dir): %v", err)
		}
	}
	tcs, err := upstream.Load(o.Dir)
	if err != nil {
		return nil, err
	}
	choices, skipped, err := upstream.Choose(tcs, o.Workloads)
	if err != nil {
		return nil, err
	}
	if o.BinDir == "" {
		if o.BinDir, err = testenv.BinDir(); err != nil {
			return nil, err
		}
	}
	if o.OutDir == "" {
		o.OutDir = "bench-results"
	}
	logDir := filepath.Join(o.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(logDir); err == nil {
		logDir = abs
	}
	os.Setenv(testenv.BinDirEnv, o.BinDir)
	rep := &UpstreamReport{StartedAt: time.Now().UTC().Format(time.RFC3339), Dir: o.Dir, Factor: o.Factor,
		Schedulers: o.Schedulers, Host: hostInfo(o.BinDir), Skipped: skipped}
	start := time.Now()
	for _, c := range choices {
		if ctx.Err() != nil {
			break
		}
		tc := upstream.Find(tcs, c.TestCase)
		wr := runUpstreamWorkload(ctx, o, tc, tc.Workload(c.Workload), c.Factor(o.Factor), logDir)
		if wr.Error != "" && len(wr.Runs) == 0 {
			rep.Skipped = append(rep.Skipped, upstream.Skip{TestCase: c.TestCase, Workload: c.Workload, Reason: wr.Error})
		}
		rep.Workloads = append(rep.Workloads, wr)
		rep.ElapsedSeconds = time.Since(start).Seconds()
		if err := rep.write(o.OutDir); err != nil {
			return rep, err
		}
	}
	rep.ElapsedSeconds = time.Since(start).Seconds()
	return rep, rep.write(o.OutDir)
}

func runUpstreamWorkload(ctx context.Context, o UpstreamOptions, tc *upstream.TestCase, w *upstream.Workload, factor float64, logDir string) *UpstreamResult {
	wr := &UpstreamResult{TestCase: tc.Name, Workload: w.Name, Factor: factor, Params: upstream.ScaleParams(w.Params, factor)}
	wr.Threshold, wr.ThresholdFrom = tc.PublishedThreshold(w)
	gates := tc.FeatureGatesOf(w)
	var gs []string
	for k, v := range gates {
		gs = append(gs, fmt.Sprintf("%s=%t", k, v))
	}
	sort.Strings(gs)
	wr.FeatureGates = strings.Join(gs, ",")
	if r := tc.Unsupported(); r != "" {
		wr.Error = r
		return wr
	}
	ops, err := tc.Resolve(wr.Params)
	if err != nil {
		wr.Error = err.Error()
		return wr
	}
	for _, op := range ops {
		if op.SteadyState {
			wr.Error = "steady-state createPods (keep the cluster at a level for a duration) is not implemented; choose a workload with steadyState: false"
			return wr
		}
	}
	wr.Notes = upstreamNotes(ops, gates)
	for _, s := range o.Schedulers {
		if ctx.Err() != nil {
			break
		}
		ex := &upstreamExec{o: o, tc: tc, w: w, ops: ops, gates: gates, sched: s, logDir: logDir,
			logf: func(format string, args ...any) {
				fmt.Fprintf(o.Progress, "[%s/%s] %s\n", tc.Name, s, fmt.Sprintf(format, args...))
			}}
		run := ex.run(ctx)
		if run.Error != "" {
			ex.logf("error: %s", run.Error)
		}
		wr.Runs = append(wr.Runs, run)
	}
	return wr
}

// upstreamNotes lists the departures from scheduler_perf a workload's ops
// imply.
func upstreamNotes(ops []upstream.Op, gates map[string]bool) []string {
	var notes []string
	add := func(s string) {
		for _, n := range notes {
			if n == s {
				return
			}
		}
		notes = append(notes, s)
	}
	for _, op := range ops {
		if op.PersistentVolumeTemplatePath != "" {
			add("PVs and PVCs are created pre-bound, as scheduler_perf does")
		}
		if op.Opcode == upstream.OpAllocResourceClaims {
			add("allocResourceClaims: the harness allocates the init claims first-fit over the ResourceSlices (exactly-count requests; selectors not evaluated), where scheduler_perf runs the DRA allocator")
		}
		if op.Opcode == upstream.OpCreatePodGroups {
			add("createPodGroups does not wait for the scheduler's informer to see the groups (the scheduler is another process)")
		}
	}
	if gates["NodeDeclaredFeatures"] {
		add("NodeDeclaredFeatures: nodes declare Feature1..N in status.declaredFeatures; scheduler_perf also registers N mock features inside its in-process scheduler, which an out-of-process kube-scheduler or berth cannot have, so only their built-in features are inferred")
	}
	return notes
}

func (rep *UpstreamReport) write(dir string) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "upstream-results.json"), data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "upstream-results.md"), []byte(rep.Markdown()), 0o644)
}

// Markdown renders the report: one row per upstream workload with the
// published threshold beside each scheduler's throughput and p99, then the
// notes and the skipped test cases.
func (rep *UpstreamReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# berth-bench: kube-scheduler's scheduler_perf workloads\n\n")
	fmt.Fprintf(&b, "Started %s, %.0f s; %d CPUs, %s; load average at start %s.\n", rep.StartedAt, rep.ElapsedSeconds,
		rep.Host.CPUs, rep.Host.OS, rep.Host.LoadAverageAtStart)
	fmt.Fprintf(&b, "berth %s; kube-scheduler %s.\n", oneLine(rep.Host.BerthVersion), oneLine(rep.Host.KubeSchedulerVersion))
	fmt.Fprintf(&b, "Definitions: %s; count parameters scaled by %g.\n\n", rep.Dir, rep.Factor)
	b.WriteString("| test case | workload (scaled) | nodes | measured pods | upstream threshold (pods/s) |")
	for _, s := range rep.Schedulers {
		fmt.Fprintf(&b, " %s pods/s | %s p99 |", s, s)
	}
	b.WriteString(" notes |\n|---|---|--:|--:|--:|")
	for range rep.Schedulers {
		b.WriteString("--:|--:|")
	}
	b.WriteString("---|\n")
	for _, wr := range rep.Workloads {
		nodes, measured := "-", "-"
		byS := map[string]*UpstreamRun{}
		for _, r := range wr.Runs {
			byS[r.Scheduler] = r
			if r.Error == "" || r.Measured > 0 {
				nodes, measured = fmt.Sprint(r.Nodes), fmt.Sprint(r.Measured)
			}
		}
		th := wr.Threshold.String()
		if wr.ThresholdFrom != "" && wr.ThresholdFrom != wr.Workload {
			th += " (" + wr.ThresholdFrom + ")"
		}
		fmt.Fprintf(&b, "| %s | %s ×%g | %s | %s | %s |", wr.TestCase, wr.Workload, wr.Factor, nodes, measured, th)
		var notes []string
		for _, s := range rep.Schedulers {
			r := byS[s]
			if r == nil {
				b.WriteString(" - | - |")
				continue
			}
			tp := fmt.Sprintf("%.1f", r.ThroughputAvg)
			if r.Bound < r.Measured {
				tp += fmt.Sprintf(" (%d/%d bound)", r.Bound, r.Measured)
			}
			fmt.Fprintf(&b, " %s | %s |", tp, fmtMs(r.LatencyP99Ms))
			if r.Error != "" {
				notes = append(notes, s+": "+oneLine(r.Error))
			} else if r.StopReason != "all-bound" {
				notes = append(notes, s+": "+r.StopReason)
			}
		}
		if wr.Error != "" {
			notes = append(notes, "not run: "+oneLine(wr.Error))
		}
		fmt.Fprintf(&b, " %s |\n", strings.Join(notes, "; "))
	}
	b.WriteString("\nThroughput is the measured pods bound divided by the time from the first measured create to the last bind; p99 is create-to-bind latency on the API server's watch. Upstream's thresholds are for its full-size workload (named in brackets when it is not the one run) on CI hardware with an in-process scheduler and API server; they are a reference, not a target, at this scale.\n")
	first := true
	for _, wr := range rep.Workloads {
		if len(wr.Notes) == 0 && wr.FeatureGates == "" {
			continue
		}
		if first {
			b.WriteString("\n## Per-workload notes\n\n")
			first = false
		}
		fmt.Fprintf(&b, "- %s/%s: params %s", wr.TestCase, wr.Workload, paramsString(wr.Params))
		if wr.FeatureGates != "" {
			fmt.Fprintf(&b, "; kube-scheduler --feature-gates=%s", wr.FeatureGates)
		}
		for _, n := range wr.Notes {
			fmt.Fprintf(&b, "; %s", n)
		}
		b.WriteString("\n")
	}
	if len(rep.Skipped) > 0 {
		b.WriteString("\n## Skipped upstream test cases\n\n")
		for _, s := range rep.Skipped {
			name := s.TestCase
			if s.Workload != "" {
				name += "/" + s.Workload
			}
			fmt.Fprintf(&b, "- %s: %s\n", name, s.Reason)
		}
	}
	return b.String()
}

func paramsString(p map[string]any) string {
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v, _ := json.Marshal(p[k])
		parts = append(parts, k+"="+string(v))
	}
	return strings.Join(parts, " ")
}
