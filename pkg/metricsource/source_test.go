package metricsource

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/berthsched/berth/pkg/placement/load"
)

func errCount(typ, res, kind string) float64 {
	return testutil.ToFloat64(Errors.WithLabelValues(typ, res, kind))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "load.yaml")
	writeFile(t, path, `
timestamp: "2026-12-02T10:00:00Z"
window: 2m
nodes:
  node-a: {cpu: 0.9, memory: 0.5}
  "10.0.0.7:9100": {cpu: 0.2, gpu: -1}
  node-c: {cpu: 0.4, timestamp: "2026-12-02T09:50:00Z"}
`)
	now := time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)
	bad := errCount(TypeFile, "all", "invalid_value")
	src, err := New(context.Background(), Options{Spec: Spec{Type: TypeFile, File: &FileSpec{Path: path}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if src.Synced() {
		t.Fatal("synced before the first refresh")
	}
	src.Refresh()
	snap := src.Snapshot()
	if !src.Synced() || snap.Err != "" || len(snap.Nodes) != 3 {
		t.Fatalf("snapshot: err %q, %d nodes", snap.Err, len(snap.Nodes))
	}
	a := snap.Lookup("node-a", nil)
	if a == nil || a.Samples[load.CPU].Value != 0.9 || a.Samples[load.CPU].Window != 2*time.Minute || !a.Samples[load.CPU].Time.Equal(now.Add(-30*time.Second)) {
		t.Fatalf("node-a: %+v", a)
	}
	if b := snap.Lookup("node-b", []string{"10.0.0.7"}); b == nil || b.Samples[load.GPU].Valid() {
		t.Fatalf("node-b by address, with its negative GPU value dropped: %+v", b)
	}
	if got := errCount(TypeFile, "all", "invalid_value") - bad; got != 1 {
		t.Fatalf("invalid values counted %v times, want 1", got)
	}
	if c := snap.Lookup("node-c", nil); !c.Samples[load.CPU].Time.Equal(time.Date(2026, 12, 2, 9, 50, 0, 0, time.UTC)) {
		t.Fatal("per-node timestamp ignored")
	}

	// A broken file keeps the previous samples (they age under the TTL)
	// and says why in the snapshot.
	writeFile(t, path, "nodes: [this is not a map")
	src.Refresh()
	snap2 := src.Snapshot()
	if !strings.Contains(snap2.Err, "decoding") || snap2.Lookup("node-a", nil) == nil || !snap2.Refreshed.Equal(snap.Refreshed) {
		t.Fatalf("after a bad file: err %q, refreshed %v", snap2.Err, snap2.Refreshed)
	}
	// An unknown field is a decoding error too (strict), not silently ignored.
	writeFile(t, path, "nodes: {node-a: {cpus: 0.5}}")
	src.Refresh()
	if !strings.Contains(src.Snapshot().Err, "cpus") {
		t.Fatalf("unknown field not reported: %q", src.Snapshot().Err)
	}
}

func TestFileHistoryDerivesStatsAndForecast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.json")
	end := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	// Two days and a bit at 5-minute steps: a daily sine around 0.5.
	n := 2*288 + 12
	vals := make([]float64, n)
	for i := range vals {
		at := end.Add(-time.Duration(n-1-i) * 5 * time.Minute)
		h := float64(at.Hour()) + float64(at.Minute())/60
		vals[i] = 0.5 + 0.3*math.Sin(2*math.Pi*(h-6)/24) // peaks at 12:00
	}
	f := map[string]any{
		"timestamp": end.Format(time.RFC3339),
		"nodes":     map[string]any{"n1": map[string]any{"cpu": vals[n-1]}},
		"history":   map[string]any{"step": "5m", "nodes": map[string]any{"n1": map[string]any{"cpu": vals}}},
	}
	b, _ := json.Marshal(f)
	writeFile(t, path, string(b))
	w := metav1.Duration{Duration: 50 * time.Hour}
	src, err := New(context.Background(), Options{
		Spec:     Spec{Type: TypeFile, File: &FileSpec{Path: path}, History: HistorySpec{Window: &w, Step: metav1.Duration{Duration: 5 * time.Minute}}},
		Forecast: load.ForecastConfig{Model: load.ModelHoltWinters, Horizon: 2 * time.Hour, Season: 24 * time.Hour},
		Now:      func() time.Time { return end },
	})
	if err != nil {
		t.Fatal(err)
	}
	src.Refresh()
	nl := src.Snapshot().Lookup("n1", nil)
	if nl == nil || !nl.HasStats[load.CPU] || !nl.HasForecast[load.CPU] {
		t.Fatalf("no stats or forecast: %+v", nl)
	}
	if m := nl.Mean[load.CPU]; m < 0.45 || m > 0.55 {
		t.Errorf("mean %v, want ≈ 0.5", m)
	}
	if s := nl.Std[load.CPU]; s < 0.15 || s > 0.25 {
		t.Errorf("std %v, want ≈ 0.21", s)
	}
	// At 10:00 the sine is rising toward its noon peak: the 2h forecast
	// peak must be above the current value.
	if nl.Model[load.CPU] != load.ModelHoltWinters || nl.Peak[load.CPU] <= nl.Samples[load.CPU].Value+0.02 {
		t.Errorf("forecast %s peak %v, current %v", nl.Model[load.CPU], nl.Peak[load.CPU], nl.Samples[load.CPU].Value)
	}
}

// fakeProm serves the Prometheus HTTP API's query endpoint from a
// function of the query text.
func fakeProm(t *testing.T, answer func(q string) (int, string)) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		code, body := answer(r.Form.Get("query"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func vector(ts float64, series ...string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

func series(labels string, ts float64, v string) string {
	return fmt.Sprintf(`{"metric":{%s},"value":[%v,"%s"]}`, labels, ts, v)
}

func promSpec(addr string) Spec {
	zero := metav1.Duration{}
	return Spec{Type: TypePrometheus, Prometheus: &PrometheusSpec{Address: addr, Queries: map[string]QuerySpec{
		"cpu":    {Expr: "cpu_q"},
		"memory": {Expr: "mem_q"},
		"gpu":    {Expr: "gpu_q", NodeLabel: "Hostname"},
		"diskIO": {Expr: "scalar_q"},
	}}, Timeout: metav1.Duration{Duration: 500 * time.Millisecond}, History: HistorySpec{Window: &zero}}
}

// TestPrometheusPartialFailures: a PromQL error, NaN and negative values,
// series without the node label and an empty result are each counted
// and recorded, and the rest of the data is still used.
func TestPrometheusPartialFailures(t *testing.T) {
	ts := float64(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC).Unix())
	srv := fakeProm(t, func(q string) (int, string) {
		switch q {
		case "cpu_q":
			return 200, vector(ts,
				series(`"instance":"10.0.0.1:9100"`, ts, "0.7"),
				series(`"instance":"n2"`, ts, "NaN"),
				series(`"instance":"n3"`, ts, "-0.2"),
				series(`"job":"x"`, ts, "0.5"))
		case "mem_q":
			return 400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected identifier"}`
		case "gpu_q":
			return 200, vector(ts)
		case "scalar_q":
			return 200, fmt.Sprintf(`{"status":"success","data":{"resultType":"scalar","result":[%v,"1"]}}`, ts)
		}
		t.Errorf("unexpected query %q", q)
		return 500, ""
	})
	before := map[string]float64{}
	for _, k := range []string{"cpu/invalid_value", "cpu/missing_label", "memory/query", "gpu/no_series", "diskIO/query"} {
		r, kind, _ := strings.Cut(k, "/")
		before[k] = errCount(TypePrometheus, r, kind)
	}
	src, err := New(context.Background(), Options{Spec: promSpec(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	src.Refresh()
	snap := src.Snapshot()
	if snap.Err != "" || snap.Refreshed.IsZero() {
		t.Fatalf("a partial failure failed the refresh: %q", snap.Err)
	}
	n1 := snap.Lookup("n1", []string{"10.0.0.1"})
	if n1 == nil || n1.Samples[load.CPU].Value != 0.7 || n1.Samples[load.CPU].Window != DefaultQueryWindow {
		t.Fatalf("n1: %+v", n1)
	}
	if snap.Lookup("n2", nil) != nil || snap.Lookup("n3", nil) != nil {
		t.Fatal("NaN or negative samples were kept")
	}
	if !strings.Contains(snap.Problems[load.Memory], "parse error") || !strings.Contains(snap.Problems[load.GPU], "no series") ||
		!strings.Contains(snap.Problems[load.DiskIO], `query "scalar_q" returned scalar, not a vector`) {
		t.Fatalf("problems: %q", snap.Problems)
	}
	for k, b := range before {
		r, kind, _ := strings.Cut(k, "/")
		if got := errCount(TypePrometheus, r, kind) - b; got != 1 {
			t.Errorf("%s counted %v times, want 1", k, got)
		}
	}
}

// TestPrometheusUnreachableAndTimeout: a source that cannot answer fails
// the refresh without losing the previous samples, which then age.
func TestPrometheusUnreachableAndTimeout(t *testing.T) {
	ts := float64(time.Now().Unix())
	var hang atomic.Bool
	srv := fakeProm(t, func(q string) (int, string) {
		if hang.Load() {
			time.Sleep(time.Second)
		}
		return 200, vector(ts, series(`"instance":"n1"`, ts, "0.5"), series(`"Hostname":"n1"`, ts, "0.5"))
	})
	src, err := New(context.Background(), Options{Spec: promSpec(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	src.Refresh()
	first := src.Snapshot()
	if first.Lookup("n1", nil) == nil {
		t.Fatalf("first refresh: %+v", first)
	}
	timeouts := errCount(TypePrometheus, "all", "timeout")
	hang.Store(true)
	src.Refresh()
	snap := src.Snapshot()
	if snap.Err == "" || snap.Lookup("n1", nil) == nil || !snap.Refreshed.Equal(first.Refreshed) {
		t.Fatalf("after a timeout: err %q, refreshed %v", snap.Err, snap.Refreshed)
	}
	if errCount(TypePrometheus, "all", "timeout") != timeouts+1 {
		t.Fatal("timeout not counted")
	}
	srv.Close()
	unreachable := errCount(TypePrometheus, "all", "unreachable")
	src.Refresh()
	if errCount(TypePrometheus, "all", "unreachable") != unreachable+1 {
		t.Fatalf("unreachable not counted: %q", src.Snapshot().Err)
	}
}

func TestMetricsServerSource(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	list := metricsv1beta1.NodeMetricsList{Items: []metricsv1beta1.NodeMetrics{
		{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Timestamp: metav1.NewTime(now.Add(-15 * time.Second)), Window: metav1.Duration{Duration: 20 * time.Second},
			Usage: v1.ResourceList{v1.ResourceCPU: resource.MustParse("3"), v1.ResourceMemory: resource.MustParse("4Gi")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gone"}, Usage: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}},
	}}
	served := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != nodeMetricsPath || !served {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = idx.Add(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: v1.NodeStatus{Allocatable: v1.ResourceList{
		v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("16Gi")}}})
	src, err := New(context.Background(), Options{Spec: Spec{Type: TypeMetricsServer}, REST: cs.CoreV1().RESTClient(), Nodes: corelisters.NewNodeLister(idx)})
	if err != nil {
		t.Fatal(err)
	}
	src.Refresh()
	snap := src.Snapshot()
	n1 := snap.Lookup("n1", nil)
	if snap.Err != "" || n1 == nil {
		t.Fatalf("err %q, n1 %+v", snap.Err, n1)
	}
	if c, m := n1.Samples[load.CPU], n1.Samples[load.Memory]; c.Value != 0.75 || m.Value != 0.25 || c.Window != 20*time.Second || !c.Time.Equal(now.Add(-15*time.Second)) {
		t.Fatalf("cpu %+v memory %+v", c, m)
	}
	if snap.Lookup("gone", nil) != nil {
		t.Fatal("a node berth does not know was kept")
	}
	served = false
	src.Refresh()
	if e := src.Snapshot().Err; !strings.Contains(e, "is metrics-server installed") {
		t.Fatalf("missing API not explained: %q", e)
	}
}

func TestSpecValidation(t *testing.T) {
	cases := map[string]struct {
		spec Spec
		want string
	}{
		"no address":    {Spec{Type: TypePrometheus}, "source.prometheus.address: Required value"},
		"bad address":   {Spec{Type: TypePrometheus, Prometheus: &PrometheusSpec{Address: "prometheus:9090"}}, "source.prometheus.address: Invalid value"},
		"bad resource":  {Spec{Type: TypePrometheus, Prometheus: &PrometheusSpec{Address: "http://p:9090", Queries: map[string]QuerySpec{"cpus": {Expr: "x"}}}}, `source.prometheus.queries[cpus]: Unsupported value`},
		"bad type":      {Spec{Type: "graphite"}, `source.type: Unsupported value: "graphite"`},
		"file no path":  {Spec{Type: TypeFile}, "source.file.path: Required value"},
		"tiny interval": {Spec{Type: TypeMetricsServer, Interval: metav1.Duration{Duration: time.Millisecond}}, "source.interval: Invalid value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := c.spec
			SetDefaults(&s)
			errs := Validate(&s, field.NewPath("source"))
			if !strings.Contains(errs.ToAggregate().Error(), c.want) {
				t.Fatalf("errors %v, want %q", errs, c.want)
			}
		})
	}
	ok := Spec{Prometheus: &PrometheusSpec{Address: "http://prometheus.monitoring:9090"}}
	SetDefaults(&ok)
	if errs := Validate(&ok, nil); len(errs) > 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	if len(ok.Prometheus.Queries) != 4 || ok.Prometheus.Queries["gpu"].NodeLabel != "Hostname" {
		t.Fatalf("default queries: %+v", ok.Prometheus.Queries)
	}
}

func TestSharedIsOnePerConfig(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "l.yaml")
	writeFile(t, path, "nodes: {}")
	o := Options{Spec: Spec{Type: TypeFile, File: &FileSpec{Path: path}}}
	a, err := Shared(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Shared(ctx, o)
	if a != b {
		t.Fatal("two sources for one configuration")
	}
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c, _ := Shared(ctx2, o)
	if c == a {
		t.Fatal("a stopped source was handed out again")
	}
}
