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
	// PolicyBerthForecast is berth's LoadAware with a Holt-Winters
	// forecast, beside kube-scheduler's request scorers.
	PolicyBerthForecast = "berth-forecast"
	// PolicyBerthNoForecast is the same on the last sample.
	PolicyBerthNoForecast = "berth-no-forecast"
	// PolicyBerthRisk is the same in riskBalancing mode.
	PolicyBerthRisk = "berth-risk"
	// PolicyLoadAwareOnly is LoadAware with a one-hour Holt-Winters
	// forecast as the only scorer.
	PolicyLoadAwareOnly = "loadaware-only-1h"
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
//
//   - requests-only: kube-scheduler's resource scoring;
//   - target-load-packing: Trimaran's TargetLoadPacking, as LoadAware's
//     targetLoadPacking mode (target 60 %) on the current measured CPU,
//     alone, as Trimaran's documentation configures it;
//   - berth-forecast: kube-scheduler's request scorers plus LoadAware
//     leastUtilized scoring on the Holt-Winters forecast peak (24 h
//     season from 48 h of history at a 5-minute step, refitted every 5
//     minutes, peak over the next hour; a 24-hour horizon did as well at
//     70 % requested and worse at 60 %, see docs/load-aware-evaluation.md);
//   - berth-no-forecast: the same on the last sample;
//   - berth-risk: the same in riskBalancing mode (mean + 1σ over the last
//     hour, the plugin's default history);
//   - loadaware-only-1h: LoadAware leastUtilized with a one-hour
//     Holt-Winters horizon as the only scorer.
//
// Every LoadAware policy weighs CPU only.
func DefaultPolicies() []Policy {
	hw := func(horizon time.Duration) loadaware.ForecastArgs {
		return loadaware.ForecastArgs{Model: load.ModelHoltWinters, Season: metav1.Duration{Duration: 24 * time.Hour},
			Horizon: metav1.Duration{Duration: horizon}}
	}
	none := loadaware.ForecastArgs{Model: load.ModelNone}
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
			Description: "LoadAware targetLoadPacking alone, target 60%, forecast none (Trimaran's TargetLoadPacking)",
			LoadAware: &loadaware.Args{Source: noHistory(), Mode: string(load.TargetLoadPacking), TargetUtilizationPercent: 60,
				Weights: cpuOnly(), Forecast: none}},
		{Name: PolicyBerthForecast, RequestScorers: true,
			Description: "request scorers + LoadAware leastUtilized on the holtWinters peak (season 24h, history 48h at 5m, refit 5m, horizon 1h)",
			LoadAware:   &loadaware.Args{Source: forecastSource, Mode: string(load.LeastUtilized), Weights: cpuOnly(), Forecast: hw(time.Hour)}},
		{Name: PolicyBerthNoForecast, RequestScorers: true,
			Description: "request scorers + LoadAware leastUtilized on the last sample (forecast none)",
			LoadAware:   &loadaware.Args{Source: noHistory(), Mode: string(load.LeastUtilized), Weights: cpuOnly(), Forecast: none}},
		{Name: PolicyBerthRisk, RequestScorers: true,
			Description: "request scorers + LoadAware riskBalancing (mean + 1 sigma over 1h of history at 1m), forecast none",
			LoadAware:   &loadaware.Args{Source: riskSource, Mode: string(load.RiskBalancing), Weights: cpuOnly(), Forecast: none}},
		{Name: PolicyLoadAwareOnly,
			Description: "LoadAware leastUtilized alone on the holtWinters peak (season 24h, history 48h at 5m, refit 5m, horizon 1h)",
			LoadAware:   &loadaware.Args{Source: forecastSource, Mode: string(load.LeastUtilized), Weights: cpuOnly(), Forecast: hw(time.Hour)}},
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
