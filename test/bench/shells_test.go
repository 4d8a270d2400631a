package bench

import (
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// TestShellsWorkloadField checks that shells is parsed, set on Basic
// only, and decides the default scheduler list.
func TestShellsWorkloadField(t *testing.T) {
	ws, err := LoadWorkloads("")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.Shells != (w.Name == "Basic") {
			t.Errorf("%s: shells = %v", w.Name, w.Shells)
		}
	}
	w, err := ParseWorkload([]byte(minimalWorkload + "shells: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := defaultSchedulers(w), []string{KubeScheduler, Berth, BerthExtender, PluginMode, Ceiling}; !reflect.DeepEqual(got, want) {
		t.Errorf("with shells: %v, want %v", got, want)
	}
	w, err = ParseWorkload([]byte(minimalWorkload))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := defaultSchedulers(w), []string{KubeScheduler, Berth, Ceiling}; !reflect.DeepEqual(got, want) {
		t.Errorf("without shells: %v, want %v", got, want)
	}
	if _, err := ParseWorkload([]byte(minimalWorkload + "shell: true\n")); err == nil {
		t.Error("a misspelt shells field was accepted")
	}
}

const minimalWorkload = `name: Mini
nodes: {profile: basic, zones: 1}
measuredPods:
- name: plain
  weight: 1
  template:
    spec:
      containers: [{name: c, image: pause}]
scales:
  full:  {nodes: 2, measuredPods: 2}
  small: {nodes: 2, measuredPods: 2}
  tiny:  {nodes: 2, measuredPods: 2}
`

// TestSchedulerLists checks --schedulers validation and the report's
// scheduler list.
func TestSchedulerLists(t *testing.T) {
	if err := validSchedulers([]string{KubeScheduler, BerthExtender, PluginMode, Berth, Ceiling}); err != nil {
		t.Errorf("every known scheduler: %v", err)
	}
	for _, bad := range [][]string{{"kube-scheduler", "extender"}, {Berth, Berth}, {""}} {
		if err := validSchedulers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	plain, shells := &Workload{Name: "A"}, &Workload{Name: "B", Shells: true}
	if got, want := schedulersOf(nil, []*Workload{plain, shells}), knownSchedulers; !reflect.DeepEqual(got, want) {
		t.Errorf("default with a shells workload: %v, want %v", got, want)
	}
	if got, want := schedulersOf(nil, []*Workload{plain}), []string{KubeScheduler, Berth, Ceiling}; !reflect.DeepEqual(got, want) {
		t.Errorf("default without: %v, want %v", got, want)
	}
	if got, want := schedulersOf([]string{PluginMode}, []*Workload{plain}), []string{PluginMode}; !reflect.DeepEqual(got, want) {
		t.Errorf("explicit: %v, want %v", got, want)
	}
	for _, s := range knownSchedulers {
		for _, o := range knownSchedulers {
			if s != o && schedulerNameFor(s) == schedulerNameFor(o) {
				t.Errorf("%s and %s share schedulerName %q", s, o, schedulerNameFor(s))
			}
		}
	}
}

// TestShellConfigs checks the shells' KubeSchedulerConfigurations: they
// decode strictly as kubescheduler.config.k8s.io/v1, carry the common
// client settings and the profile the measured pods name, and the
// extender stanza is the one docs/extender.md asks for.
func TestShellConfigs(t *testing.T) {
	parse := func(what, s string) *configv1.KubeSchedulerConfiguration {
		t.Helper()
		c := &configv1.KubeSchedulerConfiguration{}
		if err := yaml.UnmarshalStrict([]byte(s), c); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, s)
		}
		if c.APIVersion != "kubescheduler.config.k8s.io/v1" || c.Kind != "KubeSchedulerConfiguration" {
			t.Errorf("%s: %s %s", what, c.APIVersion, c.Kind)
		}
		cc := c.ClientConnection
		if cc.Kubeconfig != "/k" || cc.QPS != 5000 || cc.Burst != 10000 || c.LeaderElection.LeaderElect == nil || *c.LeaderElection.LeaderElect {
			t.Errorf("%s: client settings %+v, leader election %v", what, cc, c.LeaderElection.LeaderElect)
		}
		return c
	}

	ext := parse("extender", extenderSchedulerConfig("/k", 5000, 10000, "http://127.0.0.1:1234"))
	if len(ext.Profiles) != 1 || ptr.Deref(ext.Profiles[0].SchedulerName, "") != schedulerNameFor(BerthExtender) || ext.Profiles[0].Plugins != nil {
		t.Errorf("extender: profiles %+v", ext.Profiles)
	}
	want := configv1.Extender{URLPrefix: "http://127.0.0.1:1234", FilterVerb: "filter", PrioritizeVerb: "prioritize", PreemptVerb: "preempt",
		BindVerb: "bind", Weight: 10, NodeCacheCapable: true, Ignorable: false, HTTPTimeout: metav1.Duration{Duration: 30 * time.Second}}
	if len(ext.Extenders) != 1 || !reflect.DeepEqual(ext.Extenders[0], want) {
		t.Errorf("extender stanza %+v, want %+v", ext.Extenders, want)
	}

	pm := parse("plugin mode", pluginModeConfig("/k", 5000, 10000))
	if len(pm.Profiles) != 1 || ptr.Deref(pm.Profiles[0].SchedulerName, "") != schedulerNameFor(PluginMode) || pm.Profiles[0].Plugins == nil {
		t.Fatalf("plugin mode: profiles %+v", pm.Profiles)
	}
	var enabled []string
	for _, p := range pm.Profiles[0].Plugins.MultiPoint.Enabled {
		enabled = append(enabled, p.Name)
	}
	if want := []string{"GPUShare", "NodePreference", "NetworkAware", "StorageLocality"}; !reflect.DeepEqual(enabled, want) {
		t.Errorf("plugin mode enables %v, want %v", enabled, want)
	}
	if len(pm.Profiles[0].Plugins.MultiPoint.Disabled) != 0 || len(pm.Extenders) != 0 {
		t.Errorf("plugin mode must keep kube-scheduler's defaults and call no extender: %+v", pm)
	}

	base := parse("base", schedulerConfig("/k", 5000, 10000))
	if len(base.Profiles) != 0 {
		t.Errorf("the base configuration names a profile: kube-scheduler and berth must run their defaults")
	}
}

