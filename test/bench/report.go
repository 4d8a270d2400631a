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
	// KubeSchedulerBerthVersion is plugin mode's binary's --version, when
	// it is built (it is kube-scheduler's version).
	KubeSchedulerBerthVersion string `json:"kubeSchedulerBerthVersion,omitempty"`
	LoadAverageAtStart        string `json:"loadAverageAtStart"`
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
	// BerthExtender and PluginMode are the kube-scheduler shells' runs,
	// present where they ran (workloads with shells, or --schedulers).
	BerthExtender *RunResult `json:"berthExtender,omitempty"`
	PluginMode    *RunResult `json:"pluginMode,omitempty"`
	Ratios        Ratios     `json:"ratios"`
	Targets       Targets    `json:"targets"`
	TargetResults []Target   `json:"targetResults"`
	Error         string     `json:"error,omitempty"`

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
	// BerthExtender and PluginMode compare each kube-scheduler shell with
	// the other runs; nil when the shell did not run (or failed).
	BerthExtender *ShellRatios `json:"berthExtender,omitempty"`
	PluginMode    *ShellRatios `json:"pluginMode,omitempty"`
}

// ShellRatios say what running berth's placement inside kube-scheduler
// costs: one shell's figures over kube-scheduler's, berth's and the
// ceiling's on the same workload; nil when a figure is missing or zero in
// the denominator.
type ShellRatios struct {
	// Throughput (average) shell / kube-scheduler, / berth and / ceiling:
	// higher is better.
	ThroughputVsKubeScheduler *float64 `json:"throughputVsKubeScheduler"`
	ThroughputVsBerth         *float64 `json:"throughputVsBerth"`
	ThroughputVsCeiling       *float64 `json:"throughputVsCeiling"`
	// p99 latency shell / kube-scheduler: lower is better.
	P99LatencyVsKubeScheduler *float64 `json:"p99LatencyVsKubeScheduler"`
	// CPU seconds and peak RSS shell / kube-scheduler (for berth-extender
	// the sums over its two processes): lower is better.
	CPUVsKubeScheduler *float64 `json:"cpuVsKubeScheduler"`
	RSSVsKubeScheduler *float64 `json:"rssVsKubeScheduler"`
}

// shellRatios compares shell with kube-scheduler, berth and the ceiling
// (any of which may be nil); nil without a shell result.
func shellRatios(shell, ks, b, c *RunResult) *ShellRatios {
	if shell == nil {
		return nil
	}
	r := &ShellRatios{}
	if ks != nil {
		r.ThroughputVsKubeScheduler = ratio(shell.ThroughputAvg, ks.ThroughputAvg)
		r.P99LatencyVsKubeScheduler = ratioPtr(shell.LatencyP99Ms, ks.LatencyP99Ms)
		r.CPUVsKubeScheduler = ratioPtr(shell.CPUSeconds, ks.CPUSeconds)
		r.RSSVsKubeScheduler = ratioPtr(shell.PeakRSSMiB, ks.PeakRSSMiB)
	}
	if b != nil {
		r.ThroughputVsBerth = ratio(shell.ThroughputAvg, b.ThroughputAvg)
	}
	if c != nil {
		r.ThroughputVsCeiling = ratio(shell.ThroughputAvg, c.ThroughputAvg)
	}
	return r
}

// ratioPtr is ratio of two optional figures.
func ratioPtr(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	return ratio(*a, *b)
}

