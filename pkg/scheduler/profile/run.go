package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/pkg/framework"
)

// Extension point names for metrics and logs.
const (
	epPreFilter  = "PreFilter"
	epFilter     = "Filter"
	epPostFilter = "PostFilter"
	epPreScore   = "PreScore"
	epScore      = "Score"
	epNormalize  = "NormalizeScore"
	epReserve    = "Reserve"
	epUnreserve  = "Unreserve"
	epPermit     = "Permit"
	epPreBind    = "PreBind"
	epBind       = "Bind"
	epPostBind   = "PostBind"
	epAddPod     = "PreFilterExtensionAddPod"
	epRemovePod  = "PreFilterExtensionRemovePod"
)

func (p *Profile) observe(point string, start time.Time, st *framework.Status) {
	if p.metrics == nil {
		return
	}
	p.metrics.ExtensionPointDuration.WithLabelValues(point, st.Code().String(), p.name).Observe(time.Since(start).Seconds())
}

func (p *Profile) observePlugin(state *framework.CycleState, plugin, point string, start time.Time, st *framework.Status) {
	if p.metrics == nil || state == nil || !state.RecordPluginMetrics {
		return
	}
	p.pluginObserver(plugin, point, st.Code()).Observe(time.Since(start).Seconds())
}

// observerKey identifies one series of berth_plugin_execution_duration_seconds.
type observerKey struct {
	plugin, point string
	code          framework.Code
}

// pluginObserver returns the histogram series for the labels, resolved once:
// in a sampled cycle it is needed for every plugin on every node, and
// resolving labels each time cost ~15% of the cycle in the profile.
func (p *Profile) pluginObserver(plugin, point string, code framework.Code) prometheus.Observer {
	k := observerKey{plugin, point, code}
	if o, ok := p.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o := p.metrics.PluginExecutionDuration.WithLabelValues(plugin, point, code.String())
	p.observers.Store(k, o)
	return o
}

// RunPreFilterPlugins runs every PreFilter plugin. It returns the merged
// node restriction, the set of plugins that rejected the pod, and a
// non-success status when the pod cannot be scheduled at all (the first
// rejection or error). Plugins returning Skip are recorded in
// state.SkipFilterPlugins so their Filter is not run.
func (p *Profile) RunPreFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (res *framework.PreFilterResult, rejectors sets.Set[string], status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epPreFilter, start, status) }()
	skip := map[string]struct{}{}
	for _, pl := range p.preFilter {
		r, st := p.runPreFilter(ctx, pl, state, pod, nodes)
		if st.IsSkip() {
			skip[pl.Name()] = struct{}{}
			continue
		}
		if !st.IsSuccess() {
			st.WithPlugin(pl.Name())
			if st.IsRejected() {
				return nil, sets.New(pl.Name()), st
			}
			return nil, nil, framework.NewStatus(framework.Error, fmt.Sprintf("running PreFilter plugin %q: %s", pl.Name(), st.Message())).WithPlugin(pl.Name()).WithError(st.AsError())
		}
		if !r.AllNodes() {
			res = res.Merge(r)
			if len(res.NodeNames) == 0 {
				msg := "node(s) didn't satisfy plugin(s) [" + pl.Name() + "] simultaneously"
				return res, sets.New(pl.Name()), framework.NewStatus(framework.UnschedulableAndUnresolvable, msg).WithPlugin(pl.Name())
			}
		}
	}
	state.SkipFilterPlugins = skip
	return res, nil, nil
}

func (p *Profile) runPreFilter(ctx context.Context, pl framework.PreFilterPlugin, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (res *framework.PreFilterResult, st *framework.Status) {
	defer p.recoverPanic(ctx, pl.Name(), epPreFilter, &st)
	start := time.Now()
	res, st = pl.PreFilter(ctx, state, pod, nodes)
	p.observePlugin(state, pl.Name(), epPreFilter, start, st)
	return res, st
}

// RunFilterPlugins runs the Filter plugins for one node and returns the
// first non-success status, stamped with its plugin. It is called
// concurrently for different nodes.
func (p *Profile) RunFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	return p.runFilters(ctx, p.filter, len(state.SkipFilterPlugins) > 0, state, pod, nodeInfo)
}

