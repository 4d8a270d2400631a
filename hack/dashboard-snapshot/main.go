package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/monitoringtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/promtest"
	"github.com/berthsched/berth/internal/svgchart"
	"github.com/berthsched/berth/internal/testenv"
)

// panels are the dashboard panels drawn, by title, in reading order.
var panels = []string{
	"Scheduling attempts by result and profile",
	"Pod creation to bind",
	"Pending pods by queue",
	"Scheduling attempt latency p99",
	"GPU allocation",
	"GPU fragmentation",
	"Pod groups by state",
	"Metric freshness",
	"Scored nodes by basis",
}

func main() {
	out := flag.String("out", "docs/img/dashboard.svg", "SVG to write")
	duration := flag.Duration("duration", 90*time.Second, "length of the burst")
	flag.Parse()
	if err := run(*out, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard-snapshot:", err)
		os.Exit(1)
	}
}

func run(out string, duration time.Duration) error {
	ctx := context.Background()
	queries, err := monitoringtest.DashboardQueries(monitoringtest.Dashboard)
	if err != nil {
		return fmt.Errorf("%v (run from the repository root)", err)
	}
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		return err
	}
	defer env.Stop()
	c := env.Client
	var loadNodes []string
	for _, o := range []nodegen.Options{
		{Count: 8, Profile: nodegen.ProfileBasic, Prefix: "cpu-", Zones: 2},
		{Count: 4, Profile: nodegen.ProfileGPU, Prefix: "gpu-", Zones: 2},
	} {
		if _, err := nodegen.Create(ctx, c, o); err != nil {
			return err
		}
		for i := range o.Count {
			if o.Profile == nodegen.ProfileBasic {
				loadNodes = append(loadNodes, nodegen.NodeName(o, i))
			}
		}
	}
	exp, err := promtest.ListenExporter()
	if err != nil {
		return err
	}
	defer exp.Close()
	for i, n := range loadNodes {
		exp.SetCPU(n, 0.1+0.1*float64(i))
		exp.SetMemory(n, 0.4)
	}
	ports, err := testenv.FreePorts(1)
	if err != nil {
		return err
	}
	health := "127.0.0.1:" + strconv.Itoa(ports[0])
	dir, err := os.MkdirTemp("", "dashboard-snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	prom, err := promtest.StartServer(promtest.ServerOptions{Dir: dir, ScrapeInterval: 2 * time.Second, Targets: []string{exp.Addr(), health}})
	if err != nil {
		return err
	}
	defer prom.Close()

	bin, err := testenv.BinDir()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(monitoringtest.SchedulerConfig(prom.URL, "2s")), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "berth.log"))
	if err != nil {
		return err
	}
	berth := exec.Command(filepath.Join(bin, "berth"), "run", "--leader-elect=false", "--health-address", health, "--config", cfg, "--kubeconfig", env.Kubeconfig)
	berth.Stdout, berth.Stderr = logf, logf
	berth.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := berth.Start(); err != nil {
		return err
	}
	defer func() { _ = berth.Process.Signal(syscall.SIGTERM); _ = berth.Wait() }()
	if err := waitReady(health); err != nil {
		return err
	}
	nsObj, err := c.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "snapshot"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	ns := nsObj.Name
	// No controller manager runs: create the ServiceAccount admission wants.
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		return err
	}

	// Let Prometheus see berth idle first, then the burst.
	time.Sleep(10 * time.Second)
	start := time.Now()
	w := &monitoringtest.Workload{Client: c, Namespace: ns}
	for round := 0; time.Since(start) < duration; round++ {
		err := errors.Join(w.Plain(15+10*(round%3)), w.GPU(3), w.Load(8))
		if round%3 == 0 {
			err = errors.Join(err, w.Gang(fmt.Sprintf("gang-%d", round), 4, 4))
		}
		if round%4 == 1 {
			err = errors.Join(err, w.Gang(fmt.Sprintf("short-%d", round), 3, 2), w.TooBig())
		}
		if err != nil {
			return err
		}
		time.Sleep(5 * time.Second)
	}
	time.Sleep(10 * time.Second)
	end := time.Now()

	pc, err := api.NewClient(api.Config{Address: prom.URL})
	if err != nil {
		return err
	}
	papi := promv1.NewAPI(pc)
	vars := strings.NewReplacer("$__rate_interval", "15s", "$job", ".+")
	var charts []svgchart.Chart
	for _, title := range panels {
		ch := svgchart.Chart{Title: title}
		for _, q := range queries {
			if !strings.Contains(q.Source, fmt.Sprintf("%q", title)) {
				continue
			}
			v, _, err := papi.QueryRange(ctx, vars.Replace(q.Expr), promv1.Range{Start: start.Add(-10 * time.Second), End: end, Step: 2 * time.Second})
			if err != nil {
				return fmt.Errorf("%s: %v", q.Source, err)
			}
			for _, s := range v.(model.Matrix) {
				ch.Series = append(ch.Series, svgchart.Series{Name: legend(q.Legend, s.Metric), Points: s.Values})
			}
			ch.Unit = unitOf(title)
		}
		charts = append(charts, ch)
	}
	from := start.Add(-10 * time.Second)
	svg := svgchart.Render(fmt.Sprintf("berth scheduler — main panels, from a real berth run (Prometheus query_range, %s)", end.Sub(from).Round(time.Second)), charts, from, end)
	if err := os.WriteFile(out, []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d panels, %s of a burst (%d pods)\n", out, len(charts), duration, w.Created)
	return nil
}

func waitReady(health string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + health + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("berth not ready at %s", health)
}

// legend names a series by the panel's legendFormat, as Grafana does.
func legend(format string, m model.Metric) string {
	return placeholder.ReplaceAllStringFunc(format, func(p string) string {
		return string(m[model.LabelName(strings.Trim(p, "{} "))])
	})
}

var placeholder = regexp.MustCompile(`\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}`)

func unitOf(title string) string {
	switch {
	case strings.Contains(title, "latency"), strings.Contains(title, "bind"), strings.Contains(title, "freshness"):
		return "s"
	case strings.HasPrefix(title, "GPU"):
		return "%"
	case strings.Contains(title, "attempts"), strings.Contains(title, "Scored"):
		return "/s"
	}
	return ""
}
