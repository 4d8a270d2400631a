package load

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const (
	step5m = 5 * time.Minute
	day    = 24 * time.Hour
)

// t0 is midnight: the synthetic series start there, so phase 0 of the
// daily cycle is midnight.
var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// sine is the noise-free diurnal utilisation: 0.5 ± 0.3, rising through
// 0.5 at midnight, peaking at 06:00, lowest at 18:00.
func sine(t time.Duration) float64 {
	return 0.5 + 0.3*math.Sin(2*math.Pi*float64(t)/float64(day))
}

// businessHours is the noise-free utilisation of a cluster busy in
// office hours: 0.2 at night, a ramp from 08:00 to 09:00 up to 0.8, a
// plateau to 17:00, a ramp down to 0.2 by 18:00. The ramps are what an
// EWMA cannot see coming.
func businessHours(t time.Duration) float64 {
	h := math.Mod(t.Hours(), 24)
	switch {
	case h < 8 || h >= 18:
		return 0.2
	case h < 9:
		return 0.2 + 0.6*(h-8)
	case h < 17:
		return 0.8
	default:
		return 0.8 - 0.6*(h-17)
	}
}

// synth samples f every step over d, plus Gaussian noise of standard
// deviation sd from a fixed seed, so every run sees the same series.
func synth(f func(time.Duration) float64, d, step time.Duration, sd float64, seed uint64) Series {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	n := int(d / step)
	s := Series{Start: t0, Step: step, Values: make([]float64, n)}
	for i := range s.Values {
		s.Values[i] = f(time.Duration(i)*step) + sd*r.NormFloat64()
	}
	return s
}

// prefix is the first n points of s.
func prefix(s Series, n int) Series {
	return Series{Start: s.Start, Step: s.Step, Values: s.Values[:n]}
}

// truePeak is the highest value of f at the h steps after point i.
func truePeak(f func(time.Duration) float64, i, h int, step time.Duration) float64 {
	peak := math.Inf(-1)
	for k := 1; k <= h; k++ {
		peak = math.Max(peak, f(time.Duration(i+k)*step))
	}
	return peak
}

