package promtest

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/metricsource"
)

// defaultQueries are the PromQL expressions berth's LoadAware plugin
// uses by default, one per resource, each giving a 0..1 utilisation per
// node: the exporter must satisfy them as they are.
var defaultQueries = func() map[string]string {
	m := map[string]string{}
	for res, q := range metricsource.DefaultQueries {
		m[res] = q.Expr
	}
	return m
}()

const tolerance = 0.05

// byInstance maps a query result to node → value, the node named by the
// instance label or, for DCGM's series aggregated by host, Hostname.
func byInstance(v model.Vector) map[string]float64 {
	m := map[string]float64{}
	for _, s := range v {
		node := s.Metric["instance"]
		if node == "" {
			node = s.Metric["Hostname"]
		}
		m[string(node)] = float64(s.Value)
	}
	return m
}

// matches reports whether got has exactly want's instances, each within
// tolerance.
func matches(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for inst, w := range want {
		g, ok := got[inst]
		if !ok || math.Abs(g-w) > tolerance {
			return false
		}
	}
	return true
}

// expect waits until query q returns want (per instance, ±tolerance).
func expect(t *testing.T, s *Server, timeout time.Duration, q string, want map[string]float64) {
	t.Helper()
	berthtest.WaitFor(t, timeout, fmt.Sprintf("%s should return %v", q, want), func() (bool, string) {
		got := byInstance(s.Query(t, q))
		return matches(got, want), fmt.Sprintf("got %v", got)
	})
}

// TestDefaultQueries runs a real Prometheus against an Exporter and checks
// that the default utilisation queries read back what was set, right from
// the first scrapes (thanks to the backfill), that a utilisation change is
// integrated without counter resets, and that a removed node's series go
// stale.
func TestDefaultQueries(t *testing.T) {
	t.Parallel()
	start := time.Now()
	e := NewExporter(t)
	e.SetCPU("node-a", 0.9)
	e.SetMemory("node-a", 0.7)
	e.SetGPU("node-a", 0.5)
	e.SetDiskIO("node-a", 0.3)
	e.SetCPU("node-b", 0.2)
	e.SetMemory("node-b", 0.1)
	e.SetGPU("node-b", 0.8)
	e.SetDiskIO("node-b", 0.6)
	s := Start(t, time.Second, e.Addr())
	s.WaitForSeries(t, `node_cpu_seconds_total{mode="idle"}`, 2*NodeCPUs, 20*time.Second)
	t.Logf("Prometheus up and scraped after %v", time.Since(start).Round(time.Millisecond))

	want := map[string]map[string]float64{
		"cpu":    {"node-a": 0.9, "node-b": 0.2},
		"memory": {"node-a": 0.7, "node-b": 0.1},
		"gpu":    {"node-a": 0.5, "node-b": 0.8},
		"diskIO": {"node-a": 0.3, "node-b": 0.6},
	}
	for res, q := range defaultQueries {
		expect(t, s, 5*time.Second, q, want[res])
	}
	t.Logf("default queries right after %v", time.Since(start).Round(time.Millisecond))

	// A change shows at once in irate (the last two scrapes), and the
	// counters it is integrated into never go down.
	e.SetCPU("node-b", 0.6)
	expect(t, s, 10*time.Second, `1 - avg by (instance) (irate(node_cpu_seconds_total{mode="idle"}[1m]))`,
		map[string]float64{"node-a": 0.9, "node-b": 0.6})
	expect(t, s, 0, `1 - avg by (instance) (irate(node_cpu_seconds_total{mode="user"}[1m]))`,
		map[string]float64{"node-a": 0.1, "node-b": 0.4})
	if v := s.Query(t, `sum(resets(node_cpu_seconds_total[1m])) + sum(resets(node_disk_io_time_seconds_total[1m]))`); len(v) != 1 || v[0].Value != 0 {
		t.Errorf("counter resets: %v", v)
	}

	// A removed node's series go stale at the next scrape: instant
	// selectors no longer see them, but rate over a range still does
	// until the range holds none of its samples.
	e.Remove("node-b")
	expect(t, s, 10*time.Second, defaultQueries["gpu"], map[string]float64{"node-a": 0.5})
	expect(t, s, 0, defaultQueries["memory"], map[string]float64{"node-a": 0.7})
	if got := byInstance(s.Query(t, defaultQueries["cpu"])); len(got) != 2 {
		t.Errorf("rate over [1m] just after Remove: %v, want both nodes still", got)
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

// TestStopRestart checks that a stopped server refuses queries and that a
// restarted one still has the series scraped before and scrapes again.
func TestStopRestart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	e := NewExporter(t)
	e.SetMemory("node-a", 0.25)
	e.SetCPU("node-a", 0.5)
	s := Start(t, time.Second, e.Addr())
	s.WaitForSeries(t, `node_memory_MemTotal_bytes{instance="node-a"}`, 1, 20*time.Second)
	// A few real scrapes besides the backfill.
	s.WaitForSeries(t, `count_over_time(node_memory_MemTotal_bytes[1m]) >= 3`, 1, 10*time.Second)

	url := s.URL
	stopped := time.Now()
	s.Stop(t)
	if _, err := s.query("up"); err == nil {
		t.Fatal("query answered after Stop")
	} else {
		t.Logf("after Stop: %v", err)
	}

	e.SetMemory("node-a", 0.75)
	s.Restart(t)
	restarted := time.Now()
	t.Logf("restarted in %v", restarted.Sub(stopped).Round(time.Millisecond))
	if s.URL != url {
		t.Errorf("URL changed from %s to %s", url, s.URL)
	}

	// History survived: the samples before the kill, backfill included.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, _, err := s.api.Query(ctx, `count_over_time(node_cpu_seconds_total{instance="node-a",cpu="0",mode="idle"}[1m])`, stopped)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := res.(model.Vector); !ok || len(v) != 1 || v[0].Value < 60 {
		t.Errorf("samples in the minute before the kill, after the restart: %v (want 60 or more)", res)
	}
	res, _, err = s.api.Query(ctx, defaultQueries["memory"], stopped)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := res.(model.Vector); !ok || !matches(byInstance(v), map[string]float64{"node-a": 0.25}) {
		t.Errorf("memory utilisation before the kill, after the restart: %v (want 0.25)", res)
	}

	// New scrapes arrive.
	s.WaitForSeries(t, fmt.Sprintf(`timestamp(node_memory_MemAvailable_bytes{instance="node-a"}) > %.3f`, float64(restarted.UnixMilli())/1000), 1, 10*time.Second)
	expect(t, s, 0, defaultQueries["memory"], map[string]float64{"node-a": 0.75})
	expect(t, s, 0, defaultQueries["cpu"], map[string]float64{"node-a": 0.5})
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingBinary checks that Start without a binary fails with the way
// to get one (it must not skip: the load-aware tests would silently not
// run).
func TestMissingBinary(t *testing.T) {
	t.Setenv(testenv.BinDirEnv, t.TempDir())
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, time.Second)
	}()
	<-done
	if !strings.Contains(f.msg, "run make build (hack/ensure-prometheus.sh) to fetch it") {
		t.Errorf("Start without a binary failed with %q", f.msg)
	}
}

