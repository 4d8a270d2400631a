package load

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Model names accepted in config, the values of ForecastConfig.Model and
// Forecast.Model.
const (
	// ModelNone does not forecast: the prediction is the last observed
	// value (persistence), so operators can turn forecasting off without
	// changing how load is read.
	ModelNone = "none"
	// ModelEWMA is an exponentially weighted moving average: a flat
	// forecast at a smoothed level, robust on any series, blind to a
	// coming daily peak.
	ModelEWMA = "ewma"
	// ModelHoltWinters is additive Holt-Winters (level, trend, seasonal
	// profile), which sees a recurring peak coming before it arrives.
	ModelHoltWinters = "holtWinters"
)

// ForecastConfig configures FitForecast; it is the forecasting part of
// the plugin args, validated by ValidateForecastConfig.
type ForecastConfig struct {
	// Model is ModelNone, ModelEWMA or ModelHoltWinters; "" is taken as
	// ModelNone, so the zero config means no forecasting.
	Model string
	// Horizon is how far ahead to look (e.g. 15m): the forecast is the
	// peak over (End, End+Horizon], at least one step.
	Horizon time.Duration
	// Season is the Holt-Winters season length, e.g. 24h for a daily
	// cycle; it must be a positive multiple of the series' Step.
	Season time.Duration
	// Alpha (level), Beta (trend) and Gamma (season) are the smoothing
	// factors in (0,1); 0 means "fit": FitForecast chooses the factor by
	// a small grid search minimising the one-step-ahead squared error on
	// the series itself. EWMA uses only Alpha.
	Alpha, Beta, Gamma float64
}

// Forecast is a fitted model's prediction for one series, what a scorer
// weighs instead of the current utilisation.
type Forecast struct {
	// Model is the model actually used: ModelEWMA when Holt-Winters was
	// asked for but the series lacked two full seasons (Holt-Winters
	// degrades, it never fails).
	Model string
	// Peak is the highest predicted value over the horizon, never
	// negative.
	Peak float64
	// Next is the one-step-ahead prediction, never negative.
	Next float64
	// RMSE is the in-sample one-step-ahead root-mean-square error of the
	// fitted model, what the grid search minimised: a measure of how
	// much to trust Peak.
	RMSE float64
	// Alpha, Beta and Gamma are the factors used (fitted or configured);
	// those a model does not use are 0.
	Alpha, Beta, Gamma float64
}

// ewmaGrid are the EWMA smoothing factors tried when Alpha is 0.
var ewmaGrid = [...]float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
	0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95}

// hwGrid are the Holt-Winters factors tried, per factor left at 0: at
// most 6³ = 216 combinations.
var hwGrid = [...]float64{0.05, 0.1, 0.2, 0.4, 0.6, 0.8}

// ValidateForecastConfig returns the problems of cfg, nil when it is
// valid, so that plugin args validation can reject a bad configuration at
// start-up rather than FitForecast failing on every node. Each error
// starts with the name of the field it is about ("model", "horizon",
// "season", "alpha", "beta", "gamma") followed by ": ". Whether Season is
// a multiple of the sampling step depends on the series and is checked
// by FitForecast.
func ValidateForecastConfig(cfg ForecastConfig) []error {
	var errs []error
	switch cfg.Model {
	case "", ModelNone, ModelEWMA, ModelHoltWinters:
	default:
		errs = append(errs, fmt.Errorf("model: %q is not one of %q, %q, %q",
			cfg.Model, ModelNone, ModelEWMA, ModelHoltWinters))
	}
	if cfg.Horizon < 0 {
		errs = append(errs, fmt.Errorf("horizon: %v is negative", cfg.Horizon))
	}
	if cfg.Model == ModelHoltWinters && cfg.Season <= 0 {
		errs = append(errs, fmt.Errorf("season: %v is not positive; %s needs the season length (e.g. 24h)",
			cfg.Season, ModelHoltWinters))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"alpha", cfg.Alpha}, {"beta", cfg.Beta}, {"gamma", cfg.Gamma}} {
		if !(f.v >= 0 && f.v < 1) {
			errs = append(errs, fmt.Errorf("%s: %v is outside [0,1) (0 means fit)", f.name, f.v))
		}
	}
	return errs
}

