package monitoringtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`berth_pending_pods`, []string{"berth_pending_pods"}},
		{`sum by (result, profile) (rate(berth_schedule_attempts_total{job=~"$job"}[$__rate_interval]))`, []string{"berth_schedule_attempts_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(berth_pod_creation_to_bind_duration_seconds_bucket[10m]))) > 30`, []string{"berth_pod_creation_to_bind_duration_seconds_bucket"}},
		{`sum(rate(a_total{reason=~"error|transient"}[10m])) / sum(rate(b_count[10m])) > 0.05`, []string{"a_total", "b_count"}},
		{`(sum by (job) (x) < 1) or absent(x)`, []string{"x"}},
		{`time() - max by (source) (last_ts{job=~"$job"})`, []string{"last_ts"}},
		{`a / clamp_min(b - c, 1e-9) * on (instance) group_left (node) d unless e offset 5m`, []string{"a", "b", "c", "d", "e"}},
		{`sum(rate(x[5m])) by (le, plugin)`, []string{"x"}},
		{`sum(x{a="sum(y)"}) and bool z`, []string{"x", "z"}},
		{`{__name__="only_by_name"}`, nil},
	} {
		got, err := MetricNames(tc.expr)
		if tc.want == nil {
			if err == nil {
				t.Errorf("MetricNames(%q) = %v, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("MetricNames(%q): %v", tc.expr, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("MetricNames(%q) (-want +got):\n%s", tc.expr, d)
		}
	}
}

func TestExpand(t *testing.T) {
	got := Expand(`rate(x{job=~"$job"}[$__rate_interval]) + y{job=~"${job}"}`)
	if want := `rate(x{job=~".+"}[1m]) + y{job=~".+"}`; got != want {
		t.Errorf("Expand = %s, want %s", got, want)
	}
}

func TestDashboardQueriesRejectsBrokenPanels(t *testing.T) {
	for name, body := range map[string]string{
		"no query":     `{"title":"t","uid":"u","panels":[{"id":1,"type":"timeseries","title":"p"}]}`,
		"empty expr":   `{"title":"t","uid":"u","panels":[{"id":1,"type":"stat","title":"p","targets":[{"refId":"A","expr":" "}]}]}`,
		"repeated id":  `{"title":"t","uid":"u","panels":[{"id":1,"type":"row","panels":[{"id":1,"type":"stat","targets":[{"refId":"A","expr":"x"}]}]}]}`,
		"no uid":       `{"title":"t","panels":[]}`,
		"invalid json": `{`,
	} {
		path := filepath.Join(t.TempDir(), "d.json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := DashboardQueries(path); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	path := filepath.Join(t.TempDir(), "d.json")
	_ = os.WriteFile(path, []byte(`{"title":"t","uid":"u","panels":[{"id":1,"type":"row","panels":[{"id":2,"type":"stat","title":"p","targets":[{"refId":"A","expr":"x"}]}]}]}`), 0o644)
	qs, err := DashboardQueries(path)
	if err != nil || len(qs) != 1 || qs[0].Expr != "x" || !strings.Contains(qs[0].Source, `"p" A`) {
		t.Errorf("nested row: %+v, %v", qs, err)
	}
}

func TestSampleNames(t *testing.T) {
	got := SampleNames(`# HELP h a histogram
# TYPE h histogram
h_bucket{le="1"} 0
h_bucket{le="+Inf"} 2
h_sum 3
h_count 2
g 1
c_total{a="x y"} 4
`)
	want := map[string]bool{"h_bucket": true, "h_sum": true, "h_count": true, "g": true, "c_total": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("SampleNames (-want +got):\n%s", d)
	}
}
