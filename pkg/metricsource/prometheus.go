package metricsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/berthsched/berth/pkg/placement/load"
)

// promQuery is one resource's query, resolved from the spec.
type promQuery struct {
	res    load.Resource
	expr   string
	label  model.LabelName
	window time.Duration
}

// prometheusFetcher asks Prometheus through the official client.
type prometheusFetcher struct {
	api     promv1.API
	queries []promQuery
	window  time.Duration
	step    time.Duration
}

func newPrometheus(s *Spec) (*prometheusFetcher, error) {
	c, err := api.NewClient(api.Config{Address: s.Prometheus.Address})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", s.Prometheus.Address, err)
	}
	p := &prometheusFetcher{api: promv1.NewAPI(c), step: s.History.Step.Duration}
	if s.History.Window != nil {
		p.window = s.History.Window.Duration
	}
	names := make([]string, 0, len(s.Prometheus.Queries))
	for k := range s.Prometheus.Queries {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		q := s.Prometheus.Queries[k]
		res, _ := load.ParseResource(k)
		if q.Expr == "" {
			continue
		}
		p.queries = append(p.queries, promQuery{res: res, expr: q.Expr, label: model.LabelName(q.NodeLabel), window: q.Window.Duration})
	}
	return p, nil
}

// current runs every resource's instant query. A server that cannot be
// reached fails the refresh; a query Prometheus rejects (a PromQL error)
// is a problem of that resource only.
func (p *prometheusFetcher) current(ctx context.Context, now time.Time) (map[string]*[load.NumResources]load.Sample, []problem, error) {
	out := map[string]*[load.NumResources]load.Sample{}
	var probs []problem
	for _, q := range p.queries {
		v, _, err := p.api.Query(ctx, q.expr, now)
		if pr, err := checked(ctx, q, "query", v, err, model.ValVector); err != nil {
			return nil, nil, err
		} else if pr != nil {
			probs = append(probs, *pr)
			continue
		}
		vec := v.(model.Vector)
		probs = append(probs, p.collect(q, len(vec), func(yield func(model.Metric, model.SampleValue, model.Time)) {
			for _, s := range vec {
				yield(s.Metric, s.Value, s.Timestamp)
			}
		}, func(key string, v float64, t model.Time) {
			e := out[key]
			if e == nil {
				e = &[load.NumResources]load.Sample{}
				out[key] = e
			}
			e[q.res] = load.Sample{Value: v, Time: t.Time(), Window: q.window}
		})...)
	}
	return out, probs, nil
}

// collect walks a result's series, keys them by the node label and checks
// their values, returning one problem per kind (with a count), not one
// per series: a broken exporter on 5,000 nodes is one log line.
func (p *prometheusFetcher) collect(q promQuery, n int, each func(func(model.Metric, model.SampleValue, model.Time)), put func(string, float64, model.Time)) []problem {
	var noLabel, bad int
	var badExample string
	each(func(m model.Metric, v model.SampleValue, t model.Time) {
		lv := string(m[q.label])
		if lv == "" {
			noLabel++
			return
		}
		if !load.Sane(float64(v)) {
			bad++
			if badExample == "" {
				badExample = fmt.Sprintf("%s=%v", lv, v)
			}
			return
		}
		put(load.NodeKey(lv), float64(v), t)
	})
	var probs []problem
	if n == 0 {
		probs = append(probs, problem{q.res, "no_series", fmt.Sprintf("query %q returned no series (no exporter for this resource, or a wrong metric name?)", q.expr)})
	}
	if noLabel > 0 {
		probs = append(probs, problem{q.res, "missing_label", fmt.Sprintf("%d of %d series of %q have no %q label", noLabel, n, q.expr, q.label)})
	}
	if bad > 0 {
		probs = append(probs, problem{q.res, "invalid_value", fmt.Sprintf("%d series of %q are NaN, infinite or negative (e.g. %s); dropped", bad, q.expr, badExample)})
	}
	return probs
}

// history runs every resource's range query over the history window.
func (p *prometheusFetcher) history(ctx context.Context, now time.Time) (map[string]*[load.NumResources][]point, []problem, bool, error) {
	out := map[string]*[load.NumResources][]point{}
	var probs []problem
	r := promv1.Range{Start: now.Add(-p.window), End: now, Step: p.step}
	for _, q := range p.queries {
		v, _, err := p.api.QueryRange(ctx, q.expr, r)
		if pr, err := checked(ctx, q, "range query", v, err, model.ValMatrix); err != nil {
			return nil, nil, true, err
		} else if pr != nil {
			probs = append(probs, *pr)
			continue
		}
		mat := v.(model.Matrix)
		for _, ss := range mat {
			probs = append(probs, p.collect(q, len(mat), func(yield func(model.Metric, model.SampleValue, model.Time)) {
				for _, pt := range ss.Values {
					yield(ss.Metric, pt.Value, pt.Timestamp)
				}
			}, func(key string, v float64, t model.Time) {
				e := out[key]
				if e == nil {
					e = &[load.NumResources][]point{}
					out[key] = e
				}
				e[q.res] = append(e[q.res], point{t.Time(), v})
			})...)
		}
	}
	return out, dedupe(probs), true, nil
}

// checked sorts out a query's outcome: a server that did not answer at
// all is an error (the refresh fails); a query it rejected, or a result of
// the wrong type, is a problem of that resource only.
func checked(ctx context.Context, q promQuery, what string, v model.Value, err error, want model.ValueType) (*problem, error) {
	if err != nil {
		if hard(ctx, err) {
			return nil, fmt.Errorf("%s for %s: %w", what, q.res, err)
		}
		return &problem{q.res, "query", fmt.Sprintf("%s %q failed: %v", what, q.expr, err)}, nil
	}
	if v == nil || v.Type() != want {
		got := "nothing"
		if v != nil {
			got = v.Type().String()
		}
		return &problem{q.res, "query", fmt.Sprintf("%s %q returned %s, not a %s", what, q.expr, got, want)}, nil
	}
	return nil, nil
}

// dedupe keeps one problem per (resource, kind).
func dedupe(probs []problem) []problem {
	seen := map[string]bool{}
	out := probs[:0]
	for _, p := range probs {
		k := fmt.Sprint(p.res, p.kind)
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// hard reports whether err means the server could not answer at all
// (unreachable, timed out, overloaded) rather than rejecting one query.
func hard(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var perr *promv1.Error
	if errors.As(err, &perr) {
		switch perr.Type {
		case promv1.ErrBadData, promv1.ErrExec:
			return false
		}
		return true
	}
	return true
}

// kindError tags an error with its kind for the errors metric, where the
// fetcher knows it better than classify can guess.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// classify names the kind of a refresh failure for the errors metric.
func classify(ctx context.Context, err error) string {
	var nerr net.Error
	var perr *promv1.Error
	var kerr *kindError
	switch {
	case errors.As(err, &kerr):
		return kerr.kind
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "timeout"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.As(err, &perr) && perr.Type == promv1.ErrTimeout:
		return "timeout"
	case errors.As(err, &perr):
		return "query"
	case strings.Contains(err.Error(), "connection refused"), errors.As(err, &nerr):
		return "unreachable"
	}
	return "query"
}
