package loadaware

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/internal/testenv"
)

const schedulerName = "berth-load"

// config enables LoadAware (weight 10, so measured load outweighs the
// request-based scorers) with a CPU threshold of 85 %, refreshing every
// second with a 6 s TTL so the test sees an outage quickly.
const config = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
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
      ttl: 6s
      thresholdPercent:
        cpu: 85
`

// TestAvoidsHotNodesAndSurvivesOutage: four identical nodes, two of them
// running hot according to a real Prometheus (95 % and 75 % CPU). Pods
// land on the cool ones only (the 95 % node is refused by the threshold,
// the 75 % one outscored). Prometheus is then killed: after the TTL the
// nodes are scored by requests, pods keep being bound (never blocked),
// some onto the hot nodes, and the fallback and the source errors are in
// berth's metrics and explain. Prometheus comes back with its history:
// the next pods avoid the hot nodes again.
func TestAvoidsHotNodesAndSurvivesOutage(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: 4, Profile: nodegen.ProfileBasic, Prefix: "load-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 4)
	for i := range names {
		names[i] = nodegen.NodeName(opts, i)
	}
	t.Cleanup(func() {
		for _, n := range names {
			_ = c.CoreV1().Nodes().Delete(ctx, n, metav1.DeleteOptions{})
		}
	})
	hot, warm, cool1, cool2 := names[0], names[1], names[2], names[3]
	exp := promtest.NewExporter(t)
	exp.SetCPU(hot, 0.95)
	exp.SetCPU(warm, 0.75)
	exp.SetCPU(cool1, 0.10)
	exp.SetCPU(cool2, 0.20)
	for _, n := range names {
		exp.SetMemory(n, 0.3)
	}
	prom := promtest.Start(t, time.Second, exp.Addr())
	prom.WaitForSeries(t, `node_memory_MemTotal_bytes`, 4, 30*time.Second)

	cfg := berthtest.WriteConfig(t, fmt.Sprintf(config, prom.URL))
	ports, err := testenv.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	health := "127.0.0.1:" + strconv.Itoa(ports[0])
	p := berthtest.StartProcess(t, "berth", "run", "--leader-elect=false", "--health-address", health, "-v=2", "--config", cfg)
	berthtest.WaitReady(t, p, health)
	ns := env.CreateNamespace(t, "load")

	// 1. Measured load decides.
	got := placeBatch(t, ns, "fresh", 8)
	if got[hot]+got[warm] != 0 {
		t.Fatalf("pods landed on hot nodes while the data was fresh: %v", got)
	}
	explainOut := explainPod(t, cfg, ns, "fresh-0")
	for _, want := range []string{
		"node's measured cpu utilisation 95% is above the 85% threshold",
		warm + ": LoadAware: measured cpu 75%, memory 30%; data ",
	} {
		if !strings.Contains(explainOut, want) {
			t.Errorf("explain lacks %q:\n%s", want, explainOut)
		}
	}

	// 2. The source dies: after the TTL every node is scored by requests,
	// nothing is blocked, and the hot nodes (fewest requests now) get pods.
	prom.Stop(t)
	berthtest.WaitFor(t, 30*time.Second, "the last samples to outlive the TTL", func() (bool, string) {
		m := scrape(t, health)
		last := metricValue(m, `berth_load_source_last_success_timestamp_seconds{source="prometheus"}`)
		failed := metricValue(m, `berth_load_source_errors_total{kind="unreachable",resource="all",source="prometheus"}`)
		age := time.Since(time.Unix(0, int64(last*1e9)))
		return failed > 0 && age > 7*time.Second, fmt.Sprintf("last success %s ago, %v unreachable errors", age, failed)
	})
	got = placeBatch(t, ns, "outage", 8)
	if got[hot]+got[warm] == 0 {
		t.Fatalf("with the source down, pods still avoided the hot nodes, so the stale data was trusted: %v", got)
	}
	m := scrape(t, health)
	if v := metricValue(m, `berth_load_scored_nodes_total{basis="stale"}`); v <= 0 {
		t.Errorf("no stale fallback counted:\n%s", grep(m, "berth_load"))
	}
	if v := metricValue(m, `berth_load_source_errors_total{kind="unreachable",resource="all",source="prometheus"}`); v <= 0 {
		t.Errorf("the unreachable source was not counted:\n%s", grep(m, "berth_load"))
	}
	if out := explainPod(t, cfg, ns, "outage-0"); !strings.Contains(out, "has not answered yet") || !strings.Contains(out, "scored by requests") {
		t.Errorf("explain during the outage does not say the nodes are scored by requests:\n%s", out)
	}

	// 3. Prometheus comes back (same storage): measured load decides again.
	prom.Restart(t)
	prom.WaitForSeries(t, `node_memory_MemTotal_bytes`, 4, 30*time.Second)
	before := metricValue(scrape(t, health), `berth_load_scored_nodes_total{basis="measured"}`)
	berthtest.WaitFor(t, 30*time.Second, "berth to refresh from the restarted Prometheus", func() (bool, string) {
		v := metricValue(scrape(t, health), `berth_load_source_last_success_timestamp_seconds{source="prometheus"}`)
		return v > float64(time.Now().Add(-2*time.Second).Unix()), fmt.Sprintf("last success at %v", v)
	})
	got = placeBatch(t, ns, "recovered", 8)
	if got[hot]+got[warm] != 0 {
		t.Fatalf("after the source came back, pods landed on hot nodes: %v", got)
	}
	if after := metricValue(scrape(t, health), `berth_load_scored_nodes_total{basis="measured"}`); after <= before {
		t.Errorf("no node was scored by measured load after the recovery (%v → %v)", before, after)
	}
}

// placeBatch creates n small pods one after the other (each waits for the
// previous one's bind, so every decision sees the last), and returns how
// many landed on each node.
func placeBatch(t *testing.T, ns, prefix string, n int) map[string]int {
	t.Helper()
	c := testenv.Current().Client
	ctx := context.Background()
	out := map[string]int{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		pod := st.MakePod().Name(name).Namespace(ns).Req("cpu", "100m", "memory", "128Mi").Obj()
		pod.Spec.SchedulerName = schedulerName
		if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var node string
		berthtest.WaitFor(t, 30*time.Second, "pod "+name+" to be bound", func() (bool, string) {
			p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			node = p.Spec.NodeName
			return node != "", podConditions(p)
		})
		out[node]++
	}
	t.Logf("%s: %v", prefix, out)
	return out
}

func podConditions(p *v1.Pod) string {
	var s []string
	for _, c := range p.Status.Conditions {
		s = append(s, fmt.Sprintf("%s=%s %s", c.Type, c.Status, c.Message))
	}
	return strings.Join(s, "; ")
}

// explainPod runs `berth explain` on a (bound) pod with the test's config.
func explainPod(t *testing.T, cfg, ns, name string) string {
	t.Helper()
	return berthtest.Explain(t, "--config", cfg, "-n", ns, name)
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

// metricValue returns the value of the sample whose name and labels are
// exactly series (labels in the exposition's sorted order), or -1.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func grep(text, prefix string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
