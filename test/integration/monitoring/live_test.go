package monitoring

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/monitoringtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// onlyOnFailure are series a healthy run never has, each with why: the
// test checks instead that berth's own metrics define them.
var onlyOnFailure = map[string]string{
	"berth_plugin_panics_total": "labelled by plugin and extension point, which are known only when a plugin panics",
}

// TestDashboardAndAlertsReadLiveMetrics runs berth with GPU pods, gangs
// and load-aware pods against the devcluster, scraped by a real
// Prometheus, and checks every dashboard query and alert expression: the
// metrics each names are in berth's live /metrics, and Prometheus
// evaluates it without error. The capability rows' headline queries must
// return data.
func TestDashboardAndAlertsReadLiveMetrics(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	root := repoRoot(t)
	queries, err := monitoringtest.AllQueries(root)
	if err != nil {
		t.Fatal(err)
	}

	gpuOpts := nodegen.Options{Count: 2, Profile: nodegen.ProfileGPU, Prefix: "mon-gpu-", Zones: 1}
	loadOpts := nodegen.Options{Count: 3, Profile: nodegen.ProfileBasic, Prefix: "mon-load-", Zones: 1}
	var loadNodes []string
	for _, o := range []nodegen.Options{gpuOpts, loadOpts} {
		if _, err := nodegen.Create(ctx, c, o); err != nil {
			t.Fatal(err)
		}
		for i := range o.Count {
			name := nodegen.NodeName(o, i)
			if o.Profile == nodegen.ProfileBasic {
				loadNodes = append(loadNodes, name)
			}
			t.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}) })
		}
	}
	// One hot node (refused by the threshold); no GPU or disk series, so
	// the source reports no_series errors as well.
	exp := promtest.NewExporter(t)
	for i, n := range loadNodes {
		exp.SetCPU(n, []float64{0.95, 0.3, 0.1}[i])
		exp.SetMemory(n, 0.3)
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	health := "127.0.0.1:" + strconv.Itoa(ports[0])
	prom := promtest.Start(t, time.Second, exp.Addr(), health)
	prom.WaitForSeries(t, `node_memory_MemTotal_bytes`, len(loadNodes), 30*time.Second)

	cfg := berthtest.WriteConfig(t, monitoringtest.SchedulerConfig(prom.URL, "1s"))
	p := berthtest.StartProcess(t, "berth", "run", "--leader-elect=false", "--health-address", health, "-v=2", "--config", cfg)
	berthtest.WaitReady(t, p, health)
	ns := env.CreateNamespace(t, "monitoring")
	t.Cleanup(func() {
		_ = c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	})

	w := &monitoringtest.Workload{Client: c, Namespace: ns}
	must(t, w.GPU(4))
	must(t, w.Gang("gang-ok", 2, 2))
	must(t, w.Gang("gang-short", 3, 1)) // waits for members that never come
	must(t, w.Load(6))
	must(t, w.TooBig())

	// Wait until every named metric is exported. The per-plugin durations
	// are sampled on one cycle in ten: keep scheduling until they show.
	want := map[string][]string{}
	for _, q := range queries {
		names, err := monitoringtest.MetricNames(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Source, err)
		}
		for _, n := range names {
			want[n] = append(want[n], q.Source)
		}
	}
	var exposition string
	berthtest.WaitFor(t, 90*time.Second, "every queried metric in berth's /metrics", func() (bool, string) {
		exposition = scrape(t, health)
		have := monitoringtest.SampleNames(exposition)
		var missing []string
		for n := range want {
			if !have[n] && onlyOnFailure[n] == "" {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			must(t, w.Load(3))
		}
		return len(missing) == 0, fmt.Sprintf("missing %v", missing)
	})
	for n, why := range onlyOnFailure {
		if !definedByBerth(n) {
			t.Errorf("%s (%s) is allowed to be absent from a healthy scrape but berth's metrics do not define it", n, why)
		}
	}
	t.Logf("%d queries name %d metrics, all in a live scrape of %d bytes", len(queries), len(want), len(exposition))

	// Prometheus has scraped berth after the workload: every expression
	// evaluates, and each capability row's headline panel has data.
	prom.WaitForSeries(t, `berth_pod_groups{state="scheduled"} > 0`, 1, 30*time.Second)
	for _, q := range queries {
		if _, err := prom.QueryContext(ctx, monitoringtest.Expand(q.Expr)); err != nil {
			t.Errorf("%s: Prometheus rejects %s: %v", q.Source, monitoringtest.Expand(q.Expr), err)
		}
	}
	// A throughput rate over [1m] needs an increase inside the last
	// minute: on a loaded machine the workload above can be older than
	// that, so schedule a few more pods now.
	must(t, w.Load(3))
	for _, q := range []string{
		`sum(berth_gpu_allocated_milli) / sum(berth_gpu_capacity_milli) > 0`,
		`sum(berth_pod_groups) > 0`,
		`time() - max by (source) (berth_load_source_last_success_timestamp_seconds) < 60`,
		`sum by (result, profile) (rate(berth_schedule_attempts_total{result="scheduled"}[1m])) > 0`,
	} {
		prom.WaitForSeries(t, q, 1, 30*time.Second)
	}
}

// definedByBerth reports whether berth's metrics (pkg/metrics) describe a
// metric named name.
func definedByBerth(name string) bool {
	reg := prometheus.NewPedanticRegistry()
	metrics.New(reg)
	reg.MustRegister(gpushare.Collectors()...)
	ch := make(chan *prometheus.Desc, 256)
	go func() {
		for _, c := range []prometheus.Collector{reg} {
			c.Describe(ch)
		}
		close(ch)
	}()
	found := false
	for d := range ch {
		if strings.Contains(d.String(), `fqName: "`+name+`"`) {
			found = true
		}
	}
	return found
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, health string) string {
	t.Helper()
	resp, err := http.Get("http://" + health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// repoRoot is the main module's root, where deploy/ is.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, monitoringtest.Dashboard)); err == nil {
			return dir
		}
	}
	t.Fatal("cannot find the repository root")
	return ""
}
