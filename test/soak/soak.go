package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/svgchart"
	"github.com/berthsched/berth/internal/testenv"
)

// Options configure a soak run.
type Options struct {
	// Duration is how long the churn runs (after a short warm-up).
	Duration time.Duration
	// PerTick pods are created every second, and each tick's pods are
	// deleted Lifetime later: about PerTick × Lifetime/1s pods live at
	// any time.
	PerTick  int
	Lifetime time.Duration
	// GangEvery: every GangEvery-th tick starts with a gang of GangSize
	// (0: no gangs).
	GangEvery, GangSize int
	// Nodes is the number of plain nodes (8 GPU nodes are added).
	Nodes int
	// ScrapeInterval is Prometheus's scrape interval of berth.
	ScrapeInterval time.Duration
	// OutDir receives soak.svg, summary.md, result.json, the logs and
	// berth's heap profiles (heap-q1.pb.gz, heap-end.pb.gz).
	OutDir string
	// Progress receives a line a minute.
	Progress io.Writer
	// Warmup, if set, is left out of the verdict: the trends compare the
	// second and last quarters of [start+Warmup, end] instead of
	// [start, end], for runs too short for bounded caches (GPUShare's
	// workload learner fills after about 17 minutes) to be full by the
	// second quarter.
	Warmup time.Duration
}

