package metricsource

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/placement/load"
)

// Source publishes load snapshots. Scheduling cycles call Snapshot once
// (in PreFilter or PreScore) and read that snapshot for every node.
type Source interface {
	// Name identifies the source in logs, metrics and explain.
	Name() string
	// Snapshot returns the latest snapshot; never nil (empty before the
	// first refresh).
	Snapshot() *load.Snapshot
	// Synced reports whether the first refresh attempt has finished,
	// successfully or not: berth run waits for it so the first pods are
	// not scored by requests for want of a first query, and never waits
	// longer than one timeout.
	Synced() bool
}

// Options configure a source: its Spec, what to derive from its history,
// and the clients the metricsServer type needs.
type Options struct {
	Spec Spec
	// Forecast is fitted per node and resource from the history.
	Forecast load.ForecastConfig
	// StatsWindow is the window of the history's mean and standard
	// deviation (risk balancing); 0 means the whole history.
	StatsWindow time.Duration
	// Nodes lists nodes (metricsServer: usage is divided by allocatable).
	Nodes corelisters.NodeLister
	// REST reaches the API server (metricsServer: NodeMetrics are read
	// from /apis/metrics.k8s.io/v1beta1/nodes through it).
	REST rest.Interface
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// key identifies a source by what it fetches and derives; the clients
// and the clock are not part of it.
func (o *Options) key() string {
	b, _ := json.Marshal(struct {
		S Spec
		F load.ForecastConfig
		W time.Duration
	}{o.Spec, o.Forecast, o.StatsWindow})
	return string(b)
}

// problem is one thing that went wrong in a refresh, short of failing it.
type problem struct {
	res  load.Resource // NumResources for the source as a whole
	kind string
	msg  string
}

// fetcher is what a source type implements.
type fetcher interface {
	// current returns each node's latest samples. An error fails the
	// whole refresh (the source is unreachable, timed out or broken);
	// problems are partial failures (one query, some series).
	current(ctx context.Context, now time.Time) (map[string]*[load.NumResources]load.Sample, []problem, error)
	// history returns each node's points over the window, or ok=false
	// when the type has no range API (the runner then accumulates the
	// current samples itself).
	history(ctx context.Context, now time.Time) (h map[string]*[load.NumResources][]point, probs []problem, ok bool, err error)
}

var pool = struct {
	sync.Mutex
	m map[string]*runner
}{m: map[string]*runner{}}

// Shared returns the process's source for o, starting it on first use:
// profiles and the explain evaluator that configure the same source
// share one set of queries. The source runs until ctx ends; a later
// caller whose context is still live gets a fresh one if it stopped.
func Shared(ctx context.Context, o Options) (Source, error) {
	k := o.key()
	pool.Lock()
	defer pool.Unlock()
	if r, ok := pool.m[k]; ok && r.ctx.Err() == nil {
		return r, nil
	}
	r, err := newRunner(ctx, o)
	if err != nil {
		return nil, err
	}
	pool.m[k] = r
	go r.run()
	return r, nil
}

// New builds a source that refreshes only when Refresh is called: for
// one-shot tools and tests that step a source by hand.
func New(ctx context.Context, o Options) (*Manual, error) {
	r, err := newRunner(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Manual{r}, nil
}

// Manual is a source refreshed by its caller.
type Manual struct{ *runner }

// Refresh runs one refresh now.
func (m *Manual) Refresh() { m.refresh() }

func newRunner(ctx context.Context, o Options) (*runner, error) {
	SetDefaults(&o.Spec)
	if errs := Validate(&o.Spec, nil); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &runner{ctx: ctx, o: o, typ: o.Spec.Type, name: o.Spec.Name(), hist: map[string]*[load.NumResources][]point{},
		derived: map[string]*derived{}, logged: map[string]time.Time{}}
	var err error
	switch o.Spec.Type {
	case TypePrometheus:
		r.f, err = newPrometheus(&o.Spec)
	case TypeFile:
		r.f = newFileFetcher(o.Spec.File.Path)
	case TypeMetricsServer:
		if o.Nodes == nil || o.REST == nil {
			return nil, fmt.Errorf("metric source %s needs a node lister and an API client", o.Spec.Type)
		}
		r.f = &metricsServer{rest: o.REST, nodes: o.Nodes}
	}
	if err != nil {
		return nil, err
	}
	r.snap.Store(&load.Snapshot{Source: r.name})
	return r, nil
}

// runner refreshes one source and publishes its snapshots.
type runner struct {
	ctx  context.Context
	o    Options
	typ  string
	name string
	f    fetcher

	snap   atomic.Pointer[load.Snapshot]
	synced atomic.Bool

	// refreshing serialises refreshes (Manual callers and the loop).
	refreshing sync.Mutex
	// hist and derived are touched only under refreshing.
	hist        map[string]*[load.NumResources][]point
	derived     map[string]*derived
	lastHistory time.Time
	// logged is when each problem kind was last logged.
	logged map[string]time.Time
}

func (r *runner) Name() string             { return r.name }
func (r *runner) Snapshot() *load.Snapshot { return r.snap.Load() }
func (r *runner) Synced() bool             { return r.synced.Load() }

func (r *runner) run() {
	logger := klog.FromContext(r.ctx).WithValues("source", r.name)
	logger.Info("Starting load metric source", "interval", r.o.Spec.Interval.Duration, "timeout", r.o.Spec.Timeout.Duration)
	t := time.NewTicker(r.o.Spec.Interval.Duration)
	defer t.Stop()
	for {
		r.refresh()
		select {
		case <-r.ctx.Done():
			logger.V(2).Info("Stopped load metric source")
			return
		case <-t.C:
		}
	}
}

// logPeriod is how often one kind of problem is logged; in between it is
// only counted.
const logPeriod = 5 * time.Minute

// report counts a problem and logs it unless the same kind was logged
// less than logPeriod ago.
func (r *runner) report(now time.Time, p problem) {
	res := "all"
	if p.res < load.NumResources {
		res = p.res.String()
	}
	Errors.WithLabelValues(r.typ, res, p.kind).Inc()
	k := res + "/" + p.kind
	if last, ok := r.logged[k]; ok && now.Sub(last) < logPeriod {
		return
	}
	r.logged[k] = now
	klog.FromContext(r.ctx).Info("Load metric source problem; affected nodes are scored by requests until it clears (logged once per period)",
		"source", r.name, "resource", res, "kind", p.kind, "problem", p.msg, "period", logPeriod)
}

func (r *runner) refresh() {
	r.refreshing.Lock()
	defer r.refreshing.Unlock()
	defer r.synced.Store(true)
	now := r.o.Now()
	ctx, cancel := context.WithTimeout(r.ctx, r.o.Spec.Timeout.Duration)
	defer cancel()
	prev := r.snap.Load()
	cur, probs, err := r.f.current(ctx, now)
	if err != nil {
		kind := classify(ctx, err)
		r.report(now, problem{res: load.NumResources, kind: kind, msg: err.Error()})
		Refreshes.WithLabelValues(r.typ, "error").Inc()
		next := *prev
		next.Attempted = r.o.Now()
		next.Err = err.Error()
		r.snap.Store(&next)
		return
	}
	for _, p := range probs {
		r.report(now, p)
	}
	r.updateHistory(ctx, now, cur)
	snap := &load.Snapshot{Source: r.name, Refreshed: r.o.Now(), Nodes: make(map[string]*load.NodeLoad, len(cur))}
	snap.Attempted = snap.Refreshed
	for _, p := range probs {
		if p.res < load.NumResources && snap.Problems[p.res] == "" {
			snap.Problems[p.res] = p.msg
		}
	}
	var counts [load.NumResources]int
	for k, samples := range cur {
		nl := &load.NodeLoad{Samples: *samples}
		if d := r.derived[k]; d != nil {
			nl.Mean, nl.Std, nl.HasStats = d.mean, d.std, d.hasStats
			nl.Peak, nl.HasForecast, nl.Model = d.peak, d.hasPeak, d.model
		}
		for res := range samples {
			if samples[res].Valid() {
				counts[res]++
			}
		}
		snap.Nodes[k] = nl
	}
	for res, n := range counts {
		Nodes.WithLabelValues(r.typ, load.Resource(res).String()).Set(float64(n))
	}
	Refreshes.WithLabelValues(r.typ, "success").Inc()
	LastSuccess.WithLabelValues(r.typ).Set(float64(snap.Refreshed.UnixNano()) / 1e9)
	r.snap.Store(snap)
}

// point is one historical value.
type point struct {
	t time.Time
	v float64
}

// derived is what the history gives one node: statistics and forecasts.
type derived struct {
	mean, std, peak   [load.NumResources]float64
	hasStats, hasPeak [load.NumResources]bool
	model             [load.NumResources]string
}

func (r *runner) historyWindow() time.Duration {
	if w := r.o.Spec.History.Window; w != nil {
		return w.Duration
	}
	return 0
}

// updateHistory refreshes the per-node history — from the source's
// range API every history interval, or by appending the current samples
// — and re-derives statistics and forecasts when it changed enough.
func (r *runner) updateHistory(ctx context.Context, now time.Time, cur map[string]*[load.NumResources]load.Sample) {
	window := r.historyWindow()
	if window <= 0 {
		return
	}
	due := r.lastHistory.IsZero() || now.Sub(r.lastHistory) >= r.o.Spec.History.Interval.Duration
	h, probs, ok, err := map[string]*[load.NumResources][]point(nil), []problem(nil), false, error(nil)
	if due {
		h, probs, ok, err = r.f.history(ctx, now)
		if err != nil {
			r.report(now, problem{res: load.NumResources, kind: classify(ctx, err), msg: "history: " + err.Error()})
			return
		}
		for _, p := range probs {
			r.report(now, p)
		}
	}
	if ok {
		r.hist = h
	} else {
		for k, samples := range cur {
			ph := r.hist[k]
			if ph == nil {
				ph = &[load.NumResources][]point{}
				r.hist[k] = ph
			}
			for res, s := range samples {
				if !s.Valid() {
					continue
				}
				pts := ph[res]
				if n := len(pts); n > 0 && !s.Time.After(pts[n-1].t) {
					continue
				}
				ph[res] = append(pts, point{s.Time, s.Value})
			}
		}
	}
	if !due {
		return
	}
	r.lastHistory = now
	r.derive(now, window)
}

// derive resamples each node's history onto the step grid and fits the
// statistics and the forecast; histories that ended before the window
// are dropped (nodes that left).
func (r *runner) derive(now time.Time, window time.Duration) {
	step := r.o.Spec.History.Step.Duration
	start := now.Add(-window).Truncate(step)
	n := int(now.Sub(start)/step) + 1
	out := make(map[string]*derived, len(r.hist))
	for k, ph := range r.hist {
		d := &derived{}
		keep := false
		for res := range ph {
			pts := trim(ph[res], start)
			ph[res] = pts
			if len(pts) == 0 {
				continue
			}
			keep = true
			s := load.Series{Start: start, Step: step, Values: make([]float64, n)}
			for i := range s.Values {
				s.Values[i] = math.NaN()
			}
			for _, p := range pts {
				if i := int(p.t.Sub(start) / step); i >= 0 && i < n {
					s.Values[i] = p.v
				}
			}
			if mean, std, cnt := s.Stats(r.o.StatsWindow); cnt > 0 {
				d.mean[res], d.std[res], d.hasStats[res] = mean, std, true
			}
			if r.o.Forecast.Model != "" && r.o.Forecast.Model != load.ModelNone {
				if f, ok, err := load.FitForecast(s, r.o.Forecast); err == nil && ok {
					d.peak[res], d.hasPeak[res], d.model[res] = f.Peak, true, f.Model
				}
			}
		}
		if keep {
			out[k] = d
		} else {
			delete(r.hist, k)
		}
	}
	r.derived = out
}

// trim drops the points before start, reusing the slice.
func trim(pts []point, start time.Time) []point {
	i := 0
	for i < len(pts) && pts[i].t.Before(start) {
		i++
	}
	if i == 0 {
		return pts
	}
	return append(pts[:0], pts[i:]...)
}