func fit(t *testing.T, s Series, cfg ForecastConfig) Forecast {
	t.Helper()
	f, ok, err := FitForecast(s, cfg)
	if err != nil || !ok {
		t.Fatalf("FitForecast(%+v) = ok %v, err %v; want a forecast", cfg, ok, err)
	}
	return f
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

var (
	ewma15m = ForecastConfig{Model: ModelEWMA, Horizon: 15 * time.Minute}
	hw15m   = ForecastConfig{Model: ModelHoltWinters, Horizon: 15 * time.Minute, Season: day}
)

func TestSeriesEndLen(t *testing.T) {
	s := Series{Start: t0, Step: time.Minute, Values: []float64{1, 2, 3}}
	if got, want := s.End(), t0.Add(2*time.Minute); !got.Equal(want) || s.Len() != 3 {
		t.Errorf("End, Len = %v, %d; want %v, 3", got, s.Len(), want)
	}
	empty := Series{Start: t0, Step: time.Minute}
	if !empty.End().Equal(t0) || empty.Len() != 0 {
		t.Errorf("empty: End, Len = %v, %d; want Start, 0", empty.End(), empty.Len())
	}
}

func TestSeriesStats(t *testing.T) {
	nan := math.NaN()
	s := Series{Start: t0, Step: time.Minute, Values: []float64{1, nan, 3, 5, nan, 7}}
	for _, tc := range []struct {
		window    time.Duration
		mean, std float64
		n         int
	}{
		{0, 4, math.Sqrt(5), 4},                     // whole series: 1 3 5 7
		{-time.Minute, 4, math.Sqrt(5), 4},          // negative: whole series
		{time.Hour, 4, math.Sqrt(5), 4},             // longer than the series
		{3 * time.Minute, 6, 1, 2},                  // last 3 points: 5 NaN 7
		{150 * time.Second, 6, 1, 2},                // 2.5 steps: the last 3 points again
		{2 * time.Minute, 7, 0, 1},                  // NaN 7
		{time.Minute, 7, 0, 1},                      // 7
		{4 * time.Minute, 5, math.Sqrt(8.0 / 3), 3}, // 3 5 NaN 7
	} {
		mean, std, n := s.Stats(tc.window)
		if !near(mean, tc.mean, 1e-12) || !near(std, tc.std, 1e-12) || n != tc.n {
			t.Errorf("Stats(%v) = %v, %v, %d; want %v, %v, %d", tc.window, mean, std, n, tc.mean, tc.std, tc.n)
		}
	}
	gap := Series{Start: t0, Step: time.Minute, Values: []float64{2, nan, nan}}
	if mean, std, n := gap.Stats(2 * time.Minute); mean != 0 || std != 0 || n != 0 {
		t.Errorf("Stats of a window of gaps = %v, %v, %d; want 0, 0, 0", mean, std, n)
	}
	if mean, std, n := (Series{}).Stats(0); mean != 0 || std != 0 || n != 0 {
		t.Errorf("Stats of an empty series = %v, %v, %d; want 0, 0, 0", mean, std, n)
	}
}

func TestEWMAConstant(t *testing.T) {
	s := Series{Start: t0, Step: step5m, Values: make([]float64, 50)}
	for i := range s.Values {
		s.Values[i] = 0.42
	}
	f := fit(t, s, ewma15m)
	if f.Model != ModelEWMA || !near(f.Peak, 0.42, 1e-12) || !near(f.Next, 0.42, 1e-12) || f.RMSE > 1e-12 {
		t.Errorf("EWMA on a constant 0.42 = %+v; want model ewma, Peak = Next = 0.42, RMSE 0", f)
	}
	if f.Alpha <= 0 || f.Alpha >= 1 || f.Beta != 0 || f.Gamma != 0 {
		t.Errorf("EWMA factors = %v, %v, %v; want a fitted alpha in (0,1), beta = gamma = 0", f.Alpha, f.Beta, f.Gamma)
	}
}

func TestEWMAStepChange(t *testing.T) {
	s := Series{Start: t0, Step: step5m}
	for range 50 {
		s.Values = append(s.Values, 0.2)
	}
	for range 3 {
		s.Values = append(s.Values, 0.8)
	}
	// A fixed factor: the level after 3 points at 0.8 is
	// 0.8 - 0.6*(1-a)^3.
	cfg := ewma15m
	cfg.Alpha = 0.3
	f := fit(t, s, cfg)
	if want := 0.8 - 0.6*math.Pow(0.7, 3); !near(f.Next, want, 1e-12) || f.Peak != f.Next || f.Alpha != 0.3 {
		t.Errorf("EWMA(0.3) after a step 0.2 -> 0.8 = %+v; want Peak = Next = %v, alpha 0.3", f, want)
	}
	// Fitted: a clean step is best followed closely.
	f = fit(t, s, ewma15m)
	if f.Next < 0.7 || f.Next > 0.8 {
		t.Errorf("fitted EWMA after a step 0.2 -> 0.8 predicts %v (alpha %v); want it in [0.7, 0.8]", f.Next, f.Alpha)
	}
}

func TestHoltWintersDiurnal(t *testing.T) {
	s := synth(sine, 3*day, step5m, 0.01, 1)
	n := s.Len()
	f := fit(t, s, hw15m)
	want := truePeak(sine, n-1, 3, step5m)
	t.Logf("HW at end of day 3: %+v; true 15m peak %.4f", f, want)
	if f.Model != ModelHoltWinters || !near(f.Peak, want, 0.03) {
		t.Errorf("Holt-Winters 15m peak = %v (model %s); want %v ± 0.03", f.Peak, f.Model, want)
	}
	if f.RMSE > 0.02 {
		t.Errorf("Holt-Winters in-sample RMSE = %v; want <= 0.02 on noise of sd 0.01", f.RMSE)
	}
}

func TestHoltWintersSeesPeakComing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      func(time.Duration) float64
		at     time.Duration // time of day of the last point
		margin float64       // how much higher HW's peak must be than EWMA's
	}{
		// The sine rises fastest at midnight: 0.5 now, 0.52 in 15m.
		{"sine", sine, 0, 0.015},
		// 07:55, 0.2 now, the ramp to 0.8 starts at 08:00.
		{"businessHours", businessHours, 7*time.Hour + 55*time.Minute, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := synth(tc.f, 4*day, step5m, 0.01, 2)
			n := int((3*day + tc.at) / step5m)
			s := prefix(full, n+1)
			hw, ewma := fit(t, s, hw15m), fit(t, s, ewma15m)
			want := truePeak(tc.f, n, 3, step5m)
			t.Logf("now %.3f, true 15m peak %.3f; Holt-Winters peak %.3f, EWMA peak %.3f",
				tc.f(time.Duration(n)*step5m), want, hw.Peak, ewma.Peak)
			if hw.Peak < ewma.Peak+tc.margin {
				t.Errorf("Holt-Winters peak %v is not above EWMA's %v by %v", hw.Peak, ewma.Peak, tc.margin)
			}
			if !near(hw.Peak, want, 0.05) {
				t.Errorf("Holt-Winters peak %v; want %v ± 0.05", hw.Peak, want)
			}
		})
	}
}