func (o *Options) defaults() {
	if o.Duration == 0 {
		o.Duration = time.Hour
	}
	if o.PerTick == 0 {
		o.PerTick = 5
	}
	if o.Lifetime == 0 {
		o.Lifetime = 2 * time.Minute
	}
	if o.GangEvery == 0 {
		o.GangEvery, o.GangSize = 10, 3
	}
	if o.Nodes == 0 {
		o.Nodes = 100
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = 5 * time.Second
	}
	if o.OutDir == "" {
		o.OutDir = "soak-results"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// profile is the berth profile the soak's pods name: the default one
// (GPUShare, GangScheduling and the kube-scheduler defaults).
const profile = "berth"

// Result is a soak run's outcome.
type Result struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Warmup is the start of the run left out of the verdict.
	Warmup time.Duration `json:"warmup"`
	// Created and Deleted count pods; Groups PodGroups.
	Created, Deleted, Groups int
	// BoundAtEnd and PendingAtEnd are the pods alive at the end.
	BoundAtEnd, PendingAtEnd int
	// Series are the plotted measurements, by chart title.
	Series map[string][]svgchart.Series `json:"-"`
	// Trends compare each flatness measure's second quarter (after the
	// warm-up) with its last.
	Trends []Trend
	// Flat is whether every trend held.
	Flat bool
}

// Trend is one measure over the run.
type Trend struct {
	Name string
	// Q2 and Q4 are the means over the run's second and last quarter;
	// Max is the largest sample.
	Q2, Q4, Max float64
	// Growth is Q4/Q2 - 1.
	Growth float64
	// Limit is the largest Growth that counts as flat (0: reported only).
	Limit float64
	Unit  string
}

// OK reports whether the trend is within its limit.
func (t Trend) OK() bool { return t.Limit == 0 || t.Growth <= t.Limit }

// query is one plotted PromQL expression.
type query struct {
	chart, unit, expr, legend string
	// limit, if set, makes the series a flatness measure.
	limit float64
}

// queries are the soak's measurements of berth, as Prometheus scraped
// them.
var queries = []query{
	{chart: "berth resident memory", unit: "B", expr: `process_resident_memory_bytes`, legend: "RSS", limit: 0.10},
	{chart: "Go heap", unit: "B", expr: `go_gc_heap_live_bytes`, legend: "live after GC", limit: 0.10},
	{chart: "Go heap", unit: "B", expr: `go_memstats_heap_inuse_bytes`, legend: "in use (with garbage)"},
	{chart: "Goroutines", expr: `go_goroutines`, legend: "goroutines", limit: 0.10},
	{chart: "berth CPU", expr: `rate(process_cpu_seconds_total[1m])`, legend: "cores"},
	{chart: "Pending pods by queue", expr: `sum by (queue) (berth_pending_pods)`, legend: "queue"},
	{chart: "Cache", expr: `sum by (type) (berth_cache_size)`, legend: "type"},
	{chart: "Pod creation to bind p99", unit: "s", expr: `histogram_quantile(0.99, sum by (le) (rate(berth_pod_creation_to_bind_duration_seconds_bucket[2m])))`, legend: "p99"},
	{chart: "Pods scheduled", unit: "/s", expr: `sum(rate(berth_schedule_attempts_total{result="scheduled"}[1m]))`, legend: "scheduled"},
}

// Run starts a control plane, Prometheus and berth, churns pods for
// o.Duration, then reads the measurements back from Prometheus, writes
// the plot and the summary to o.OutDir and returns the result. An error
// means the soak could not run (or berth exited); a run whose trends are
// not flat returns Flat false and no error.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	say := func(format string, args ...any) {
		fmt.Fprintf(o.Progress, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	// kube-controller-manager as in a real cluster: its
	// podgroup-protection controller removes the finalizer a deleted
	// PodGroup waits on. Without it every PodGroup the churn deletes
	// stays, terminating, and berth rightly keeps it in its informer.
	env, err := testenv.Start(testenv.Options{ControllerManager: true})
	if err != nil {
		return nil, err
	}
	defer env.Stop()
	c := env.Client
	for _, no := range []nodegen.Options{
		{Count: o.Nodes, Profile: nodegen.ProfileBasic, Prefix: "node-", Zones: 4},
		{Count: 8, Profile: nodegen.ProfileGPU, Prefix: "gpu-", Zones: 2},
	} {
		if _, err := nodegen.Create(ctx, c, no); err != nil {
			return nil, err
		}
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return nil, err
	}
	health := "127.0.0.1:" + strconv.Itoa(ports[0])
	dir, err := os.MkdirTemp("", "berth-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	prom, err := promtest.StartServer(promtest.ServerOptions{Dir: dir, ScrapeInterval: o.ScrapeInterval, Targets: []string{health},
		LogPath: filepath.Join(o.OutDir, "prometheus.log")})
	if err != nil {
		return nil, err
	}
	defer prom.Close()
	bin, err := testenv.BinDir()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.OutDir, "berth.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	berth := exec.Command(filepath.Join(bin, "berth"), "run", "--leader-elect=false", "--health-address", health, "--enable-pprof", "--kubeconfig", env.Kubeconfig, "-v=1")
	berth.Stdout, berth.Stderr = logf, logf
	berth.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := berth.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- berth.Wait() }()
	defer func() {
		_ = berth.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = berth.Process.Kill()
		}
	}()
	if err := waitReady(ctx, health, exited); err != nil {
		return nil, err
	}
	nsObj, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "soak"}}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	// The controller manager creates the ServiceAccount admission wants,
	// perhaps not yet.
	if _, err := c.CoreV1().ServiceAccounts(nsObj.Name).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	ch := &churn{client: c, ns: nsObj.Name, scheduler: profile}
	say("control plane, Prometheus and berth (pid %d) up; churning %d pods/s, each living %s, for %s (about %d pods alive)",
		berth.Process.Pid, o.PerTick, o.Lifetime, o.Duration, o.PerTick*int(o.Lifetime/time.Second))

	res := &Result{Started: time.Now().UTC(), Duration: o.Duration, Warmup: o.Warmup}
	life := int(o.Lifetime / time.Second)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	deadline := time.Now().Add(o.Duration)
	lastSay := time.Now()
	// Heap profiles when the warm-up quarter ends and at the end: what
	// grew in between is `go tool pprof -base heap-q1.pb.gz heap-end.pb.gz`.
	profiled := false
	for n := 0; time.Now().Before(deadline); n++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-exited:
			return nil, fmt.Errorf("berth exited during the soak (%v); see %s", err, filepath.Join(o.OutDir, "berth.log"))
		case <-ticker.C:
		}
		if err := ch.tick(ctx, n, o.PerTick, o.GangEvery, o.GangSize); err != nil {
			return nil, err
		}
		if n >= life {
			if err := ch.expire(ctx, n-life); err != nil {
				return nil, err
			}
		}
		if !profiled && time.Since(res.Started) >= o.Warmup+(o.Duration-o.Warmup)/4 {
			profiled = true
			if err := saveHeap(ctx, health, filepath.Join(o.OutDir, "heap-q1.pb.gz")); err != nil {
				say("heap profile: %v", err)
			}
		}
		if time.Since(lastSay) >= time.Minute {
			lastSay = time.Now()
			say("%s of %s: %d pods created, %d deleted, %d gangs; berth RSS %s", time.Since(res.Started).Round(time.Second), o.Duration,
				ch.created, ch.deleted, ch.groups, rssOf(berth.Process.Pid))
		}
	}
	end := time.Now()
	if err := saveHeap(ctx, health, filepath.Join(o.OutDir, "heap-end.pb.gz")); err != nil {
		say("heap profile: %v", err)
	}
	res.Created, res.Deleted, res.Groups = ch.created, ch.deleted, ch.groups
	pods, err := c.CoreV1().Pods(ch.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" {
			res.BoundAtEnd++
		} else {
			res.PendingAtEnd++
		}
	}
	// One more scrape, so the last samples cover the end.
	time.Sleep(2 * o.ScrapeInterval)
	if err := measure(ctx, prom.URL, res, o, end); err != nil {
		return nil, err
	}
	return res, write(res, o)
}

