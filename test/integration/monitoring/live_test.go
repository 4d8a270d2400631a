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
	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/monitoringtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// config: the default profile (GPUShare, GangScheduling …) and a
// load-aware one reading a real Prometheus, so that every capability the
// dashboard has a row for exports its series.
const config = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: berth
- schedulerName: berth-load
  plugins:
    multiPoint:
      enabled:
      - name: LoadAware
        weight: 10
  pluginConfig:
  - name: LoadAware
    args:
      source:
        type: prometheus
        interval: 1s
        timeout: 2s
        prometheus:
          address: %s
      ttl: 10s
      thresholdPercent:
        cpu: 85
`

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

	cfg := berthtest.WriteConfig(t, fmt.Sprintf(config, prom.URL))
	p := berthtest.StartProcess(t, "berth", "run", "--leader-elect=false", "--health-address", health, "-v=2", "--config", cfg)
	waitReady(t, p, health)
	ns := env.CreateNamespace(t, "monitoring")
	t.Cleanup(func() {
		_ = c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
	})

	w := &workload{t: t, ns: ns}
	w.gpu(4)
	w.gang("gang-ok", 2, 2)
	w.gang("gang-short", 3, 1) // waits for members that never come
	w.load(6)
	w.create(st.MakePod().Name("too-big").Namespace(ns).SchedulerName("berth").Req("cpu", "1000").Obj())

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
			w.load(3)
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

// workload creates the test's pods in ns.
type workload struct {
	t  *testing.T
	ns string
	n  int
}

func (w *workload) create(p *v1.Pod) {
	w.t.Helper()
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
	if _, err := testenv.Current().Client.CoreV1().Pods(w.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("creating pod %s: %v", p.Name, err)
	}
}

func (w *workload) next(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%03d", prefix, w.n)
}

// gpu creates n GPU pods for the default profile, alternately a whole card
// and a 300-milli share.
func (w *workload) gpu(n int) {
	for i := range n {
		p := st.MakePod().Name(w.next("gpu")).Namespace(w.ns).SchedulerName("berth")
		if i%2 == 0 {
			pod := p.Req("cpu", "1", string(nodegen.ResourceGPU), "1").Obj()
			c := &pod.Spec.Containers[0]
			c.Resources.Limits = v1.ResourceList{nodegen.ResourceGPU: c.Resources.Requests[nodegen.ResourceGPU]}
			w.create(pod)
			continue
		}
		pod := p.Req("cpu", "1").Obj()
		pod.Annotations = map[string]string{gpushare.AnnotationMilli: "300"}
		w.create(pod)
	}
}

// gang creates a scheduling.k8s.io PodGroup of minimum min and members of
// its pods.
func (w *workload) gang(name string, min int32, members int) {
	w.t.Helper()
	pg := &schedv1beta1.PodGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{
			Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: min},
		}},
	}
	if _, err := testenv.Current().Client.SchedulingV1beta1().PodGroups(w.ns).Create(context.Background(), pg, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("creating PodGroup %s: %v", name, err)
	}
	for range members {
		p := st.MakePod().Name(w.next(name)).Namespace(w.ns).SchedulerName("berth").Req("cpu", "500m").Obj()
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(name)}
		w.create(p)
	}
}

// load creates n small pods for the load-aware profile.
func (w *workload) load(n int) {
	for range n {
		w.create(st.MakePod().Name(w.next("load")).Namespace(w.ns).SchedulerName("berth-load").Req("cpu", "100m").Obj())
	}
}

func waitReady(t *testing.T, p *berthtest.Process, health string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	berthtest.WaitFor(t, berthtest.ReadyTimeout, "berth to become ready", func() (bool, string) {
		if p.Exited() {
			t.Fatalf("berth exited: %s", testenv.TailFile(p.Log, 20))
		}
		resp, err := hc.Get("http://" + health + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
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
