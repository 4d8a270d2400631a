package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Report is the whole run, written as results.json.
type Report struct {
	StartedAt      string            `json:"startedAt"`
	ElapsedSeconds float64           `json:"elapsedSeconds"`
	Scale          string            `json:"scale"`
	Schedulers     []string          `json:"schedulers"`
	Host           Host              `json:"host"`
	Settings       Settings          `json:"settings"`
	Workloads      []*WorkloadResult `json:"workloads"`
}

// Host describes the machine and binaries.
type Host struct {
	CPUs                 int    `json:"cpus"`
	OS                   string `json:"os"`
	GoVersion            string `json:"goVersion"`
	BerthVersion         string `json:"berthVersion"`
	KubeSchedulerVersion string `json:"kubeSchedulerVersion"`
	LoadAverageAtStart   string `json:"loadAverageAtStart"`
}

// Settings are the harness knobs used.
type Settings struct {
	QPS                 float32 `json:"qps"`
	Burst               int32   `json:"burst"`
	CreateWorkers       int     `json:"createWorkers"`
	BindWorkers         int     `json:"bindWorkers"`
	StallTimeoutSeconds float64 `json:"stallTimeoutSeconds"`
	RunTimeoutSeconds   float64 `json:"runTimeoutSeconds"`
}

// WorkloadResult holds one workload's runs and their comparison.
type WorkloadResult struct {
	Name                string     `json:"name"`
	Description         string     `json:"description"`
	Nodes               int        `json:"nodes"`
	InitialPods         int        `json:"initialPods"`
	MeasuredPods        int        `json:"measuredPods"`
	ExpectedSchedulable int        `json:"expectedSchedulable"`
	ChurnPerSecond      int        `json:"churnPerSecond"`
	WallSeconds         float64    `json:"wallSeconds"`
	KubeScheduler       *RunResult `json:"kubeScheduler"`
	Berth               *RunResult `json:"berth"`
	Ceiling             *RunResult `json:"ceiling"`
	Ratios              Ratios     `json:"ratios"`
	Targets             Targets    `json:"targets"`
	TargetResults       []Target   `json:"targetResults"`
	Error               string     `json:"error,omitempty"`

	// KubeSchedulerFeatureGates is kube-scheduler's --feature-gates value
	// in this workload, if any.
	KubeSchedulerFeatureGates string `json:"kubeSchedulerFeatureGates,omitempty"`
}

// Ratios compare berth with kube-scheduler and the ceiling; nil when a
// figure is missing or zero in the denominator.
type Ratios struct {
	// Throughput (average) berth / kube-scheduler: higher is better.
	BerthVsKubeScheduler *float64 `json:"throughputBerthVsKubeScheduler"`
	// Throughput (p50 of per-second counts) berth / kube-scheduler.
	BerthVsKubeSchedulerP50 *float64 `json:"throughputP50BerthVsKubeScheduler"`
	// Throughput (average) berth / ceiling and kube-scheduler / ceiling.
	BerthVsCeiling         *float64 `json:"throughputBerthVsCeiling"`
	KubeSchedulerVsCeiling *float64 `json:"throughputKubeSchedulerVsCeiling"`
	// p99 latency berth / kube-scheduler: lower is better.
	P99LatencyBerthVsKubeScheduler *float64 `json:"p99LatencyBerthVsKubeScheduler"`
	// CPU seconds berth / kube-scheduler for the same pods: lower is better.
	CPUBerthVsKubeScheduler *float64 `json:"cpuBerthVsKubeScheduler"`
	// Peak RSS berth / kube-scheduler: lower is better.
	RSSBerthVsKubeScheduler *float64 `json:"rssBerthVsKubeScheduler"`
}

// Target is one target evaluated: Met is nil when it cannot be computed.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  *bool  `json:"met"`
}