// TestExporterCounters checks the exposition against a fake clock: the
// backfill on a node's first scrape, counters integrated piecewise as the
// utilisation changes, Remove and re-adding, GPU series only once set.
func TestExporterCounters(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	e := newExporter(nil, func() time.Time { return now })
	e.SetCPU("a", 0.5)
	e.SetDiskIO("a", 0.25)
	e.SetMemory("b", 2) // clamped to 1

	const idle0 = `node_cpu_seconds_total{cpu="0",instance="a",mode="idle"}`
	const user3 = `node_cpu_seconds_total{cpu="3",instance="a",mode="user"}`
	const disk = `node_disk_io_time_seconds_total{device="sda",instance="a"}`
	window := BackfillWindow.Seconds()

	cur, hist := parse(t, e.render())
	if n := hist[idle0]; n != int(window) {
		t.Errorf("first scrape: %d backfilled samples of %s, want %v", n, idle0, window)
	}
	check := func(when string, series string, want float64) {
		t.Helper()
		if got, ok := cur[series]; !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: %s = %v (present %v), want %v", when, series, got, ok, want)
		}
	}
	check("first scrape", idle0, 0.5*window)
	check("first scrape", user3, 0.5*window)
	check("first scrape", disk, 0.25*window)
	check("first scrape", `node_memory_MemAvailable_bytes{instance="b"}`, 0)
	check("first scrape", `node_memory_MemTotal_bytes{instance="b"}`, NodeMemoryBytes)
	if _, ok := cur[`DCGM_FI_DEV_GPU_UTIL{Hostname="a",device="nvidia0",gpu="0",instance="a"}`]; ok {
		t.Error("GPU series for a node SetGPU was not called for")
	}

	now = now.Add(10 * time.Second)
	e.SetCPU("a", 1)
	now = now.Add(10 * time.Second)
	e.SetGPU("a", 0.4)
	cur, hist = parse(t, e.render())
	if len(hist) != 0 {
		t.Errorf("second scrape backfilled again: %v", hist)
	}
	check("after 10 s at 0.5 and 10 s at 1", user3, 0.5*window+5+10)
	check("after 10 s at 0.5 and 10 s at 1", idle0, 0.5*window+5)
	check("after 20 s at 0.25", disk, 0.25*(window+20))
	check("after SetGPU", `DCGM_FI_DEV_GPU_UTIL{Hostname="a",device="nvidia1",gpu="1",instance="a"}`, 40)

	e.Remove("a")
	now = now.Add(10 * time.Second)
	cur, _ = parse(t, e.render())
	if _, ok := cur[user3]; ok {
		t.Error("removed node still served")
	}
	e.SetMemory("a", 0.5)
	now = now.Add(10 * time.Second)
	cur, hist = parse(t, e.render())
	if len(hist) != 0 {
		t.Errorf("re-added node backfilled again: %v", hist)
	}
	check("re-added after 20 s more at 1", user3, 0.5*window+5+30)
	check("re-added", `node_memory_MemAvailable_bytes{instance="a"}`, 0.5*NodeMemoryBytes)
}

// parse splits an exposition into the value of each series without a
// timestamp and the number of timestamped samples per series, checking
// that a series' timestamps increase.
func parse(t *testing.T, text []byte) (map[string]float64, map[string]int) {
	t.Helper()
	cur, hist := map[string]float64{}, map[string]int{}
	lastTS := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		// Label values here contain no spaces.
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || len(f) > 3 {
			t.Fatalf("bad line %q", line)
		}
		if len(f) == 3 {
			ts, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || ts <= lastTS[f[0]] {
				t.Fatalf("bad or non-increasing timestamp in %q", line)
			}
			lastTS[f[0]] = ts
			hist[f[0]]++
			continue
		}
		cur[f[0]] = v
	}
	return cur, hist
}