// FilterRunner returns RunFilterPlugins for one pod and cycle with the
// plugins that PreFilter skipped already left out, so that the per-node
// call does no map lookups. Call it after RunPreFilterPlugins; the result
// is safe for concurrent use across nodes.
func (p *Profile) FilterRunner(state *framework.CycleState) func(ctx context.Context, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	active := p.filter
	if len(state.SkipFilterPlugins) > 0 {
		active = make([]framework.FilterPlugin, 0, len(p.filter))
		for _, pl := range p.filter {
			if _, skip := state.SkipFilterPlugins[pl.Name()]; !skip {
				active = append(active, pl)
			}
		}
	}
	return func(ctx context.Context, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
		return p.runFilters(ctx, active, false, state, pod, nodeInfo)
	}
}

// PluginStatus is one Filter plugin's verdict on a node; a nil Status
// passed.
type PluginStatus struct {
	Plugin string            `json:"plugin"`
	Status *framework.Status `json:"-"`
}

// RunAllFilterPlugins runs every Filter plugin that PreFilter did not skip
// on one node, not stopping at the first rejection: the full trace explain
// shows for a node. The scheduling cycle never calls it.
func (p *Profile) RunAllFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) []PluginStatus {
	out := make([]PluginStatus, 0, len(p.filter))
	for _, pl := range p.filter {
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		st := p.runFilter(ctx, pl, state, pod, nodeInfo)
		if !st.IsSuccess() {
			st.WithPlugin(pl.Name())
		}
		out = append(out, PluginStatus{Plugin: pl.Name(), Status: st})
	}
	return out
}

// FiltersNodeLocal reports whether every Filter plugin that runs for this
// pod (after PreFilter's skips) is node-local, i.e. whether a node's
// verdict may be reused for a pod with the same signature until the node
// changes.
func (p *Profile) FiltersNodeLocal(state *framework.CycleState) bool {
	for _, pl := range p.filter {
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		if !p.nodeLocal[pl.Name()] {
			return false
		}
	}
	return true
}

// runFilters runs plugins in order, skipping those in
// state.SkipFilterPlugins when checkSkip is set.
func (p *Profile) runFilters(ctx context.Context, plugins []framework.FilterPlugin, checkSkip bool, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	for _, pl := range plugins {
		if checkSkip {
			if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
				continue
			}
		}
		if st := p.runFilter(ctx, pl, state, pod, nodeInfo); !st.IsSuccess() {
			if !st.IsRejected() {
				return framework.NewStatus(framework.Error, fmt.Sprintf("running %q filter plugin: %s", pl.Name(), st.Message())).WithPlugin(pl.Name()).WithError(st.AsError())
			}
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

func (p *Profile) runFilter(ctx context.Context, pl framework.FilterPlugin, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (st *framework.Status) {
	defer p.recoverPanic(ctx, pl.Name(), epFilter, &st)
	if !state.RecordPluginMetrics {
		return pl.Filter(ctx, state, pod, ni)
	}
	start := time.Now()
	st = pl.Filter(ctx, state, pod, ni)
	p.observePlugin(state, pl.Name(), epFilter, start, st)
	return st
}

// RunPostFilterPlugins runs PostFilter plugins until one succeeds (e.g.
// preemption nominated a node). It returns the last rejection otherwise.
func (p *Profile) RunPostFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatusReader) (res *framework.PostFilterResult, status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epPostFilter, start, status) }()
	var last *framework.Status
	for _, pl := range p.postFilter {
		r, st := p.runPostFilter(ctx, pl, state, pod, statuses)
		if st.IsSuccess() {
			return r, st
		}
		if !st.IsRejected() {
			return nil, st.WithPlugin(pl.Name())
		}
		last = st.WithPlugin(pl.Name())
		if r != nil {
			res = r
		}
	}
	return res, last
}

func (p *Profile) runPostFilter(ctx context.Context, pl framework.PostFilterPlugin, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatusReader) (res *framework.PostFilterResult, st *framework.Status) {
	defer p.recoverPanic(ctx, pl.Name(), epPostFilter, &st)
	return pl.PostFilter(ctx, state, pod, statuses)
}