// FitForecast fits cfg.Model to s and predicts the peak over the horizon.
//
// It returns an error only for an invalid config: what
// ValidateForecastConfig rejects, and for Holt-Winters a Season that is
// not a positive multiple of s.Step. A series with fewer than 2 non-NaN
// points returns ok=false and no error: the caller uses the current
// value. Gaps are filled by carrying the previous value forward, leading
// gaps dropped, before fitting. Holt-Winters on fewer than two full
// seasons (counted from the first non-NaN point) falls back to EWMA, with
// Forecast.Model saying so.
func FitForecast(s Series, cfg ForecastConfig) (f Forecast, ok bool, err error) {
	if errs := ValidateForecastConfig(cfg); len(errs) > 0 {
		return Forecast{}, false, errors.Join(errs...)
	}
	var m int
	if cfg.Model == ModelHoltWinters {
		if s.Step <= 0 || cfg.Season%s.Step != 0 {
			return Forecast{}, false, fmt.Errorf("season: %v is not a positive multiple of the series step %v",
				cfg.Season, s.Step)
		}
		m = int(cfg.Season / s.Step)
	}
	xs, observed := s.filled()
	if observed < 2 {
		return Forecast{}, false, nil
	}
	switch cfg.Model {
	case ModelEWMA:
		return fitEWMA(xs, cfg.Alpha), true, nil
	case ModelHoltWinters:
		if len(xs) >= 2*m {
			if f, ok := fitHoltWinters(xs, m, horizonSteps(cfg.Horizon, s.Step), cfg); ok {
				return f, true, nil
			}
		}
		return fitEWMA(xs, cfg.Alpha), true, nil
	default: // ModelNone, ""
		return fitPersistence(xs), true, nil
	}
}

// horizonSteps is the number of points in (End, End+horizon]: at least 1.
func horizonSteps(horizon, step time.Duration) int {
	if step <= 0 || horizon <= step {
		return 1
	}
	h := int(horizon / step)
	if horizon%step != 0 {
		h++
	}
	return h
}

// fitPersistence is ModelNone: the last value, with the RMSE of predicting
// each point by its predecessor.
func fitPersistence(xs []float64) Forecast {
	var sse float64
	for i := 1; i < len(xs); i++ {
		d := xs[i] - xs[i-1]
		sse += d * d
	}
	last := math.Max(xs[len(xs)-1], 0)
	return Forecast{Model: ModelNone, Peak: last, Next: last, RMSE: math.Sqrt(sse / float64(len(xs)-1))}
}

// fitEWMA fits an EWMA to xs (len >= 2), with factor alpha or, when alpha
// is 0, the grid factor of least one-step squared error.
//
// The level starts at xs[0]; for each later point the prediction is the
// previous level and l_t = a*x_t + (1-a)*l_{t-1}. The forecast is flat.
func fitEWMA(xs []float64, alpha float64) Forecast {
	best, bestSSE := alpha, math.Inf(1)
	if alpha == 0 {
		for _, a := range ewmaGrid {
			if sse, _ := ewmaRun(xs, a, bestSSE); sse < bestSSE {
				best, bestSSE = a, sse
			}
		}
	}
	sse, level := ewmaRun(xs, best, math.Inf(1))
	level = math.Max(level, 0)
	return Forecast{
		Model: ModelEWMA,
		Peak:  level,
		Next:  level,
		RMSE:  math.Sqrt(sse / float64(len(xs)-1)),
		Alpha: best,
	}
}

// ewmaRun runs the EWMA with factor a over xs and returns the one-step
// squared error and the final level. It stops early, returning an SSE
// not below limit, once the SSE reaches limit: the grid search needs no
// more than that.
func ewmaRun(xs []float64, a, limit float64) (sse, level float64) {
	level = xs[0]
	for _, x := range xs[1:] {
		e := x - level
		sse += e * e
		if !(sse < limit) {
			return sse, level
		}
		level += a * e // = a*x + (1-a)*level
	}
	return sse, level
}

// hwState is the initial state of Holt-Winters, as at the end of the
// first season.
type hwState struct {
	level, trend float64
	season       []float64 // additive index per phase, phase 0 = xs[0]
}

// hwInit derives the initial state from the first two seasons of xs
// (len >= 2m): the trend is the change between the two seasons' means per
// step, the level is the first season's mean carried to its last point,
// and the seasonal index of each phase is the average, over both
// seasons, of the value's deviation from its season's trend line,
// normalised to sum to zero.
func hwInit(xs []float64, m int) hwState {
	mean1, mean2 := meanOf(xs[:m]), meanOf(xs[m:2*m])
	trend := (mean2 - mean1) / float64(m)
	mid := float64(m-1) / 2
	season := make([]float64, m)
	var sum float64
	for i := range season {
		off := trend * (float64(i) - mid)
		season[i] = ((xs[i] - mean1 - off) + (xs[m+i] - mean2 - off)) / 2
		sum += season[i]
	}
	for i := range season {
		season[i] -= sum / float64(m)
	}
	return hwState{level: mean1 + trend*mid, trend: trend, season: season}
}