// TestForecastHeldOut measures the 15-minute peak error on a day the
// models were not fitted on: the series are 4 days; at every hour of day
// 4 both models are fitted on everything observed so far (days 1-3 and
// day 4 up to that hour) and their peak over the next 15 minutes is
// compared with the observed one. docs/load-forecast.md quotes the
// numbers it logs.
func TestForecastHeldOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(time.Duration) float64
	}{
		{"sine", sine},
		{"businessHours", businessHours},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full := synth(tc.f, 4*day, step5m, 0.02, 3)
			perHour := int(time.Hour / step5m)
			var maeHW, maeEWMA float64
			origins := 0
			for i := 3 * 24 * perHour; i+3 < full.Len(); i += perHour {
				s := prefix(full, i+1)
				observed := math.Max(full.Values[i+1], math.Max(full.Values[i+2], full.Values[i+3]))
				maeHW += math.Abs(fit(t, s, hw15m).Peak - observed)
				maeEWMA += math.Abs(fit(t, s, ewma15m).Peak - observed)
				origins++
			}
			maeHW /= float64(origins)
			maeEWMA /= float64(origins)
			t.Logf("%s: 15m peak MAE over %d hourly origins of day 4: EWMA %.4f, Holt-Winters %.4f",
				tc.name, origins, maeEWMA, maeHW)
			if maeHW >= maeEWMA {
				t.Errorf("Holt-Winters peak MAE %v is not below EWMA's %v", maeHW, maeEWMA)
			}
		})
	}
}

func TestHoltWintersFallsBackToEWMA(t *testing.T) {
	s := synth(sine, 36*time.Hour, step5m, 0.01, 4)
	f, ok, err := FitForecast(s, hw15m)
	if err != nil || !ok || f.Model != ModelEWMA || f.Beta != 0 || f.Gamma != 0 {
		t.Errorf("Holt-Winters on 1.5 seasons = %+v, ok %v, err %v; want an EWMA forecast", f, ok, err)
	}
	// Two seasons counted from the first observation: leading gaps do
	// not count.
	s = synth(sine, 2*day, step5m, 0.01, 4)
	s.Values[0] = math.NaN()
	if f := fit(t, s, hw15m); f.Model != ModelEWMA {
		t.Errorf("Holt-Winters on 2 seasons less a leading gap used %s; want %s", f.Model, ModelEWMA)
	}
	s.Values = append(s.Values, 0.5)
	if f := fit(t, s, hw15m); f.Model != ModelHoltWinters {
		t.Errorf("Holt-Winters on 2 seasons after a leading gap used %s; want %s", f.Model, ModelHoltWinters)
	}
}