// RunPreFilterExtensionAddPod tells every PreFilter plugin with extensions
// that podToAdd is (hypothetically) on nodeInfo.
func (p *Profile) RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) (st *framework.Status) {
	for _, pl := range p.preFilter {
		ext := pl.PreFilterExtensions()
		if ext == nil {
			continue
		}
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		if s := p.runExt(ctx, pl.Name(), epAddPod, func() *framework.Status { return ext.AddPod(ctx, state, pod, podToAdd, nodeInfo) }); !s.IsSuccess() {
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod is the removal counterpart.
func (p *Profile) RunPreFilterExtensionRemovePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToRemove *framework.PodInfo, nodeInfo *framework.NodeInfo) (st *framework.Status) {
	for _, pl := range p.preFilter {
		ext := pl.PreFilterExtensions()
		if ext == nil {
			continue
		}
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		if s := p.runExt(ctx, pl.Name(), epRemovePod, func() *framework.Status { return ext.RemovePod(ctx, state, pod, podToRemove, nodeInfo) }); !s.IsSuccess() {
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

func (p *Profile) runExt(ctx context.Context, name, point string, fn func() *framework.Status) (st *framework.Status) {
	defer p.recoverPanic(ctx, name, point, &st)
	return fn()
}

// RunPreScorePlugins runs PreScore over the feasible nodes; Skip marks the
// plugin's Score as skipped for this pod.
func (p *Profile) RunPreScorePlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epPreScore, start, status) }()
	skip := map[string]struct{}{}
	for _, pl := range p.preScore {
		st := p.runExt(ctx, pl.Name(), epPreScore, func() *framework.Status { return pl.PreScore(ctx, state, pod, nodes) })
		if st.IsSkip() {
			skip[pl.Name()] = struct{}{}
			continue
		}
		if !st.IsSuccess() {
			return framework.NewStatus(framework.Error, fmt.Sprintf("running PreScore plugin %q: %s", pl.Name(), st.Message())).WithPlugin(pl.Name()).WithError(st.AsError())
		}
	}
	state.SkipScorePlugins = skip
	return nil
}

// PluginScore is one plugin's weighted, normalised score on a node.
type PluginScore = framework.PluginScore

// NodeScores are the results of RunScorePlugins for one node: the total
// and each plugin's weighted score (for explanations).
type NodeScores = framework.NodePluginScores

// scoreScratch holds RunScorePlugins' reusable buffers.
type scoreScratch struct {
	out   []NodeScores
	all   []PluginScore
	lists []framework.NodeScoreList
}

func growScores(b *[]NodeScores, n int) []NodeScores {
	if cap(*b) < n {
		*b = make([]NodeScores, n)
	}
	*b = (*b)[:n]
	return *b
}

func growPluginScores(b *[]PluginScore, n int) []PluginScore {
	if cap(*b) < n {
		*b = make([]PluginScore, n)
	}
	*b = (*b)[:n]
	clear(*b)
	return *b
}

// RunScorePlugins scores every node with every non-skipped Score plugin in
// parallel over nodes, normalises each plugin's scores, applies weights
// and sums them. The result is aligned with nodes. It is only valid until
// the next call (its buffers are reused); callers that keep it must copy.
func (p *Profile) RunScorePlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) (out []NodeScores, status *framework.Status) {
	return p.RunScorePluginsMemo(ctx, state, pod, nodes, nil)
}

// ScoreMemo lets RunScorePluginsMemo reuse the raw scores of node-local
// plugins (framework.NodeLocalPlugin) from an earlier pod with the same
// scheduling signature. i indexes the nodes passed in; slot identifies
// the plugin within the profile (stable for the profile's life).
type ScoreMemo interface {
	Lookup(i, slot int) (int64, bool)
	Store(i, slot int, raw int64)
}

// MaxMemoSlots bounds the score plugins a ScoreMemo must track.
const MaxMemoSlots = 32

// RunScorePluginsMemo is RunScorePlugins with raw scores of node-local
// plugins taken from (and saved to) memo when it is not nil.
func (p *Profile) RunScorePluginsMemo(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, memo ScoreMemo) (out []NodeScores, status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epScore, start, status) }()
	var active []scorer
	var slots []int
	for slot, s := range p.score {
		if _, skip := state.SkipScorePlugins[s.Name()]; !skip {
			active = append(active, s)
			slots = append(slots, slot)
		}
	}
	if len(p.score) > MaxMemoSlots {
		memo = nil
	}
	// The result and the per-plugin lists live in scratch buffers owned by
	// the profile and reused by the next call: the scheduling loop is the
	// only caller and consumes the result before its next cycle. That saves
	// ~100 KB of garbage per pod at 500 scored nodes.
	sc := &p.scoreScratch
	out = growScores(&sc.out, len(nodes))
	all := growPluginScores(&sc.all, len(nodes)*len(active))
	for i, n := range nodes {
		out[i] = NodeScores{Name: n.Node().Name, Scores: all[i*len(active) : (i+1)*len(active) : (i+1)*len(active)]}
	}
	if len(active) == 0 {
		return out, nil
	}
	for len(sc.lists) < len(active) {
		sc.lists = append(sc.lists, nil)
	}
	lists := sc.lists[:len(active)]
	for i := range lists {
		if cap(lists[i]) < len(nodes) {
			lists[i] = make(framework.NodeScoreList, len(nodes))
		}
		lists[i] = lists[i][:len(nodes)]
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errCh := make(chan *framework.Status, 1)
	Parallelize(ctx, p.parallelism, len(nodes), func(i int) {
		for j, s := range active {
			local := memo != nil && s.nodeLocal
			if local {
				if raw, ok := memo.Lookup(i, slots[j]); ok {
					lists[j][i] = framework.NodeScore{Name: out[i].Name, Score: raw}
					continue
				}
			}
			sc, st := p.runScore(ctx, s, state, pod, nodes[i])
			if !st.IsSuccess() {
				select {
				case errCh <- framework.NewStatus(framework.Error, fmt.Sprintf("running Score plugin %q: %s", s.Name(), st.Message())).WithPlugin(s.Name()).WithError(st.AsError()):
				default:
				}
				cancel()
				return
			}
			lists[j][i] = framework.NodeScore{Name: out[i].Name, Score: sc}
			if local {
				memo.Store(i, slots[j], sc)
			}
		}
	})
	select {
	case st := <-errCh:
		return nil, st
	default:
	}
	for j, s := range active {
		ext := s.ScoreExtensions()
		if ext == nil {
			continue
		}
		st := p.runExt(ctx, s.Name(), epNormalize, func() *framework.Status { return ext.NormalizeScore(ctx, state, pod, lists[j]) })
		if !st.IsSuccess() {
			return nil, framework.NewStatus(framework.Error, fmt.Sprintf("running NormalizeScore for %q: %s", s.Name(), st.Message())).WithPlugin(s.Name()).WithError(st.AsError())
		}
	}
	for j, s := range active {
		for i := range nodes {
			sc := lists[j][i].Score
			if sc < framework.MinNodeScore || sc > framework.MaxNodeScore {
				return nil, framework.NewStatus(framework.Error, fmt.Sprintf("plugin %q returned an invalid score %d for node %q: want [%d, %d]", s.Name(), sc, out[i].Name, framework.MinNodeScore, framework.MaxNodeScore)).WithPlugin(s.Name())
			}
			w := sc * s.weight
			out[i].Scores[j] = PluginScore{Name: s.Name(), Score: w}
			out[i].TotalScore += w
		}
	}
	return out, nil
}