func (wr *WorkloadResult) computeRatios() {
	ks, b, c := ok(wr.KubeScheduler), ok(wr.Berth), ok(wr.Ceiling)
	r := &wr.Ratios
	if ks != nil && b != nil {
		r.BerthVsKubeScheduler = ratio(b.ThroughputAvg, ks.ThroughputAvg)
		r.BerthVsKubeSchedulerP50 = ratio(b.ThroughputP50, ks.ThroughputP50)
		if b.LatencyP99Ms != nil && ks.LatencyP99Ms != nil {
			r.P99LatencyBerthVsKubeScheduler = ratio(*b.LatencyP99Ms, *ks.LatencyP99Ms)
		}
		if b.CPUSeconds != nil && ks.CPUSeconds != nil {
			r.CPUBerthVsKubeScheduler = ratio(*b.CPUSeconds, *ks.CPUSeconds)
		}
		if b.PeakRSSMiB != nil && ks.PeakRSSMiB != nil {
			r.RSSBerthVsKubeScheduler = ratio(*b.PeakRSSMiB, *ks.PeakRSSMiB)
		}
	}
	if c != nil {
		if b != nil {
			r.BerthVsCeiling = ratio(b.ThroughputAvg, c.ThroughputAvg)
		}
		if ks != nil {
			r.KubeSchedulerVsCeiling = ratio(ks.ThroughputAvg, c.ThroughputAvg)
		}
	}

	t := wr.Targets
	add := func(name, want string, got *float64, met func(float64) bool) {
		tr := Target{Name: name, Want: want, Got: "n/a"}
		if got != nil {
			tr.Got = fmt.Sprintf("%.2f", *got)
			m := met(*got)
			tr.Met = &m
		}
		wr.TargetResults = append(wr.TargetResults, tr)
	}
	if t.ThroughputVsKubeScheduler > 0 {
		add("throughput berth/kube-scheduler", fmt.Sprintf(">= %g", t.ThroughputVsKubeScheduler), r.BerthVsKubeScheduler,
			func(x float64) bool { return x >= t.ThroughputVsKubeScheduler })
	}
	if t.ThroughputVsCeiling > 0 {
		add("throughput berth/ceiling", fmt.Sprintf(">= %g", t.ThroughputVsCeiling), r.BerthVsCeiling,
			func(x float64) bool { return x >= t.ThroughputVsCeiling })
	}
	if t.P99NoWorse {
		add("p99 latency berth/kube-scheduler", "<= 1", r.P99LatencyBerthVsKubeScheduler, func(x float64) bool { return x <= 1 })
	}
	if t.ZeroViolations {
		var got *float64
		if b != nil && b.Quality != nil {
			v := float64(b.Quality.Violations.Total)
			got = &v
		}
		add("berth violations", "= 0", got, func(x float64) bool { return x == 0 })
	}
	if wr.TargetResults == nil {
		wr.TargetResults = []Target{}
	}
}

func ok(r *RunResult) *RunResult {
	if r == nil || r.Error != "" {
		return nil
	}
	return r
}

func (rep *Report) write(dir string) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.Markdown()), 0o644)
}