// TestShellsReport checks the rows, sums and ratios of the shells in
// results.md and results.json.
func TestShellsReport(t *testing.T) {
	run := func(s string, tput, p99, cpu, rss float64) *RunResult {
		r := &RunResult{Scheduler: s, Created: 10, ExpectedSchedulable: 10, Bound: 10, StopReason: "all-bound",
			ThroughputAvg: tput, ThroughputP50: tput, LatencyP50Ms: ptr.To(p99 / 2), LatencyP90Ms: ptr.To(p99), LatencyP99Ms: ptr.To(p99)}
		if s != Ceiling {
			r.CPUSeconds, r.PeakRSSMiB = ptr.To(cpu), ptr.To(rss)
			r.Quality = &Quality{}
		}
		return r
	}
	ext := run(BerthExtender, 50, 400, 3, 150)
	ext.ExtenderVerbs = []ExtenderVerb{{Verb: "filter", Requests: 10, MeanMs: ptr.To(1.5)}, {Verb: "bind", Requests: 10, MeanMs: ptr.To(4.0)}}
	ext.Processes = []ProcessUsage{{Name: "kube-scheduler", CPUSeconds: 2, PeakRSSMiB: 90}, {Name: "berth extender", CPUSeconds: 1, PeakRSSMiB: 60}}
	w := &WorkloadResult{Name: "Basic", Nodes: 50, InitialPods: 50, MeasuredPods: 10, ExpectedSchedulable: 10,
		KubeScheduler: run(KubeScheduler, 100, 200, 2, 100), Berth: run(Berth, 200, 100, 1, 80),
		BerthExtender: ext, PluginMode: run(PluginMode, 80, 250, 2.5, 110), Ceiling: run(Ceiling, 400, 50, 0, 0)}
	w.computeRatios()
	plain := &WorkloadResult{Name: "Churn", KubeScheduler: run(KubeScheduler, 100, 200, 2, 100), Berth: run(Berth, 200, 100, 1, 80)}
	plain.computeRatios()

	e, p := w.Ratios.BerthExtender, w.Ratios.PluginMode
	if e == nil || p == nil {
		t.Fatalf("shell ratios missing: %+v", w.Ratios)
	}
	for name, c := range map[string]struct {
		got  *float64
		want float64
	}{
		"extender/ks": {e.ThroughputVsKubeScheduler, 0.5}, "extender/berth": {e.ThroughputVsBerth, 0.25},
		"extender/ceiling": {e.ThroughputVsCeiling, 0.125}, "extender p99": {e.P99LatencyVsKubeScheduler, 2},
		"extender cpu": {e.CPUVsKubeScheduler, 1.5}, "extender rss": {e.RSSVsKubeScheduler, 1.5},
		"plugin/ks": {p.ThroughputVsKubeScheduler, 0.8}, "plugin/ceiling": {p.ThroughputVsCeiling, 0.2},
	} {
		if c.got == nil || *c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if plain.Ratios.BerthExtender != nil || plain.Ratios.PluginMode != nil {
		t.Errorf("ratios for shells that did not run: %+v", plain.Ratios)
	}

	rep := &Report{Scale: ScaleTiny, Host: Host{KubeSchedulerBerthVersion: "Kubernetes v1.37.2"}, Workloads: []*WorkloadResult{w, plain}}
	md := rep.Markdown()
	var order []string
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| Basic | 50 / 50 / 10 | ") {
			order = append(order, strings.Split(line, " | ")[2])
		}
	}
	if want := []string{KubeScheduler, Berth, BerthExtender, PluginMode, Ceiling}; !reflect.DeepEqual(order, want) {
		t.Errorf("rows %v, want %v\n%s", order, want, md)
	}
	for _, want := range []string{
		"| Basic | 50 / 50 / 10 | berth-extender | 10 / 10 | all-bound | 50.0 | 50 | 200 / 400 / 400 | 3.0 | 150 | 0 | 0.000 |",
		"Basic / berth-extender: CPU s and peak RSS are the sums over its processes (CPU s: kube-scheduler 2.0 + berth extender 1.0; peak RSS MiB: kube-scheduler 90 + berth extender 60).",
		"| workload | shell | throughput shell / kube-scheduler | shell / berth | shell / ceiling | p99 shell / kube-scheduler | CPU shell / kube-scheduler | RSS shell / kube-scheduler |",
		"Basic / berth-extender: extender round trips during the measurement: filter 10 (mean 1.50 ms), bind 10 (mean 4.00 ms); 2.00 round trips per bound pod.",
		"| Basic | berth-extender | 0.50 | 0.25 | 0.12 | 2.00 | 1.50 | 1.50 |",
		"| Basic | plugin-mode | 0.80 | 0.40 | 0.20 | 1.25 | 1.25 | 1.10 |",
		"kube-scheduler-berth: Kubernetes v1.37.2",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| Churn | berth-extender") || strings.Contains(md, "| Churn | plugin-mode") {
		t.Errorf("shell rows for a workload without shells:\n%s", md)
	}
	// Without shells, no shell table and no version.
	if md := (&Report{Host: Host{KubeSchedulerBerthVersion: "x"}, Workloads: []*WorkloadResult{plain}}).Markdown(); strings.Contains(md, "| shell |") || strings.Contains(md, "kube-scheduler-berth") {
		t.Errorf("shell table without shells:\n%s", md)
	}

	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Workloads []map[string]any `json:"workloads"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	basic, churn := raw.Workloads[0], raw.Workloads[1]
	for _, key := range []string{"kubeScheduler", "berth", "berthExtender", "pluginMode", "ceiling"} {
		if _, ok := basic[key]; !ok {
			t.Errorf("results.json: Basic has no %q", key)
		}
	}
	ratios := basic["ratios"].(map[string]any)
	requireKeys(t, "ratios", ratios, Ratios{})
	for _, key := range []string{"berthExtender", "pluginMode"} {
		requireKeys(t, "ratios."+key, ratios[key].(map[string]any), ShellRatios{})
	}
	if _, ok := basic["berthExtender"].(map[string]any)["processes"]; !ok {
		t.Errorf("results.json: berthExtender has no processes")
	}
	for _, key := range []string{"berthExtender", "pluginMode"} {
		if _, ok := churn[key]; ok {
			t.Errorf("results.json: Churn has %q", key)
		}
		if _, ok := churn["ratios"].(map[string]any)[key]; ok {
			t.Errorf("results.json: Churn ratios have %q", key)
		}
	}
}

// TestProcGroupUsage checks that a group's CPU time and peak RSS are the
// sums of its processes' (here twice this test process).
func TestProcGroupUsage(t *testing.T) {
	self := func(name string) *process {
		return &process{name: name, cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	}
	g := procGroup{self("kube-scheduler"), self("berth extender")}
	parts, cpu, rss := g.usage([]float64{0, 0})
	if len(parts) != 2 || cpu == nil || rss == nil {
		t.Fatalf("usage: %+v %v %v", parts, cpu, rss)
	}
	if parts[0].Name != "kube-scheduler" || parts[1].Name != "berth extender" || parts[0].PeakRSSMiB <= 0 {
		t.Errorf("parts %+v", parts)
	}
	if want := round3(parts[0].PeakRSSMiB + parts[1].PeakRSSMiB); *rss != want {
		t.Errorf("peak RSS %v, want the sum %v", *rss, want)
	}
	if want := round3(parts[0].CPUSeconds + parts[1].CPUSeconds); *cpu != want {
		t.Errorf("CPU %v, want the sum %v", *cpu, want)
	}
}

// TestExtenderVerbs checks the reading of the extender's /metrics and the
// per-verb difference over a measurement.
func TestExtenderVerbs(t *testing.T) {
	const before = `# HELP berth_extender_requests_total verbs answered
