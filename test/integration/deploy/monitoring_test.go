package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/berthsched/berth/internal/monitoringtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

// TestMonitoringChartCopies: the chart's dashboard and rules are the
// deploy/ files byte for byte (Helm cannot read outside the chart).
func TestMonitoringChartCopies(t *testing.T) {
	root := repoRoot(t)
	for _, pair := range [][2]string{
		{monitoringtest.Dashboard, monitoringtest.ChartDashboard},
		{monitoringtest.Rules, monitoringtest.ChartRules},
	} {
		a, errA := os.ReadFile(filepath.Join(root, pair[0]))
		b, errB := os.ReadFile(filepath.Join(root, pair[1]))
		if errA != nil || errB != nil {
			t.Fatalf("%v %v", errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: edit %s and run cp %s %s", pair[1], pair[0], pair[0], pair[0], pair[1])
		}
	}
}

// TestAlertRules checks deploy/monitoring/berth-rules.yaml with the real
// Prometheus rule parser (promtool check rules), and that every alert has
// a severity, a for duration, and a runbook_url whose anchor is a heading
// of docs/operations.md, and reads only metrics berth defines.
func TestAlertRules(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, monitoringtest.Rules)
	promtoolCheck(t, path)

	g, err := monitoringtest.LoadRules(path)
	if err != nil {
		t.Fatal(err)
	}
	alerts := g.Alerts()
	var names []string
	for _, a := range alerts {
		names = append(names, a.Alert)
	}
	want := []string{"BerthPodsPendingTooLong", "BerthBindErrorRate", "BerthCacheDrift", "BerthNoLeader", "BerthSchedulingLatencySLO"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("alerts (-want +got):\n%s", d)
	}
	anchors := markdownAnchors(t, filepath.Join(root, "docs", "operations.md"))
	const base = "https://github.com/berthsched/berth/blob/main/docs/operations.md#"
	for _, a := range alerts {
		if a.Labels["severity"] == "" || a.For == "" || a.Annotations["summary"] == "" {
			t.Errorf("%s: needs a severity label, a for duration and a summary", a.Alert)
		}
		url := a.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, base)
		if !ok || anchor != strings.ToLower(a.Alert) || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q must be %s%s, a heading of docs/operations.md", a.Alert, url, base, strings.ToLower(a.Alert))
		}
	}
	checkDefinedByBerth(t, monitoringtest.RuleQueries, path)
}

// TestDashboardQueries: the dashboard parses, every panel has queries,
// and they read only metrics berth defines (the live scrape is
// test/integration/monitoring's).
func TestDashboardQueries(t *testing.T) {
	checkDefinedByBerth(t, monitoringtest.DashboardQueries, filepath.Join(repoRoot(t), monitoringtest.Dashboard))
}

// TestHelmMonitoring renders the chart with the dashboard and the
// PrometheusRule on: the ConfigMap carries the sidecar label and the
// dashboard, the PrometheusRule's spec is the rules file and passes
// promtool. Both are off by default (TestHelmChart's kind counts).
func TestHelmMonitoring(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building hack/helmcheck (Helm's chart packages) takes a minute the first time")
	}
	root := repoRoot(t)
	chart := filepath.Join(root, "charts", "berth")
	helm(t, "lint", "--strict", chart, "--set", "dashboards.enabled=true", "--set", "prometheusRule.enabled=true")
	objs := decodeYAML(t, helm(t, "template", "berth", chart, "--namespace", berthNamespace,
		"--set", "dashboards.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.labels.release=kps", "--set", "dashboards.namespace=grafana"))

	var cm v1.ConfigMap
	fromUnstructured(t, find(t, objs, "ConfigMap", "berth-dashboards"), &cm)
	dash, err := os.ReadFile(filepath.Join(root, monitoringtest.Dashboard))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "grafana" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v: want grafana_dashboard=1 in grafana", cm.Namespace, cm.Name, cm.Labels)
	}
	if got := cm.Data["berth-dashboard.json"]; got != strings.TrimSpace(string(dash)) {
		t.Errorf("the ConfigMap's dashboard (%d bytes) is not %s (%d bytes)", len(got), monitoringtest.Dashboard, len(dash))
	}

	pr := find(t, objs, "PrometheusRule", "berth")
	if pr.GetAPIVersion() != "monitoring.coreos.com/v1" || pr.GetNamespace() != berthNamespace || pr.GetLabels()["release"] != "kps" {
		t.Errorf("PrometheusRule %s %s/%s labels %v", pr.GetAPIVersion(), pr.GetNamespace(), pr.GetName(), pr.GetLabels())
	}
	spec, err := yaml.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	rendered := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rendered, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	promtoolCheck(t, rendered)
	got, err := monitoringtest.LoadRules(rendered)
	if err != nil {
		t.Fatal(err)
	}
	want, err := monitoringtest.LoadRules(filepath.Join(root, monitoringtest.Rules))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("PrometheusRule spec differs from %s (-want +got):\n%s", monitoringtest.Rules, d)
	}
	// The rest still passes the API server's dry run.
	ns := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "grafana"}}
	if _, err := testenv.Current().Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var rest = objs[:0:0]
	for _, u := range objs {
		if u.GetKind() != "PrometheusRule" {
			rest = append(rest, u)
		}
	}
	dryRunAll(t, rest)
}

// promtoolCheck runs bin/promtool check rules on path.
func promtoolCheck(t *testing.T, path string) {
	t.Helper()
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "promtool"), "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v (make prometheus installs bin/promtool)\n%s", path, err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules %s:\n%s", path, out)
	}
}

// checkDefinedByBerth asserts that every metric the queries of path name
// is one berth's collectors describe (a histogram's _bucket, _sum and
// _count by its family).
func checkDefinedByBerth(t *testing.T, load func(string) ([]monitoringtest.Query, error), path string) {
	t.Helper()
	qs, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	defined := berthMetricNames()
	for _, q := range qs {
		names, err := monitoringtest.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %v", q.Source, err)
			continue
		}
		for _, n := range names {
			family := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(n, suffix); ok && defined[f] {
					family = f
				}
			}
			if !defined[family] {
				t.Errorf("%s reads %s, which berth does not define", q.Source, n)
			}
		}
	}
}

// berthMetricNames are the names of every metric berth run registers
// besides the Go and process collectors.
func berthMetricNames() map[string]bool {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	reg.MustRegister(metricsource.Collectors()...)
	reg.MustRegister(gpushare.Collectors()...)
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	out := map[string]bool{}
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}

// markdownAnchors returns the GitHub anchors of the headings of a
// Markdown file: lower case, punctuation dropped, spaces as hyphens.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			h = strings.ToLower(strings.TrimSpace(strings.TrimLeft(h, "#")))
			out[strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")] = true
		}
	}
	return out
}
