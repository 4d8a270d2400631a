package loadaware

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
)

// Args configures LoadAware (pluginConfig name "LoadAware").
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// Source is where measurements come from (type prometheus,
	// metricsServer or file); see docs/load-aware.md.
	Source metricsource.Spec `json:"source"`
	// Mode is leastUtilized (default), targetLoadPacking or
	// riskBalancing.
	Mode string `json:"mode,omitempty"`
	// Weights weigh each resource (cpu, memory, gpu, diskIO) in the
	// score; default cpu 1, memory 1, gpu 2 (for pods that request GPUs
	// only), diskIO 0.
	Weights map[string]int64 `json:"weights,omitempty"`
	// TargetUtilizationPercent is targetLoadPacking's target (default 60).
	TargetUtilizationPercent int32 `json:"targetUtilizationPercent,omitempty"`
	// RiskStdDevs is k in riskBalancing's mean + k·σ (default 1).
	RiskStdDevs *float64 `json:"riskStdDevs,omitempty"`
	// TTL is how old a sample may be and still be trusted (default 2m);
	// older → the node is scored by requests.
	TTL metav1.Duration `json:"ttl,omitempty"`
	// EstimateWarmup is how long a new pod takes to show in the samples
	// (default 30s): pods placed less than warmup + the sample's window
	// before a sample are added to it as estimates.
	EstimateWarmup *metav1.Duration `json:"estimateWarmup,omitempty"`
	// EstimatePercent scales a placed pod's request into its estimated
	// use, per resource (default 100 for cpu and memory).
	EstimatePercent map[string]int32 `json:"estimatePercent,omitempty"`
	// DefaultEstimate is the estimate for containers without requests
	// (default cpu 100m, memory 128Mi).
	DefaultEstimate v1.ResourceList `json:"defaultEstimate,omitempty"`
	// Forecast scores on a short-term forecast (model none, ewma or
	// holtWinters) fitted from the source's history.
	Forecast ForecastArgs `json:"forecast,omitempty"`
	// ThresholdPercent makes Filter refuse a node whose measured
	// utilisation of a resource, estimates included, is above the
	// threshold (e.g. cpu: 90); stale data never refuses.
	ThresholdPercent map[string]int32 `json:"thresholdPercent,omitempty"`
	// GPUResources are the resources that make a pod a GPU pod (scored by
	// GPU utilisation too); default nvidia.com/gpu.
	GPUResources []v1.ResourceName `json:"gpuResources,omitempty"`
}