func (p *Profile) runScore(ctx context.Context, s scorer, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (sc int64, st *framework.Status) {
	defer p.recoverPanic(ctx, s.Name(), epScore, &st)
	return s.Score(ctx, state, pod, ni)
}

// RunReservePluginsReserve runs Reserve in order; on the first failure the
// caller must run RunReservePluginsUnreserve.
func (p *Profile) RunReservePluginsReserve(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) (status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epReserve, start, status) }()
	for _, pl := range p.reserve {
		st := p.runExt(ctx, pl.Name(), epReserve, func() *framework.Status { return pl.Reserve(ctx, state, pod, nodeName) })
		if !st.IsSuccess() {
			if st.IsRejected() {
				return st.WithPlugin(pl.Name())
			}
			return framework.NewStatus(framework.Error, fmt.Sprintf("running Reserve plugin %q: %s", pl.Name(), st.Message())).WithPlugin(pl.Name()).WithError(st.AsError())
		}
	}
	return nil
}

// RunReservePluginsUnreserve runs Unreserve in reverse order. It never
// fails: a panicking plugin is logged and skipped.
func (p *Profile) RunReservePluginsUnreserve(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) {
	start := time.Now()
	defer p.observe(epUnreserve, start, nil)
	for i := len(p.reserve) - 1; i >= 0; i-- {
		pl := p.reserve[i]
		p.runExt(ctx, pl.Name(), epUnreserve, func() *framework.Status { pl.Unreserve(ctx, state, pod, nodeName); return nil })
	}
}