// hwRun runs additive Holt-Winters over xs[m:] from init (its season is
// copied into s, which it leaves holding the final seasonal indices) and
// returns the one-step squared error and the final level and trend. Per
// point x_t of phase p, with level l, trend r, seasonal index s_p and
// one-step error e = x_t - (l + r + s_p), in error-correction form:
//
//	l' = a*(x_t - s_p) + (1-a)*(l + r)   = l + r + a*e
//	r' = b*(l' - l) + (1-b)*r            = r + a*b*e
//	s_p' = g*(x_t - l') + (1-g)*s_p      = s_p + g*(1-a)*e
//
// Like ewmaRun it stops early once the SSE reaches limit.
func hwRun(xs []float64, m int, init hwState, a, b, g float64, s []float64, limit float64) (sse, level, trend float64) {
	copy(s, init.season)
	level, trend = init.level, init.trend
	ab, ga := a*b, g*(1-a)
	p := 0
	for _, x := range xs[m:] {
		e := x - (level + trend + s[p])
		sse += e * e
		if !(sse < limit) {
			return sse, level, trend
		}
		level += trend + a*e
		trend += ab * e
		s[p] += ga * e
		if p++; p == m {
			p = 0
		}
	}
	return sse, level, trend
}

// fitHoltWinters fits additive Holt-Winters with season m to xs
// (len >= 2m) and predicts h steps. Factors left at 0 in cfg are chosen
// from hwGrid by least one-step squared error. ok is false when no fit
// has a finite error (only possible with configured, unstable factors).
//
// The prediction k steps ahead is l + clamp(k*r) + s_p, p the phase of
// that point, where the trend contribution k*r is clamped in magnitude to
// the range (max - min) of the last season: a trend fitted on a few
// noisy points cannot push a long horizon's forecast past anything the
// series has shown. Predictions below 0 are clamped to 0.
func fitHoltWinters(xs []float64, m, h int, cfg ForecastConfig) (Forecast, bool) {
	init := hwInit(xs, m)
	s := make([]float64, m)
	grid := func(v float64) []float64 {
		if v != 0 {
			return []float64{v}
		}
		return hwGrid[:]
	}
	ba, bb, bg, bestSSE := cfg.Alpha, cfg.Beta, cfg.Gamma, math.Inf(1)
	for _, a := range grid(cfg.Alpha) {
		for _, b := range grid(cfg.Beta) {
			for _, g := range grid(cfg.Gamma) {
				if sse, _, _ := hwRun(xs, m, init, a, b, g, s, bestSSE); sse < bestSSE {
					ba, bb, bg, bestSSE = a, b, g, sse
				}
			}
		}
	}
	if math.IsInf(bestSSE, 0) || math.IsNaN(bestSSE) {
		return Forecast{}, false
	}
	sse, level, trend := hwRun(xs, m, init, ba, bb, bg, s, math.Inf(1))

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs[len(xs)-m:] {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	span := hi - lo
	n := len(xs)
	predict := func(k int) float64 {
		t := math.Max(-span, math.Min(span, float64(k)*trend))
		return math.Max(level+t+s[(n-1+k)%m], 0)
	}
	// The clamped trend contribution is monotone in k, so for each phase
	// the highest prediction is at its first occurrence (falling trend)
	// or its last (rising trend): the first and last m steps of the
	// horizon are enough, whatever its length.
	peak := math.Inf(-1)
	first := min(h, m)
	for k := 1; k <= first; k++ {
		peak = math.Max(peak, predict(k))
	}
	for k := max(first+1, h-m+1); k <= h; k++ {
		peak = math.Max(peak, predict(k))
	}
	return Forecast{
		Model: ModelHoltWinters,
		Peak:  peak,
		Next:  predict(1),
		RMSE:  math.Sqrt(sse / float64(n-m)),
		Alpha: ba,
		Beta:  bb,
		Gamma: bg,
	}, true
}

// meanOf is the arithmetic mean of xs (len > 0).
func meanOf(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
