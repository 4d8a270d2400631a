package loadsim

import (
	"math"
	"time"

	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
)

// nodeDerived is what one node's history gives at the last refit.
type nodeDerived struct {
	mean, std, peak   float64
	hasStats, hasPeak bool
	model             string
}

// source plays the metric source for one policy's run: every
// SampleInterval it publishes each node's utilisation over the past
// minute through a metricsource.Static, and every history interval it
// re-derives the statistics and forecasts from each node's history, as
// metricsource's runner does from Prometheus' range queries (points at
// now-window, …, now, every step; statistics over the whole window;
// load.FitForecast per node).
type source struct {
	static *metricsource.Static
	cfg    sourceConfig
	start  time.Time
	names  []string
	// samples[n][k] is node n's utilisation published at minute k
	// (k ≥ 1; samples[n][0] is NaN: nothing was measured before the start).
	samples [][]float64
	derived []nodeDerived
	// lastDerive is the minute of the last refit, -1 before the first.
	lastDerive int
	// refits counts the refits, models counts the forecasts by model.
	refits int
	models map[string]int
}

func newSource(static *metricsource.Static, cfg sourceConfig, start time.Time, names []string) *source {
	s := &source{static: static, cfg: cfg, start: start, names: names, samples: make([][]float64, len(names)),
		derived: make([]nodeDerived, len(names)), lastDerive: -1, models: map[string]int{}}
	for i := range s.samples {
		s.samples[i] = []float64{math.NaN()}
	}
	return s
}

// publish records the utilisation measured at minute m (utils[n] is
// node n's average over minute m-1), refits the history when due, and
// publishes the snapshot the plugin reads until the next minute.
func (s *source) publish(m int, utils []float64) error {
	t := s.start.Add(time.Duration(m) * time.Minute)
	for n, u := range utils {
		s.samples[n] = append(s.samples[n], u)
	}
	if s.cfg.window > 0 && (s.lastDerive < 0 || time.Duration(m-s.lastDerive)*time.Minute >= s.cfg.interval) {
		if err := s.derive(m); err != nil {
			return err
		}
		s.lastDerive = m
	}
	snap := &load.Snapshot{Refreshed: t, Attempted: t, Nodes: make(map[string]*load.NodeLoad, len(s.names))}
	for n, name := range s.names {
		nl := &load.NodeLoad{}
		nl.Samples[load.CPU] = load.Sample{Value: utils[n], Time: t, Window: SampleInterval}
		d := &s.derived[n]
		nl.Mean[load.CPU], nl.Std[load.CPU], nl.HasStats[load.CPU] = d.mean, d.std, d.hasStats
		nl.Peak[load.CPU], nl.HasForecast[load.CPU], nl.Model[load.CPU] = d.peak, d.hasPeak, d.model
		snap.Nodes[name] = nl
	}
	s.static.Set(snap)
	return nil
}

// derive refits every node at minute m: the series holds the samples
// at the step grid from (m - window) truncated to the step up to m, NaN
// where nothing was measured yet.
func (s *source) derive(m int) error {
	step := int(s.cfg.step / time.Minute)
	from := floorDiv(m-int(s.cfg.window/time.Minute), step) * step
	n := (m-from)/step + 1
	s.refits++
	for node, hist := range s.samples {
		series := load.Series{Start: s.start.Add(time.Duration(from) * time.Minute), Step: s.cfg.step, Values: make([]float64, n)}
		for i := range series.Values {
			k := from + i*step
			if k >= 0 && k < len(hist) {
				series.Values[i] = hist[k]
			} else {
				series.Values[i] = math.NaN()
			}
		}
		d := nodeDerived{}
		if s.cfg.stats {
			if mean, std, cnt := series.Stats(0); cnt > 0 {
				d.mean, d.std, d.hasStats = mean, std, true
			}
		}
		if s.cfg.forecast != nil {
			f, ok, err := load.FitForecast(series, *s.cfg.forecast)
			if err != nil {
				return err
			}
			if ok {
				d.peak, d.hasPeak, d.model = f.Peak, true, f.Model
				s.models[f.Model]++
			}
		}
		s.derived[node] = d
	}
	return nil
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
