package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/metricsource"
)

// The load-aware part: LoadAware scores nodes by the utilisation a real
// Prometheus (bin/prometheus) measures, scraping a synthetic
// node-exporter (internal/promtest) that reports each node's CPU and
// memory. Four nodes form a pool (labelled and tainted, so no other pod of
// the demo lands there), and a second berth runs just for this part with
// one profile, berth-load, whose LoadAware reads that Prometheus (the
// demo's berth runs on the built-in defaults):
//
//  1. with fresh data, pods created one after another avoid the hot
//     nodes: the one above the CPU threshold is refused, the warm one is
//     outscored; each pod placed counts as an estimate on its node until
//     the samples show it, so the pods spread over the cool nodes;
//  2. Prometheus is killed; once its last samples are older than the
//     TTL, the nodes are scored by their requests: nothing is refused and
//     nothing waits, so the next pods go to the nodes with the fewest
//     requests, the hot ones.
//
// What lands where in 1 follows from the scores (the cool nodes' estimated
// load against each other); the demo checks only that no pod lands on a
// hot node in 1 and that every pod is bound in 2.
const (
	loadSchedulerName = "berth-load"
	loadPoolValue     = "load"
	// loadPhaseLabel says in which part a load pod was created.
	loadPhaseLabel = "demo.berth.dev/load-phase"
	loadPodCPU     = "500m"
	loadPodMem     = "512Mi"
	loadFreshPods  = 8
	loadOutagePods = 4
	loadThreshold  = 85 // percent of CPU
	loadTTL        = 5 * time.Second
	loadScrape     = time.Second
	// loadWeight makes LoadAware outweigh the request-based scorers.
	loadWeight = 10
)

// loadConfig is the scene's berth configuration: profile berth-load with
// LoadAware reading Prometheus (%s: its URL) every second.
const loadConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: ` + loadSchedulerName + `
  plugins:
    multiPoint:
      enabled:
      - name: LoadAware
        weight: %d
  pluginConfig:
  - name: LoadAware
    args:
      source:
        type: prometheus
        interval: 1s
        timeout: 2s
        prometheus:
          address: %s
      ttl: %s
      thresholdPercent:
        cpu: %d