// Markdown renders the report as two tables (per-run figures, comparison).
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale `%s`, %d CPUs, load average at start %s, started %s, took %.0fs.  \n", rep.Scale, rep.Host.CPUs, rep.Host.LoadAverageAtStart, rep.StartedAt, rep.ElapsedSeconds)
	fmt.Fprintf(&b, "berth: %s; kube-scheduler: %s.\n\n", rep.Host.BerthVersion, rep.Host.KubeSchedulerVersion)
	b.WriteString("| workload | nodes / initial / measured | scheduler | bound / expected | stop | pods/s avg | pods/s p50 | latency p50 / p90 / p99 (ms) | CPU s | peak RSS MiB | violations | CPU req. CV |\n")
	b.WriteString("|---|---|---|---|---|---:|---:|---|---:|---:|---|---:|\n")
	for _, w := range rep.Workloads {
		size := fmt.Sprintf("%d / %d / %d", w.Nodes, w.InitialPods, w.MeasuredPods)
		if w.Error != "" {
			fmt.Fprintf(&b, "| %s | %s | — | error: %s | | | | | | | | |\n", w.Name, size, oneLine(w.Error))
			continue
		}
		for _, r := range []*RunResult{w.KubeScheduler, w.Berth, w.Ceiling} {
			if r == nil {
				continue
			}
			if r.Error != "" {
				fmt.Fprintf(&b, "| %s | %s | %s | error: %s | | | | | | | | |\n", w.Name, size, r.Scheduler, oneLine(r.Error))
				continue
			}
			viol, cv := "n/a", "n/a"
			if r.Quality != nil {
				viol = violationsString(r.Quality.Violations)
				cv = fmt.Sprintf("%.3f", r.Quality.CPURequestedCV)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d / %d | %s | %.1f | %.0f | %s / %s / %s | %s | %s | %s | %s |\n",
				w.Name, size, r.Scheduler, r.Bound, r.ExpectedSchedulable, r.StopReason, r.ThroughputAvg, r.ThroughputP50,
				num(r.LatencyP50Ms, 0), num(r.LatencyP90Ms, 0), num(r.LatencyP99Ms, 0), num(r.CPUSeconds, 1), num(r.PeakRSSMiB, 0), viol, cv)
		}
	}
	b.WriteString("\n| workload | throughput berth / kube-scheduler | berth / ceiling | kube-scheduler / ceiling | p99 berth / kube-scheduler | CPU berth / kube-scheduler | targets |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	for _, w := range rep.Workloads {
		r := w.Ratios
		var ts []string
		for _, t := range w.TargetResults {
			mark := "?"
			if t.Met != nil {
				mark = "✗"
				if *t.Met {
					mark = "✓"
				}
			}
			ts = append(ts, fmt.Sprintf("%s %s %s (%s)", mark, t.Name, t.Want, t.Got))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", w.Name, num(r.BerthVsKubeScheduler, 2), num(r.BerthVsCeiling, 2),
			num(r.KubeSchedulerVsCeiling, 2), num(r.P99LatencyBerthVsKubeScheduler, 2), num(r.CPUBerthVsKubeScheduler, 2), strings.Join(ts, "; "))
	}
	rep.gangMarkdown(&b)
	return b.String()
}

// gangMarkdown adds the table of the gang workloads, if any ran.
func (rep *Report) gangMarkdown(b *strings.Builder) {
	header := false
	for _, w := range rep.Workloads {
		for _, r := range []*RunResult{w.KubeScheduler, w.Berth, w.Ceiling} {
			if r == nil || r.Gang == nil {
				continue
			}
			if !header {
				b.WriteString("\n| workload | scheduler | gangs placed | gang time p50 / p99 (ms) | partial gangs at end | max partial during run | partial gang·s | contest A / B bound (of minCount) | contest placed |\n")
				b.WriteString("|---|---|---:|---|---:|---:|---:|---|---|\n")
				header = true
			}
			g := r.Gang
			placed := g.ContestPlaced
			if r.Scheduler == Ceiling {
				placed = "not attempted"
			}
			fmt.Fprintf(b, "| %s | %s | %d / %d | %s / %s | %d | %d | %.1f | %s | %s |\n", w.Name, r.Scheduler, g.GroupsPlaced, g.Groups,
				num(g.GroupTimeP50Ms, 0), num(g.GroupTimeP99Ms, 0), g.PartialAtEnd, g.PartialMax, g.PartialGroupSeconds, g.contestString(), placed)
		}
	}
}

func violationsString(v Violations) string {
	if v.Total == 0 {
		return "0"
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(v.CapacityOvercommit, "overcommit")
	add(v.NodeAffinity, "node-affinity")
	add(v.PodAntiAffinity, "anti-affinity")
	add(v.PodAffinity, "affinity")
	if v.TopologySpread > 0 {
		var keys []string
		for k := range v.MaxTopologySkew {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sk []string
		for _, k := range keys {
			sk = append(sk, fmt.Sprintf("%s=%d", shortKey(k), v.MaxTopologySkew[k]))
		}
		parts = append(parts, fmt.Sprintf("%d spread (max skew %s)", v.TopologySpread, strings.Join(sk, ", ")))
	}
	add(v.UnschedulableBound, "unschedulable-bound")
	add(v.VolumeUnbound, "volume-unbound")
	add(v.VolumeNodeAffinity, "volume-node-affinity")
	add(v.StorageCapacity, "storage-capacity")
	add(v.DeviceDoubleAllocated, "device-double-allocated")
	add(v.ClaimUnallocated, "claim-unallocated")
	add(v.DeviceNode, "device-node")
	return fmt.Sprintf("**%d**: %s", v.Total, strings.Join(parts, ", "))
}

func shortKey(k string) string {
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		return k[i+1:]
	}
	return k
}

func num(p *float64, prec int) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.*f", prec, *p)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