// measure reads every query's range from Prometheus into res and
// computes the trends.
func measure(ctx context.Context, promURL string, res *Result, o Options, end time.Time) error {
	pc, err := api.NewClient(api.Config{Address: promURL})
	if err != nil {
		return err
	}
	papi := promv1.NewAPI(pc)
	step := max(o.ScrapeInterval, o.Duration/300)
	res.Series = map[string][]svgchart.Series{}
	res.Flat = true
	for _, q := range queries {
		v, _, err := papi.QueryRange(ctx, q.expr, promv1.Range{Start: res.Started, End: end, Step: step})
		if err != nil {
			return fmt.Errorf("%s: %v", q.expr, err)
		}
		for _, s := range v.(model.Matrix) {
			name := q.legend
			if lv, ok := s.Metric[model.LabelName(q.legend)]; ok {
				name = string(lv)
			}
			res.Series[q.chart] = append(res.Series[q.chart], svgchart.Series{Name: name, Points: s.Values})
			if q.limit > 0 {
				t := trend(q.chart+", "+name, s.Values, res.Started.Add(o.Warmup), end)
				t.Limit, t.Unit = q.limit, q.unit
				res.Trends = append(res.Trends, t)
				res.Flat = res.Flat && t.OK()
			}
		}
	}
	for _, title := range []string{"Pod creation to bind p99"} {
		for _, s := range res.Series[title] {
			t := trend(title, s.Points, res.Started.Add(o.Warmup), end)
			t.Unit = "s"
			res.Trends = append(res.Trends, t)
		}
	}
	return nil
}

// trend compares the mean of the samples in the second quarter of
// [start, end] with the mean of those in the last quarter.
func trend(name string, pts []model.SamplePair, start, end time.Time) Trend {
	span := end.Sub(start)
	var q2, q4 []float64
	t := Trend{Name: name}
	for _, p := range pts {
		v := float64(p.Value)
		if v != v { // NaN: no data in that step (e.g. no binds)
			continue
		}
		t.Max = max(t.Max, v)
		switch at := p.Timestamp.Time().Sub(start); {
		case at >= span/4 && at < span/2:
			q2 = append(q2, v)
		case at >= 3*span/4:
			q4 = append(q4, v)
		}
	}
	t.Q2, t.Q4 = mean(q2), mean(q4)
	if t.Q2 > 0 {
		t.Growth = t.Q4/t.Q2 - 1
	}
	return t
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// write writes soak.svg, summary.md and result.json.
func write(res *Result, o Options) error {
	var charts []svgchart.Chart
	for _, q := range queries {
		if len(charts) > 0 && charts[len(charts)-1].Title == q.chart {
			continue
		}
		charts = append(charts, svgchart.Chart{Title: q.chart, Unit: q.unit, Series: res.Series[q.chart]})
	}
	end := res.Started.Add(res.Duration)
	title := fmt.Sprintf("berth soak: %s of churn, %d pods created, %d deleted (Prometheus query_range of berth's /metrics)", res.Duration, res.Created, res.Deleted)
	if err := os.WriteFile(filepath.Join(o.OutDir, "soak.svg"), []byte(svgchart.Render(title, charts, res.Started, end)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "summary.md"), []byte(Summary(res)), 0o644); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.OutDir, "result.json"), b, 0o644)
}

// Summary is the run's table: every trend, second quarter against last.
func Summary(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak started %s, %s: %d pods created, %d deleted, %d gangs; at the end %d pods bound, %d pending.\n\n",
		res.Started.Format(time.RFC3339), res.Duration, res.Created, res.Deleted, res.Groups, res.BoundAtEnd, res.PendingAtEnd)
	if res.Warmup > 0 {
		fmt.Fprintf(&b, "Quarters are of the %s after a %s warm-up.\n\n", res.Duration-res.Warmup, res.Warmup)
	}
	b.WriteString("| measure | 2nd quarter mean | last quarter mean | growth | max | flat if growth ≤ | verdict |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, t := range res.Trends {
		limit, verdict := "(reported)", ""
		if t.Limit > 0 {
			limit = fmt.Sprintf("%.0f%%", 100*t.Limit)
			verdict = "flat"
			if !t.OK() {
				verdict = "GROWING"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %+.1f%% | %s | %s | %s |\n", t.Name, human(t.Q2, t.Unit), human(t.Q4, t.Unit), 100*t.Growth, human(t.Max, t.Unit), limit, verdict)
	}
	if res.Flat {
		b.WriteString("\nVerdict: flat.\n")
	} else {
		b.WriteString("\nVerdict: NOT flat.\n")
	}
	return b.String()
}

func human(v float64, unit string) string {
	switch unit {
	case "B":
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case "s":
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// rssOf is pid's resident set from /proc, or "?".
func rssOf(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return "?"
}

func waitReady(ctx context.Context, health string, exited <-chan error) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("berth exited during startup: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := http.Get("http://" + health + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return errors.New("berth did not become ready within 90s")
}

// saveHeap writes berth's heap profile (after a GC, so that it counts
// live objects only) to path.
func saveHeap(ctx context.Context, health, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+health+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/heap: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