func TestForecastTooFewPoints(t *testing.T) {
	nan := math.NaN()
	for _, vals := range [][]float64{nil, {0.3}, {nan, nan}, {nan, 0.3, nan}} {
		for _, cfg := range []ForecastConfig{{}, ewma15m, hw15m} {
			s := Series{Start: t0, Step: step5m, Values: vals}
			if f, ok, err := FitForecast(s, cfg); ok || err != nil {
				t.Errorf("FitForecast(%v, %s) = %+v, ok %v, err %v; want ok false, no error", vals, cfg.Model, f, ok, err)
			}
		}
	}
}

func TestForecastNone(t *testing.T) {
	s := Series{Start: t0, Step: step5m, Values: []float64{0.1, 0.4, math.NaN()}}
	for _, model := range []string{"", ModelNone} {
		f := fit(t, s, ForecastConfig{Model: model, Horizon: time.Hour})
		if f.Model != ModelNone || f.Peak != 0.4 || f.Next != 0.4 || !near(f.RMSE, 0.3/math.Sqrt2, 1e-12) {
			t.Errorf("model %q = %+v; want none, Peak = Next = 0.4 (the last value), RMSE 0.3/√2", model, f)
		}
	}
}

func TestForecastGaps(t *testing.T) {
	s := synth(sine, 3*day, step5m, 0.01, 5)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range s.Values {
		if i < 10 || r.IntN(10) == 0 {
			s.Values[i] = math.NaN()
		}
	}
	s.Values[len(s.Values)-1] = math.NaN() // the last scrape missed
	want := truePeak(sine, s.Len()-1, 3, step5m)
	for _, cfg := range []ForecastConfig{ewma15m, hw15m} {
		f := fit(t, s, cfg)
		if f.Model != cfg.Model || math.IsNaN(f.Peak) || math.IsNaN(f.Next) || math.IsNaN(f.RMSE) {
			t.Errorf("%s on a series with 10%% gaps = %+v; want a finite forecast", cfg.Model, f)
		}
		if cfg.Model == ModelHoltWinters && !near(f.Peak, want, 0.05) {
			t.Errorf("Holt-Winters peak with gaps %v; want %v ± 0.05", f.Peak, want)
		}
	}
	// Inf is a gap too.
	s = Series{Start: t0, Step: step5m, Values: []float64{0.3, math.Inf(1), 0.3}}
	if f := fit(t, s, ewma15m); f.Peak != 0.3 {
		t.Errorf("EWMA over 0.3, +Inf, 0.3 = %v; want 0.3", f.Peak)
	}
}

func TestHoltWintersClampsPredictions(t *testing.T) {
	// Two days falling from 0.5 to 0 with a small daily wave: the trend
	// points below zero, and a 12h horizon would follow it far.
	s := synth(func(t time.Duration) float64 {
		return 0.5*(1-t.Hours()/48) + 0.02*math.Sin(2*math.Pi*t.Hours()/24)
	}, 2*day, step5m, 0, 0)
	cfg := hw15m
	cfg.Horizon = 12 * time.Hour
	f := fit(t, s, cfg)
	if f.Model != ModelHoltWinters || f.Peak < 0 || f.Next < 0 {
		t.Errorf("Holt-Winters on a series falling to 0 = %+v; want predictions >= 0", f)
	}
	// Rising: the trend contribution over a week is capped at the last
	// season's range, so the peak stays within twice the last value.
	for i := range s.Values {
		s.Values[i] = 0.5 - s.Values[i]
	}
	cfg.Horizon = 7 * day
	f = fit(t, s, cfg)
	last := s.Values[s.Len()-1]
	if f.Peak <= last || f.Peak > 2*last+0.1 {
		t.Errorf("Holt-Winters peak over a week of a rising series = %v (last value %v); want above it and capped", f.Peak, last)
	}
}

func TestForecastConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  ForecastConfig
		want []string // the field each error names, in order
	}{
		{ewma15m, nil},
		{hw15m, nil},
		{ForecastConfig{}, nil},
		{ForecastConfig{Model: ModelHoltWinters, Season: day, Alpha: 0.5, Beta: 0.1, Gamma: 0.9}, nil},
		{ForecastConfig{Model: "arima"}, []string{"model"}},
		{ForecastConfig{Model: "HoltWinters", Season: day}, []string{"model"}},
		{ForecastConfig{Model: ModelEWMA, Horizon: -time.Minute}, []string{"horizon"}},
		{ForecastConfig{Model: ModelHoltWinters}, []string{"season"}},
		{ForecastConfig{Model: ModelHoltWinters, Season: -day}, []string{"season"}},
		{ForecastConfig{Model: ModelEWMA, Alpha: 1}, []string{"alpha"}},
		{ForecastConfig{Model: ModelEWMA, Alpha: -0.1}, []string{"alpha"}},
		{ForecastConfig{Model: ModelHoltWinters, Season: day, Beta: 1.5}, []string{"beta"}},
		{ForecastConfig{Model: ModelHoltWinters, Season: day, Gamma: math.NaN()}, []string{"gamma"}},
		{ForecastConfig{Model: "x", Horizon: -1, Alpha: 2, Beta: 2, Gamma: 2}, []string{"model", "horizon", "alpha", "beta", "gamma"}},
	} {
		errs := ValidateForecastConfig(tc.cfg)
		if len(errs) != len(tc.want) {
			t.Errorf("ValidateForecastConfig(%+v) = %v; want errors about %v", tc.cfg, errs, tc.want)
			continue
		}
		for i, err := range errs {
			if !strings.HasPrefix(err.Error(), tc.want[i]+": ") {
				t.Errorf("ValidateForecastConfig(%+v) error %d = %q; want it to start with %q", tc.cfg, i, err, tc.want[i]+": ")
			}
		}
		s := synth(sine, 2*day, step5m, 0, 0)
		_, ok, err := FitForecast(s, tc.cfg)
		if (err != nil) != (tc.want != nil) || (err != nil && ok) {
			t.Errorf("FitForecast(%+v) = ok %v, err %v; want an error iff the config is invalid", tc.cfg, ok, err)
		}
	}
	// The season must be a whole number of steps of the series.
	s := synth(sine, 2*day, step5m, 0, 0)
	for _, tc := range []struct {
		season, step time.Duration
	}{{7 * time.Minute, step5m}, {day, 7 * time.Minute}, {day, 0}} {
		s.Step = tc.step
		cfg := hw15m
		cfg.Season = tc.season
		if _, ok, err := FitForecast(s, cfg); err == nil || ok || !strings.HasPrefix(err.Error(), "season: ") {
			t.Errorf("Holt-Winters with season %v on a %v step = ok %v, err %v; want a season error", tc.season, tc.step, ok, err)
		}
	}
}

// benchSeries is 2 days at a 5-minute step, 576 points: the least
// Holt-Winters fits with a daily season.
var benchSeries = synth(sine, 2*day, step5m, 0.02, 9)

func BenchmarkFitHoltWinters(b *testing.B) {
	for b.Loop() {
		if f, ok, err := FitForecast(benchSeries, hw15m); !ok || err != nil || f.Model != ModelHoltWinters {
			b.Fatalf("FitForecast = %+v, %v, %v", f, ok, err)
		}
	}
}

func BenchmarkFitEWMA(b *testing.B) {
	for b.Loop() {
		if _, ok, err := FitForecast(benchSeries, ewma15m); !ok || err != nil {
			b.Fatalf("FitForecast = %v, %v", ok, err)
		}
	}
}