// RunPermitPlugins runs Permit. A Wait from any plugin parks the pod in
// the waiting map (with the shortest timeout); WaitOnPermit then blocks in
// the binding cycle.
func (p *Profile) RunPermitPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) (status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epPermit, start, status) }()
	waitFor := map[string]time.Duration{}
	for _, pl := range p.permit {
		var timeout time.Duration
		st := p.runExt(ctx, pl.Name(), epPermit, func() *framework.Status {
			s, t := pl.Permit(ctx, state, pod, nodeName)
			timeout = t
			return s
		})
		switch {
		case st.IsSuccess():
		case st.IsWait():
			if timeout > maxPermitTimeout {
				timeout = maxPermitTimeout
			}
			waitFor[pl.Name()] = timeout
		case st.IsRejected():
			return st.WithPlugin(pl.Name())
		default:
			return framework.NewStatus(framework.Error, fmt.Sprintf("running Permit plugin %q: %s", pl.Name(), st.Message())).WithPlugin(pl.Name()).WithError(st.AsError())
		}
	}
	if len(waitFor) > 0 {
		p.waiting.add(newWaitingPod(pod, waitFor, p.waiting.clock.Now()))
		return framework.NewStatus(framework.Wait, "one or more plugins asked to wait")
	}
	return nil
}

// WaitOnPermit blocks until a waiting pod is allowed or rejected, or a
// plugin's timeout passes on the profile's clock (Options.Clock). It
// returns nil at once for pods that are not waiting.
func (p *Profile) WaitOnPermit(ctx context.Context, pod *v1.Pod) *framework.Status {
	wp := p.waiting.get(string(pod.UID))
	if wp == nil {
		return nil
	}
	defer p.waiting.remove(string(pod.UID))
	return p.waiting.wait(ctx, wp)
}

// RejectWaitingPod rejects a pod waiting on permit (e.g. it was deleted).
// It reports whether the pod was waiting.
func (p *Profile) RejectWaitingPod(uid string, msg string) bool {
	if wp := p.waiting.get(uid); wp != nil {
		wp.Reject("", msg)
		return true
	}
	return false
}

// RunPreBindPlugins runs PreBind in order; the first failure wins.
func (p *Profile) RunPreBindPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) (status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epPreBind, start, status) }()
	for _, pl := range p.preBind {
		st := p.runExt(ctx, pl.Name(), epPreBind, func() *framework.Status { return pl.PreBind(ctx, state, pod, nodeName) })
		if !st.IsSuccess() {
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunBindPlugins runs bind plugins until one does not Skip.
func (p *Profile) RunBindPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) (status *framework.Status) {
	start := time.Now()
	defer func() { p.observe(epBind, start, status) }()
	for _, pl := range p.bind {
		st := p.runExt(ctx, pl.Name(), epBind, func() *framework.Status { return pl.Bind(ctx, state, pod, nodeName) })
		if st.IsSkip() {
			continue
		}
		return st.WithPlugin(pl.Name())
	}
	return framework.NewStatus(framework.Error, "every bind plugin skipped the pod")
}

// RunPostBindPlugins informs PostBind plugins.
func (p *Profile) RunPostBindPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) {
	start := time.Now()
	defer p.observe(epPostBind, start, nil)
	for _, pl := range p.postBind {
		p.runExt(ctx, pl.Name(), epPostBind, func() *framework.Status { pl.PostBind(ctx, state, pod, nodeName); return nil })
	}
}