`

var (
	loadNodeOpts = nodegen.Options{Count: 4, Profile: nodegen.ProfileBasic, Prefix: "load-", Zones: 1}
	loadTaint    = v1.Taint{Key: gpuPoolLabel, Value: loadPoolValue, Effect: v1.TaintEffectNoSchedule}
	// loadUtil is what the exporter reports for the pool's nodes, in order.
	loadUtil = []struct{ cpu, mem float64 }{{0.92, 0.55}, {0.70, 0.40}, {0.15, 0.30}, {0.25, 0.30}}
)

// loadScene holds the part's processes and what it placed.
type loadScene struct {
	u          *ui
	client     kubernetes.Interface
	bin        string // bin/berth
	kubeconfig string
	timeout    time.Duration
	dir        string // berth-load's config and log, Prometheus's storage and log
	cfgPath    string
	nodes      []string
	exp        *promtest.Exporter
	prom       *promtest.Server
	b          *berth
	// placed counts the pods bound per phase and node.
	placed map[string]map[string]int
	// measured is each node's CPU and memory utilisation as Prometheus
	// answered before it was killed.
	cpu, mem map[string]float64
}

// runLoad runs the load-aware part. Everything it starts (the exporter,
// Prometheus, berth-load) is stopped before it returns, whatever happens.
func runLoad(ctx context.Context, u *ui, client kubernetes.Interface, binDir, kubeconfig string, timeout time.Duration) (err error) {
	start := time.Now()
	u.step("Load-aware scheduling: LoadAware scores nodes by the utilisation a real Prometheus measures")
	s := &loadScene{u: u, client: client, bin: filepath.Join(binDir, "berth"), kubeconfig: kubeconfig, timeout: timeout,
		placed: map[string]map[string]int{}}
	if s.dir, err = os.MkdirTemp("", "berth-demo-load-"); err != nil {
		return err
	}
	defer func() {
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil && ctx.Err() == nil {
			u.info("berth-load's and Prometheus's logs are kept in %s", s.dir)
		} else {
			os.RemoveAll(s.dir)
		}
	}()
	if err := s.setUp(ctx, binDir); err != nil {
		return err
	}

	// 1. Fresh data.
	u.step("Load 1/2: %d pods (%s CPU, %s each, schedulerName %s) created one after another; Prometheus answers",
		loadFreshPods, loadPodCPU, loadPodMem, loadSchedulerName)
	t := time.Now()
	if err := s.place(ctx, "fresh", loadFreshPods); err != nil {
		return err
	}
	if hot := s.placed["fresh"][s.nodes[0]] + s.placed["fresh"][s.nodes[1]]; hot > 0 {
		return fmt.Errorf("%d pods landed on the hot nodes %s and %s while the load data was fresh", hot, s.nodes[0], s.nodes[1])
	}
	u.done("All %d bound in %s, none on the two hot nodes", loadFreshPods, since(t))
	if err := s.readUtil(ctx); err != nil {
		return err
	}
	s.printPool("The pool, each node's utilisation as Prometheus reports it (LoadAware's default queries)", "fresh")
	u.plain("    %s is refused: its measured CPU is above the %d%% threshold.", s.nodes[0], loadThreshold)
	u.plain("    %s fits but is outscored: LoadAware (weight %d) prefers the least utilised nodes.", s.nodes[1], loadWeight)
	u.plain("    Each pod placed counts as an estimate on its node until the samples show it, so the pods")
	u.plain("    spread over the cool nodes instead of herding onto the coolest.")
	out, err := s.explain(ctx, "fresh-0")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			u.plain("")
			continue
		}
		u.plain("    %s", line)
	}

	// 2. Prometheus dies.
	u.step("Load 2/2: Prometheus is killed (SIGKILL); berth-load must not block when its data goes stale")
	t = time.Now()
	if err := s.prom.Kill(); err != nil {
		return err
	}
	var age time.Duration
	err = s.poll(ctx, fmt.Sprintf("berth-load's last load data to be older than the %s TTL", loadTTL), func() (bool, string, error) {
		m, err := s.metrics(ctx)
		if err != nil {
			return false, "", err
		}
		last := m.sum("berth_load_source_last_success_timestamp_seconds", nil)
		failed := m.sum("berth_load_source_errors_total", map[string]string{"kind": "unreachable"})
		age = time.Since(time.Unix(0, int64(last*1e9)))
		return failed > 0 && age > loadTTL+time.Second, fmt.Sprintf("last success %s ago, %.0f unreachable errors", age.Round(100*time.Millisecond), failed), nil
	})
	if err != nil {
		return err
	}
	u.done("%s later, berth-load's refreshes fail (Prometheus unreachable) and its last samples are %s old", since(t), age.Round(100*time.Millisecond))
	t = time.Now()
	if err := s.place(ctx, "outage", loadOutagePods); err != nil {
		return err
	}
	u.done("All %d new pods bound in %s", loadOutagePods, since(t))
	s.printPool("The pool, with the utilisation Prometheus reported before it was killed", "fresh", "outage")
	u.plain("    With the data older than the TTL, stale load neither refuses nor steers: every node is scored")
	u.plain("    by its requests, so the pods went to the nodes with the fewest, the hot ones, and none waited.")
	if out, err = s.explain(ctx, "outage-0"); err != nil {
		return err
	}
	line := ""
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, "LoadAware:") && strings.Contains(l, "scored by requests") {
			line = strings.TrimSpace(l)
			break
		}
	}
	if line == "" {
		return fmt.Errorf("berth explain pod/outage-0 does not say the nodes are scored by requests:\n%s", out)
	}
	u.plain("    explain asks Prometheus itself, and finds it down; it says for each node, e.g.:")
	u.plain("      %s", line)

	if err := s.printMetrics(ctx); err != nil {
		return err
	}
	if err := s.close(); err != nil {
		return err
	}
	u.info("Stopped berth-load (%s), Prometheus and the exporter; the load-aware part took %s.", exitStatus(s.b.waitErr), since(start))
	return nil
}

// setUp creates the pool, starts the exporter, Prometheus and berth-load,
// and waits until berth-load has read every node's load.
func (s *loadScene) setUp(ctx context.Context, binDir string) error {
	var err error
	if s.exp, err = promtest.ListenExporter(); err != nil {
		return err
	}
	var desc []string
	for i := range loadNodeOpts.Count {
		name := nodegen.NodeName(loadNodeOpts, i)
		s.nodes = append(s.nodes, name)
		s.exp.SetCPU(name, loadUtil[i].cpu)
		s.exp.SetMemory(name, loadUtil[i].mem)
		desc = append(desc, fmt.Sprintf("%s %.0f%%", name, 100*loadUtil[i].cpu))
	}
	promDir := filepath.Join(s.dir, "prometheus")
	if err := os.Mkdir(promDir, 0o755); err != nil {
		return err
	}
	t := time.Now()
	// Prometheus first: berth-load's configuration needs its address, and
	// its first scrape comes ~5 s after it starts, while the rest is set up.
	s.prom, err = promtest.StartServer(promtest.ServerOptions{BinDir: binDir, Dir: promDir, ScrapeInterval: loadScrape, Targets: []string{s.exp.Addr()}})
	if err != nil {
		return err
	}
	if _, err := nodegen.Create(ctx, s.client, loadNodeOpts); err != nil {
		return fmt.Errorf("create the load pool's nodes: %v", err)
	}
	if err := taint(ctx, s.client, s.nodes, loadTaint, map[string]string{gpuPoolLabel: loadPoolValue}); err != nil {
		return err
	}
	s.u.done("Created %s .. %s (8 CPUs each); tainted %s=%s:NoSchedule and labelled them %s=%s",
		s.nodes[0], s.nodes[len(s.nodes)-1], loadTaint.Key, loadTaint.Value, gpuPoolLabel, loadPoolValue)
	s.u.done("A synthetic node-exporter (%s) reports CPU %s", s.exp.Addr(), strings.Join(desc, ", "))
	s.u.done("Prometheus (%s) scrapes it every %s; its API is %s", filepath.Join(binDir, "prometheus"), loadScrape, s.prom.URL)

	s.cfgPath = filepath.Join(s.dir, "config.yaml")
	cfg := fmt.Sprintf(loadConfig, loadWeight, s.prom.URL, loadTTL, loadThreshold)
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := s.startBerth(ctx); err != nil {
		return err
	}
	s.u.done("Started a second berth (pid %d, /readyz on http://%s) with one profile, %s: LoadAware weight %d,",
		s.b.cmd.Process.Pid, s.b.addr, loadSchedulerName, loadWeight)
	s.u.plain("    refusing nodes above %d%% CPU, trusting samples for %s (TTL); config %s", loadThreshold, loadTTL, s.cfgPath)

	err = s.prom.AwaitSeries(ctx, `node_memory_MemTotal_bytes`, len(s.nodes), s.timeout)
	if err != nil {
		return err
	}
	err = s.poll(ctx, "berth-load to read every node's load from Prometheus", func() (bool, string, error) {
		m, err := s.metrics(ctx)
		if err != nil {
			return false, "", err
		}
		n := m.sum("berth_load_source_nodes", map[string]string{"resource": "cpu"})
		return int(n) >= len(s.nodes), fmt.Sprintf("%.0f nodes with a CPU sample", n), nil
	})
	if err != nil {
		return err
	}
	s.u.done("Prometheus scraped the exporter and berth-load read the %d nodes' load %s after Prometheus started", len(s.nodes), since(t))
	return nil
}

// startBerth starts "berth run" with the scene's configuration, logging to
// its directory, and waits until its /readyz answers 200.
func (s *loadScene) startBerth(ctx context.Context) error {
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return err
	}
	b := &berth{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), dir: s.dir,
		logPath: filepath.Join(s.dir, "berth-load.log"), exited: make(chan struct{})}
	logf, err := os.Create(b.logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	b.cmd = exec.Command(s.bin, "run", "--kubeconfig", s.kubeconfig, "--config", s.cfgPath,
		"--leader-elect=false", "--health-address", b.addr, "-v=1")
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	// As the demo's berth: its own process group, dies with the demo.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %v", s.bin, err)
	}
	s.b = b
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	hc := &http.Client{Timeout: time.Second}
	return s.poll(ctx, "berth-load to be ready", func() (bool, string, error) {
		resp, err := hc.Get("http://" + b.addr + "/readyz")
		if err != nil {
			return false, err.Error(), nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "/readyz: " + resp.Status, nil
	})
}

// close stops berth-load, Prometheus and the exporter, those that run;
// closing again does nothing.
func (s *loadScene) close() error {
	var errs []string
	if s.b != nil {
		if err := s.b.stop(10 * time.Second); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if s.prom != nil {
		if err := s.prom.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if s.exp != nil {
		if err := s.exp.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stopping the load-aware part: %s", strings.Join(errs, "; "))
	}
	return nil
}

// poll calls cond every 100 ms until it holds, showing its status after a
// second; it fails when cond does, after the timeout, or if berth-load
// exits.
func (s *loadScene) poll(ctx context.Context, what string, cond func() (bool, string, error)) error {
	t := time.Now()
	var exited chan struct{}
	if s.b != nil {
		exited = s.b.exited
	}
	for {
		ok, status, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Since(t) > time.Second {
			s.u.progress("%4.1fs  waiting for %s: %s", time.Since(t).Seconds(), what, status)
		}
		if time.Since(t) > s.timeout {
			s.u.abort()
			return fmt.Errorf("%s: not done within %s (%s)", what, s.timeout, status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			s.u.abort()
			return fmt.Errorf("berth-load exited (%v); last lines of %s:\n%s", s.b.waitErr, s.b.logPath, indent(testenv.TailFile(s.b.logPath, 15)))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// place creates n pods for the pool one after another, each once the
// previous one is bound (so each decision sees the last), and counts
// them per node.
func (s *loadScene) place(ctx context.Context, phase string, n int) error {
	counts := map[string]int{}
	s.placed[phase] = counts
	for i := range n {
		p := newPod(loadPodCPU, loadPodMem, 0)
		p.Name = fmt.Sprintf("%s-%d", phase, i)
		p.Labels[loadPhaseLabel] = phase
		p.Spec.SchedulerName = loadSchedulerName
		p.Spec.NodeSelector = map[string]string{gpuPoolLabel: loadPoolValue}
		p.Spec.Tolerations = []v1.Toleration{{Key: loadTaint.Key, Operator: v1.TolerationOpEqual, Value: loadTaint.Value, Effect: loadTaint.Effect}}
		if _, err := s.client.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s: %v", p.Name, err)
		}
		node := ""
		err := s.poll(ctx, "pod "+p.Name+" to be bound", func() (bool, string, error) {
			got, err := s.client.CoreV1().Pods(namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			node = got.Spec.NodeName
			if c := scheduledCondition(got); c != nil && node == "" {
				return false, c.Message, nil
			}
			return node != "", "not bound yet", nil
		})
		if err != nil {
			return err
		}
		counts[node]++
	}
	return nil
}

// readUtil reads each node's CPU and memory utilisation from Prometheus
// with LoadAware's default queries.
func (s *loadScene) readUtil(ctx context.Context) error {
	read := func(resource string) (map[string]float64, error) {
		v, err := s.prom.QueryContext(ctx, metricsource.DefaultQueries[resource].Expr)
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, smp := range v {
			out[string(smp.Metric["instance"])] = float64(smp.Value)
		}
		return out, nil
	}
	var err error
	if s.cpu, err = read("cpu"); err != nil {
		return err
	}
	s.mem, err = read("memory")
	return err
}

// loadPhases names the phases in the pool's table.
var loadPhases = map[string]string{"fresh": "PODS (FRESH DATA)", "outage": "PODS (PROMETHEUS DOWN)"}

// printPool prints each node's load as Prometheus measured it (with
// LoadAware's default queries, before it was killed) and the pods each
// phase placed there.
func (s *loadScene) printPool(title string, phases ...string) {
	fmt.Println()
	fmt.Printf("  %s:\n", title)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	head := "  NODE\tCPU\tMEMORY"
	for _, ph := range phases {
		head += "\t" + loadPhases[ph]
	}
	fmt.Fprintln(tw, head+"\t")
	for _, n := range s.nodes {
		row := fmt.Sprintf("  %s\t%.0f%%\t%.0f%%", n, 100*s.cpu[n], 100*s.mem[n])
		for _, ph := range phases {
			row += fmt.Sprintf("\t%d", s.placed[ph][n])
		}
		note := ""
		if 100*s.cpu[n] > loadThreshold {
			note = fmt.Sprintf("above the %d%% threshold", loadThreshold)
		}
		fmt.Fprintln(tw, row+"\t"+note)
	}
	tw.Flush()
	fmt.Println()
}

// explain runs `berth explain` on a pod with berth-load's configuration
// (its profile is not among the built-in defaults) and returns the output.
func (s *loadScene) explain(ctx context.Context, name string) (string, error) {
	s.u.step("berth explain pod/%s -n %s --config %s", name, namespace, s.cfgPath)
	cmd := exec.CommandContext(ctx, s.bin, "explain", "pod/"+name, "-n", namespace, "--kubeconfig", s.kubeconfig, "--config", s.cfgPath)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("berth explain pod/%s: %v: %s", name, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// loadMetrics are berth-load's berth_ samples.
type loadMetrics []sample

func (s *loadScene) metrics(ctx context.Context) (loadMetrics, error) {
	m, err := scrape(ctx, "http://"+s.b.addr+"/metrics")
	return loadMetrics(m), err
}

// sum adds up the samples of name whose labels include match.
func (m loadMetrics) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, smp := range m {
		if smp.name == name && matchLabels(smp.labels, match) {
			total += smp.value
		}
	}
	return total
}

func matchLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// by sums the samples of name by the value of label, as "a 1, b 2".
func (m loadMetrics) by(name, label string) string {
	sums := map[string]float64{}
	for _, smp := range m {
		if smp.name == name {
			sums[smp.labels[label]] += smp.value
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sums)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, sums[k]))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}

// printMetrics prints berth-load's LoadAware metrics.
func (s *loadScene) printMetrics(ctx context.Context) error {
	m, err := s.metrics(ctx)
	if err != nil {
		return err
	}
	s.u.step("berth-load's LoadAware metrics (http://%s/metrics)", s.b.addr)
	for _, row := range [][2]string{
		{"berth_load_scored_nodes_total", "basis"},
		{"berth_load_threshold_rejections_total", "resource"},
		{"berth_load_source_refreshes_total", "result"},
		{"berth_load_source_errors_total", "kind"},
	} {
		s.u.plain("    %-40s %s", row[0], m.by(row[0], row[1]))
	}
	return nil
}
