package soak

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

func samples(start time.Time, vals ...float64) []model.SamplePair {
	var out []model.SamplePair
	for i, v := range vals {
		out = append(out, model.SamplePair{Timestamp: model.TimeFromUnixNano(start.Add(time.Duration(i) * time.Minute).UnixNano()), Value: model.SampleValue(v)})
	}
	return out
}

// TestTrend: the warm-up quarter is ignored, the second quarter is
// compared with the last, and steps without data (NaN) are skipped.
func TestTrend(t *testing.T) {
	start := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	end := start.Add(8 * time.Minute)
	// Minutes 0-1 warm-up, 2-3 second quarter, 6-7 last quarter.
	tr := trend("rss", samples(start, 10, 500, 100, 100, 105, math.NaN(), 110, 110), start, end)
	if tr.Q2 != 100 || tr.Q4 != 110 {
		t.Fatalf("Q2 %g Q4 %g, want 100 and 110", tr.Q2, tr.Q4)
	}
	if math.Abs(tr.Growth-0.10) > 1e-9 || tr.Max != 500 {
		t.Errorf("growth %g max %g, want 0.10 and 500", tr.Growth, tr.Max)
	}
	tr.Limit = 0.05
	if tr.OK() {
		t.Error("10% growth passed a 5% limit")
	}
	tr.Limit = 0.2
	if !tr.OK() {
		t.Error("10% growth failed a 20% limit")
	}
}

func TestSummary(t *testing.T) {
	res := &Result{Started: time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC), Duration: time.Hour, Created: 18000, Deleted: 17400,
		Trends: []Trend{
			{Name: "berth resident memory", Q2: 80 << 20, Q4: 82 << 20, Max: 90 << 20, Growth: 0.025, Limit: 0.1, Unit: "B"},
			{Name: "Goroutines", Q2: 100, Q4: 150, Max: 160, Growth: 0.5, Limit: 0.1},
			{Name: "Pod creation to bind p99", Q2: 0.5, Q4: 0.5, Max: 1, Unit: "s"},
		}}
	res.Warmup = 20 * time.Minute
	s := Summary(res)
	for _, want := range []string{"18000 pods created, 17400 deleted", "Quarters are of the 40m0s after a 20m0s warm-up.", "| berth resident memory | 80.0 MiB | 82.0 MiB | +2.5% | 90.0 MiB | 10% | flat |",
		"| Goroutines | 100 | 150 | +50.0% | 160 | 10% | GROWING |", "| Pod creation to bind p99 | 0.50 s | 0.50 s | +0.0% | 1.00 s | (reported) |  |", "Verdict: NOT flat."} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// TestPods: the churn's pods are of every kind, carry their tick, and
// are the soak profile's.
func TestPods(t *testing.T) {
	c := &churn{ns: "soak", scheduler: profile}
	kinds := map[string]int{}
	for i := range 20 {
		p := c.pod(7, i)
		kinds[kindOf(i)]++
		if p.Labels[tickLabel] != "7" || p.Namespace != "soak" || p.Spec.SchedulerName != profile {
			t.Errorf("pod %d: labels %v, namespace %q, scheduler %q", i, p.Labels, p.Namespace, p.Spec.SchedulerName)
		}
		switch kindOf(i) {
		case "anti":
			if p.Spec.Affinity == nil || p.Spec.Affinity.PodAntiAffinity == nil {
				t.Errorf("anti pod %d has no anti-affinity", i)
			}
		case "spread":
			if len(p.Spec.TopologySpreadConstraints) != 1 || p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable != v1.DoNotSchedule {
				t.Errorf("spread pod %d: %+v", i, p.Spec.TopologySpreadConstraints)
			}
		case "gpu":
			if p.Annotations[gpushare.AnnotationMilli] == "" {
				t.Errorf("gpu pod %d asks for no share", i)
			}
		}
	}
	if kinds["plain"] != 14 || kinds["anti"] != 2 || kinds["spread"] != 2 || kinds["gpu"] != 2 {
		t.Errorf("kinds %v", kinds)
	}
}