# TYPE berth_extender_requests_total counter
berth_extender_requests_total{result="success",verb="bind"} 1
berth_extender_requests_total{result="success",verb="filter"} 1
berth_extender_requests_total{result="success",verb="prioritize"} 1
berth_extender_request_duration_seconds_bucket{verb="bind",le="0.0005"} 0
berth_extender_request_duration_seconds_sum{verb="bind"} 0.004
berth_extender_request_duration_seconds_count{verb="bind"} 1
berth_extender_request_duration_seconds_sum{verb="filter"} 0.001
berth_extender_request_duration_seconds_sum{verb="prioritize"} 0.001
berth_extender_assumed_pods 0
`
	const after = `berth_extender_requests_total{result="success",verb="bind"} 10
berth_extender_requests_total{result="error",verb="bind"} 1
berth_extender_requests_total{result="success",verb="filter"} 12
berth_extender_requests_total{result="success",verb="prioritize"} 12
berth_extender_request_duration_seconds_sum{verb="bind"} 0.054
berth_extender_request_duration_seconds_sum{verb="filter"} 0.012
berth_extender_request_duration_seconds_sum{verb="prioritize"} 0.023
`
	b, err := parseExtenderMetrics(strings.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseExtenderMetrics(strings.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	got := extenderVerbsBetween(b, a)
	want := []ExtenderVerb{
		{Verb: "filter", Requests: 11, MeanMs: ptr.To(1.0)},
		{Verb: "prioritize", Requests: 11, MeanMs: ptr.To(2.0)},
		{Verb: "bind", Requests: 10, Errors: 1, MeanMs: ptr.To(5.0)},
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		t.Fatalf("verbs %s", gj)
	}
	if s, want := extenderVerbsString(got, 10), "filter 11 (mean 1.00 ms), prioritize 11 (mean 2.00 ms), bind 10 (mean 5.00 ms), 1 errors; 3.20 round trips per bound pod"; s != want {
		t.Errorf("line %q, want %q", s, want)
	}
	if extenderVerbsBetween(nil, a) != nil {
		t.Error("a difference without the first reading")
	}
}