// runs are the workload's results in report order.
func (wr *WorkloadResult) runs() []*RunResult {
	var out []*RunResult
	for _, r := range []*RunResult{wr.KubeScheduler, wr.Berth, wr.BerthExtender, wr.PluginMode, wr.Ceiling} {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
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
	r.BerthExtender = shellRatios(ok(wr.BerthExtender), ks, b, c)
	r.PluginMode = shellRatios(ok(wr.PluginMode), ks, b, c)
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

// Markdown renders the report as tables: per-run figures, berth's
// comparison, and where they ran the shells' comparison and gang figures.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scale `%s`, %d CPUs, load average at start %s, started %s, took %.0fs.  \n", rep.Scale, rep.Host.CPUs, rep.Host.LoadAverageAtStart, rep.StartedAt, rep.ElapsedSeconds)
	fmt.Fprintf(&b, "berth: %s; kube-scheduler: %s", rep.Host.BerthVersion, rep.Host.KubeSchedulerVersion)
	if rep.hasShells() && rep.Host.KubeSchedulerBerthVersion != "" {
		fmt.Fprintf(&b, "; kube-scheduler-berth: %s", rep.Host.KubeSchedulerBerthVersion)
	}
	b.WriteString(".\n\n")
	b.WriteString("| workload | nodes / initial / measured | scheduler | bound / expected | stop | pods/s avg | pods/s p50 | latency p50 / p90 / p99 (ms) | CPU s | peak RSS MiB | violations | CPU req. CV |\n")
	b.WriteString("|---|---|---|---|---|---:|---:|---|---:|---:|---|---:|\n")
	for _, w := range rep.Workloads {
		size := fmt.Sprintf("%d / %d / %d", w.Nodes, w.InitialPods, w.MeasuredPods)
		if w.Error != "" {
			fmt.Fprintf(&b, "| %s | %s | — | error: %s | | | | | | | | |\n", w.Name, size, oneLine(w.Error))
			continue
		}
		for _, r := range w.runs() {
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
	rep.summedNote(&b)
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
	rep.shellsMarkdown(&b)
	rep.gangMarkdown(&b)
	return b.String()
}

// hasShells reports whether a shell ran on some workload.
func (rep *Report) hasShells() bool {
	for _, w := range rep.Workloads {
		if w.BerthExtender != nil || w.PluginMode != nil {
			return true
		}
	}
	return false
}

// summedNote says, under the runs table, which rows' CPU and RSS are sums
// of several processes and what the parts were, and the extender's round
// trips.
func (rep *Report) summedNote(b *strings.Builder) {
	for _, w := range rep.Workloads {
		for _, r := range w.runs() {
			if r.Error == "" && len(r.ExtenderVerbs) > 0 {
				fmt.Fprintf(b, "\n%s / %s: extender round trips during the measurement: %s.\n", w.Name, r.Scheduler, extenderVerbsString(r.ExtenderVerbs, r.Bound))
			}
			if r.Error != "" || len(r.Processes) < 2 {
				continue
			}
			var cpu, rss []string
			for _, p := range r.Processes {
				cpu = append(cpu, fmt.Sprintf("%s %.1f", p.Name, p.CPUSeconds))
				rss = append(rss, fmt.Sprintf("%s %.0f", p.Name, p.PeakRSSMiB))
			}
			fmt.Fprintf(b, "\n%s / %s: CPU s and peak RSS are the sums over its processes (CPU s: %s; peak RSS MiB: %s).\n",
				w.Name, r.Scheduler, strings.Join(cpu, " + "), strings.Join(rss, " + "))
		}
	}
}

// shellsMarkdown adds the comparison of the kube-scheduler shells, if any
// ran.
func (rep *Report) shellsMarkdown(b *strings.Builder) {
	if !rep.hasShells() {
		return
	}
	b.WriteString("\n| workload | shell | throughput shell / kube-scheduler | shell / berth | shell / ceiling | p99 shell / kube-scheduler | CPU shell / kube-scheduler | RSS shell / kube-scheduler |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range rep.Workloads {
		for _, sh := range []struct {
			name string
			r    *ShellRatios
		}{{BerthExtender, w.Ratios.BerthExtender}, {PluginMode, w.Ratios.PluginMode}} {
			if sh.r == nil {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", w.Name, sh.name, num(sh.r.ThroughputVsKubeScheduler, 2),
				num(sh.r.ThroughputVsBerth, 2), num(sh.r.ThroughputVsCeiling, 2), num(sh.r.P99LatencyVsKubeScheduler, 2),
				num(sh.r.CPUVsKubeScheduler, 2), num(sh.r.RSSVsKubeScheduler, 2))
		}
	}
}

// gangMarkdown adds the table of the gang workloads, if any ran.
func (rep *Report) gangMarkdown(b *strings.Builder) {
	header := false
	for _, w := range rep.Workloads {
		for _, r := range w.runs() {
			if r.Gang == nil {
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