// ForecastArgs configures the forecast.
type ForecastArgs struct {
	// Model is none (default), ewma or holtWinters.
	Model string `json:"model,omitempty"`
	// Horizon is how far ahead the peak is taken (default 15m).
	Horizon metav1.Duration `json:"horizon,omitempty"`
	// Season is Holt-Winters' season (default 24h); the source's
	// history must hold two seasons before Holt-Winters is used
	// (history.window ≥ 2×season), EWMA until then.
	Season metav1.Duration `json:"season,omitempty"`
	// Alpha, Beta, Gamma fix the smoothing factors; 0 fits them.
	Alpha float64 `json:"alpha,omitempty"`
	Beta  float64 `json:"beta,omitempty"`
	Gamma float64 `json:"gamma,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := *a
	out.Source = *a.Source.DeepCopy()
	out.Weights = copyMap(a.Weights)
	out.EstimatePercent = copyMap(a.EstimatePercent)
	out.ThresholdPercent = copyMap(a.ThresholdPercent)
	if a.RiskStdDevs != nil {
		v := *a.RiskStdDevs
		out.RiskStdDevs = &v
	}
	if a.EstimateWarmup != nil {
		v := *a.EstimateWarmup
		out.EstimateWarmup = &v
	}
	if a.DefaultEstimate != nil {
		out.DefaultEstimate = a.DefaultEstimate.DeepCopy()
	}
	out.GPUResources = append([]v1.ResourceName(nil), a.GPUResources...)
	return &out
}

func copyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Defaults.
const (
	DefaultTTL     = 2 * time.Minute
	DefaultWarmup  = 30 * time.Second
	DefaultHorizon = 15 * time.Minute
	DefaultSeason  = 24 * time.Hour
	DefaultTarget  = 60
)

// SetDefaultArgs fills the defaults.
func SetDefaultArgs(a *Args) {
	metricsource.SetDefaults(&a.Source)
	if a.Mode == "" {
		a.Mode = string(load.LeastUtilized)
	}
	if a.Weights == nil {
		a.Weights = map[string]int64{"cpu": 1, "memory": 1, "gpu": 2}
	}
	if a.TargetUtilizationPercent == 0 {
		a.TargetUtilizationPercent = DefaultTarget
	}
	if a.RiskStdDevs == nil {
		k := 1.0
		a.RiskStdDevs = &k
	}
	if a.TTL.Duration == 0 {
		a.TTL.Duration = DefaultTTL
	}
	if a.EstimateWarmup == nil {
		a.EstimateWarmup = &metav1.Duration{Duration: DefaultWarmup}
	}
	if a.EstimatePercent == nil {
		a.EstimatePercent = map[string]int32{"cpu": 100, "memory": 100}
	}
	if a.DefaultEstimate == nil {
		a.DefaultEstimate = v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")}
	}
	if a.Forecast.Model == "" {
		a.Forecast.Model = load.ModelNone
	}
	if a.Forecast.Horizon.Duration == 0 {
		a.Forecast.Horizon.Duration = DefaultHorizon
	}
	if a.Forecast.Season.Duration == 0 {
		a.Forecast.Season.Duration = DefaultSeason
	}
	if len(a.GPUResources) == 0 {
		a.GPUResources = []v1.ResourceName{"nvidia.com/gpu"}
	}
}

// forecastConfig is the forecast as pkg/placement/load takes it.
func (a *Args) forecastConfig() load.ForecastConfig {
	return load.ForecastConfig{Model: a.Forecast.Model, Horizon: a.Forecast.Horizon.Duration, Season: a.Forecast.Season.Duration,
		Alpha: a.Forecast.Alpha, Beta: a.Forecast.Beta, Gamma: a.Forecast.Gamma}
}

// ValidateArgs reports every problem with its field path.
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	errs := metricsource.Validate(&a.Source, path.Child("source"))
	switch load.Mode(a.Mode) {
	case load.LeastUtilized, load.TargetLoadPacking, load.RiskBalancing:
	default:
		errs = append(errs, field.NotSupported(path.Child("mode"), a.Mode, load.Modes()))
	}
	total := int64(0)
	for _, k := range sortedKeys(a.Weights) {
		if _, ok := load.ParseResource(k); !ok {
			errs = append(errs, field.NotSupported(path.Child("weights").Key(k), k, load.ResourceNames()))
			continue
		}
		if w := a.Weights[k]; w < 0 || w > 100 {
			errs = append(errs, field.Invalid(path.Child("weights").Key(k), w, "not in valid range [0, 100]"))
		} else {
			total += w
		}
	}
	if total == 0 {
		errs = append(errs, field.Invalid(path.Child("weights"), a.Weights, "at least one resource needs a positive weight"))
	}
	if a.TargetUtilizationPercent < 1 || a.TargetUtilizationPercent > 99 {
		errs = append(errs, field.Invalid(path.Child("targetUtilizationPercent"), a.TargetUtilizationPercent, "not in valid range [1, 99]"))
	}
	if a.RiskStdDevs != nil && (*a.RiskStdDevs < 0 || *a.RiskStdDevs > 10) {
		errs = append(errs, field.Invalid(path.Child("riskStdDevs"), *a.RiskStdDevs, "not in valid range [0, 10]"))
	}
	if a.TTL.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("ttl"), a.TTL.Duration.String(), "must be positive"))
	} else if a.TTL.Duration < a.Source.Interval.Duration {
		errs = append(errs, field.Invalid(path.Child("ttl"), a.TTL.Duration.String(),
			fmt.Sprintf("shorter than the source's interval (%s): every sample would go stale before the next refresh", a.Source.Interval.Duration)))
	}
	if a.EstimateWarmup != nil && a.EstimateWarmup.Duration < 0 {
		errs = append(errs, field.Invalid(path.Child("estimateWarmup"), a.EstimateWarmup.Duration.String(), "must not be negative"))
	}
	for _, k := range sortedKeys(a.EstimatePercent) {
		if k != "cpu" && k != "memory" && k != "gpu" {
			errs = append(errs, field.NotSupported(path.Child("estimatePercent").Key(k), k, []string{"cpu", "memory", "gpu"}))
		} else if p := a.EstimatePercent[k]; p < 0 || p > 1000 {
			errs = append(errs, field.Invalid(path.Child("estimatePercent").Key(k), p, "not in valid range [0, 1000]"))
		}
	}
	for _, k := range sortedKeys(a.ThresholdPercent) {
		if _, ok := load.ParseResource(k); !ok {
			errs = append(errs, field.NotSupported(path.Child("thresholdPercent").Key(k), k, load.ResourceNames()))
		} else if p := a.ThresholdPercent[k]; p < 1 || p > 100 {
			errs = append(errs, field.Invalid(path.Child("thresholdPercent").Key(k), p, "not in valid range [1, 100]"))
		}
	}
	fp := path.Child("forecast")
	for _, err := range load.ValidateForecastConfig(a.forecastConfig()) {
		name, msg, _ := strings.Cut(err.Error(), ": ")
		errs = append(errs, field.Invalid(fp.Child(name), forecastValue(a, name), msg))
	}
	if m := a.Forecast.Model; m == load.ModelHoltWinters {
		if w := a.Source.History.Window; w == nil || w.Duration < 2*a.Forecast.Season.Duration {
			errs = append(errs, field.Invalid(path.Child("source", "history", "window"), historyWindow(a),
				fmt.Sprintf("holtWinters needs two seasons of history (≥ %s)", 2*a.Forecast.Season.Duration)))
		}
		if step := a.Source.History.Step.Duration; step > 0 && a.Forecast.Season.Duration%step != 0 {
			errs = append(errs, field.Invalid(fp.Child("season"), a.Forecast.Season.Duration.String(),
				fmt.Sprintf("must be a multiple of source.history.step (%s)", step)))
		}
	} else if m == load.ModelEWMA {
		if w := a.Source.History.Window; w == nil || w.Duration <= 0 {
			errs = append(errs, field.Invalid(path.Child("source", "history", "window"), historyWindow(a), "ewma needs history"))
		}
	}
	return errs
}

func historyWindow(a *Args) string {
	if a.Source.History.Window == nil {
		return "0s"
	}
	return a.Source.History.Window.Duration.String()
}

func forecastValue(a *Args, name string) any {
	switch name {
	case "model":
		return a.Forecast.Model
	case "horizon":
		return a.Forecast.Horizon.Duration.String()
	case "season":
		return a.Forecast.Season.Duration.String()
	case "alpha":
		return a.Forecast.Alpha
	case "beta":
		return a.Forecast.Beta
	case "gamma":
		return a.Forecast.Gamma
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// policy turns validated args into the scorer's configuration.
func (a *Args) policy() (load.Policy, error) {
	p := load.Policy{Mode: load.Mode(a.Mode), Target: float64(a.TargetUtilizationPercent) / 100, TTL: a.TTL.Duration,
		UseForecast: a.Forecast.Model != load.ModelNone}
	if a.RiskStdDevs != nil {
		p.RiskK = *a.RiskStdDevs
	}
	if a.EstimateWarmup != nil {
		p.Warmup = a.EstimateWarmup.Duration
	}
	for k, w := range a.Weights {
		r, ok := load.ParseResource(k)
		if !ok {
			return p, errors.New("unknown resource " + k)
		}
		p.Weights[r] = float64(w)
	}
	for k, t := range a.ThresholdPercent {
		r, ok := load.ParseResource(k)
		if !ok {
			return p, errors.New("unknown resource " + k)
		}
		p.Thresholds[r] = float64(t) / 100
	}
	return p, nil
}
