package loadsim

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
	"github.com/berthsched/berth/pkg/plugins/loadaware"
)

// The policies' names.
const (
	// PolicyRequests is kube-scheduler's default scoring.
	PolicyRequests = "requests-only"
	// PolicyTargetLoadPacking is Trimaran's TargetLoadPacking.
	PolicyTargetLoadPacking = "target-load-packing"
	// PolicyBerthForecast is berth's LoadAware with a forecast.
	PolicyBerthForecast = "berth-forecast"
	// PolicyBerthNoForecast is berth's LoadAware on the last sample.
	PolicyBerthNoForecast = "berth-no-forecast"
	// PolicyBerthRisk is berth's LoadAware riskBalancing mode.
	PolicyBerthRisk = "berth-risk"
)

// SampleInterval is how often the simulated source measures: each
// sample is the previous minute's average, what a Prometheus rate over
// one minute gives.
const SampleInterval = time.Minute

// Policy is one scoring configuration under test. Every policy runs
// berth's default filters (simulate.FilterPlugins); only the scorers
// differ.
type Policy struct {
	// Name labels the policy's results.
	Name string `json:"name"`
	// Description says what the policy is, for the report.
	Description string `json:"description"`
	// RequestScorers enables NodeResourcesFit (LeastAllocated) and
	// NodeResourcesBalancedAllocation, weight 1 each: kube-scheduler's
	// resource scoring.
	RequestScorers bool `json:"requestScorers"`
	// LoadAware, when set, enables LoadAware (weight 1) with these args
	// over the simulation's source; args.source.interval and
	// args.source.history say how the simulated source samples and
	// derives history, as the real source would.
	LoadAware *loadaware.Args `json:"loadAware,omitempty"`
}

// cpuOnly are the weights of every LoadAware policy: the simulation
// models CPU use only, and memory without samples would send every node
// to the requests fallback.
func cpuOnly() map[string]int64 { return map[string]int64{"cpu": 1} }

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// noHistory is a source that samples every minute and keeps no history.
func noHistory() metricsource.Spec {
	return metricsource.Spec{Interval: metav1.Duration{Duration: SampleInterval}, History: metricsource.HistorySpec{Window: duration(0)}}
}

// DefaultPolicies are the evaluation's policies, in report order:
// requests-only, Trimaran-style TargetLoadPacking on the current
// measured CPU (target 60 %), berth's LoadAware leastUtilized with a
// Holt-Winters forecast (24 h season from 48 h of history at a 5-minute
// step, refitted every 5 minutes, peak over the next hour), the same
// without the forecast, and riskBalancing (mean + 1σ over the last hour,
// the plugin's default history).
func DefaultPolicies() []Policy {
	forecastSource := noHistory()
	forecastSource.History = metricsource.HistorySpec{Window: duration(48 * time.Hour), Step: metav1.Duration{Duration: 5 * time.Minute},
		Interval: metav1.Duration{Duration: 5 * time.Minute}}
	riskSource := noHistory()
	riskSource.History = metricsource.HistorySpec{Window: duration(time.Hour), Step: metav1.Duration{Duration: time.Minute},
		Interval: metav1.Duration{Duration: 5 * time.Minute}}
	return []Policy{
		{Name: PolicyRequests, RequestScorers: true,
			Description: "NodeResourcesFit (LeastAllocated) + NodeResourcesBalancedAllocation, weight 1 each: kube-scheduler's defaults"},
		{Name: PolicyTargetLoadPacking,
			Description: "LoadAware targetLoadPacking, target 60%, cpu only, forecast none (Trimaran's TargetLoadPacking)",
			LoadAware: &loadaware.Args{Source: noHistory(), Mode: string(load.TargetLoadPacking), TargetUtilizationPercent: 60,
				Weights: cpuOnly(), Forecast: loadaware.ForecastArgs{Model: load.ModelNone}}},
		{Name: PolicyBerthForecast,
			Description: "LoadAware leastUtilized, cpu only, forecast holtWinters (season 24h, history 48h at 5m, refit 5m, horizon 1h)",
			LoadAware: &loadaware.Args{Source: forecastSource, Mode: string(load.LeastUtilized), Weights: cpuOnly(),
				Forecast: loadaware.ForecastArgs{Model: load.ModelHoltWinters, Season: metav1.Duration{Duration: 24 * time.Hour},
					Horizon: metav1.Duration{Duration: time.Hour}}}},
		{Name: PolicyBerthNoForecast,
			Description: "LoadAware leastUtilized, cpu only, forecast none",
			LoadAware: &loadaware.Args{Source: noHistory(), Mode: string(load.LeastUtilized), Weights: cpuOnly(),
				Forecast: loadaware.ForecastArgs{Model: load.ModelNone}}},
		{Name: PolicyBerthRisk,
			Description: "LoadAware riskBalancing (mean + 1 sigma over 1h of history at 1m), cpu only, forecast none",
			LoadAware: &loadaware.Args{Source: riskSource, Mode: string(load.RiskBalancing), Weights: cpuOnly(),
				Forecast: loadaware.ForecastArgs{Model: load.ModelNone}}},
	}
}

// PolicyNames lists the default policies' names.
func PolicyNames() []string {
	var out []string
	for _, p := range DefaultPolicies() {
		out = append(out, p.Name)
	}
	return out
}

// PoliciesByName returns the default policies named in names (all of
// them for none), in the order given.
func PoliciesByName(names []string) ([]Policy, error) {
	all := DefaultPolicies()
	if len(names) == 0 {
		return all, nil
	}
	var out []Policy
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if seen[n] {
			continue
		}
		seen[n] = true
		found := false
		for _, p := range all {
			if p.Name == n {
				out, found = append(out, p), true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown policy %q; valid policies are %s", n, strings.Join(PolicyNames(), ", "))
		}
	}
	return out, nil
}

// sourceConfig is what the simulated source derives for a policy, read
// from its defaulted LoadAware args as the real source reads them.
type sourceConfig struct {
	window, step, interval time.Duration
	// stats: the mode reads the history's mean and deviation.
	stats bool
	// forecast is the model fitted per node; nil for none.
	forecast *load.ForecastConfig
}

// newSourceConfig defaults a copy of args and extracts the history the
// simulated source must keep.
func newSourceConfig(args *loadaware.Args) (*loadaware.Args, sourceConfig) {
	a := args.DeepCopyObject().(*loadaware.Args)
	loadaware.SetDefaultArgs(a)
	h := a.Source.History
	c := sourceConfig{step: h.Step.Duration, interval: h.Interval.Duration, stats: a.Mode == string(load.RiskBalancing)}
	if h.Window != nil {
		c.window = h.Window.Duration
	}
	if m := a.Forecast.Model; m != "" && m != load.ModelNone {
		c.forecast = &load.ForecastConfig{Model: m, Horizon: a.Forecast.Horizon.Duration, Season: a.Forecast.Season.Duration,
			Alpha: a.Forecast.Alpha, Beta: a.Forecast.Beta, Gamma: a.Forecast.Gamma}
	}
	return a, c
}
