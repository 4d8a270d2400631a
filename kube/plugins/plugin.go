package plugins

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	kubeframework "k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/berthsched/berth/pkg/framework"
)

// Plugin runs one berth plugin as a kube-scheduler plugin. It implements
// every extension point the berth-only plugins use; where the berth
// plugin lacks one, it steps aside the way kube-scheduler lets a plugin
// step aside (Skip at PreFilter, PreScore and PreBind's pre-flight,
// success elsewhere), so enabling it through multiPoint is enough.
type Plugin struct {
	berth  framework.Plugin
	nodes  *nodeInfos
	states *sync.Mutex

	preFilter framework.PreFilterPlugin
	filter    framework.FilterPlugin
	preScore  framework.PreScorePlugin
	score     framework.ScorePlugin
	normalize framework.ScoreExtensions
	reserve   framework.ReservePlugin
	preBind   framework.PreBindPlugin
	enqueue   framework.EnqueueExtensions
}

var (
	_ fwk.PreFilterPlugin   = (*Plugin)(nil)
	_ fwk.FilterPlugin      = (*Plugin)(nil)
	_ fwk.PreScorePlugin    = (*Plugin)(nil)
	_ fwk.ScorePlugin       = (*Plugin)(nil)
	_ fwk.ScoreExtensions   = (*Plugin)(nil)
	_ fwk.ReservePlugin     = (*Plugin)(nil)
	_ fwk.PreBindPlugin     = (*Plugin)(nil)
	_ fwk.EnqueueExtensions = (*Plugin)(nil)
)

func newPlugin(pl framework.Plugin, nodes *nodeInfos, states *sync.Mutex) *Plugin {
	p := &Plugin{berth: pl, nodes: nodes, states: states}
	p.preFilter, _ = pl.(framework.PreFilterPlugin)
	p.filter, _ = pl.(framework.FilterPlugin)
	p.preScore, _ = pl.(framework.PreScorePlugin)
	p.score, _ = pl.(framework.ScorePlugin)
	if p.score != nil {
		p.normalize = p.score.ScoreExtensions()
	}
	p.reserve, _ = pl.(framework.ReservePlugin)
	p.preBind, _ = pl.(framework.PreBindPlugin)
	p.enqueue, _ = pl.(framework.EnqueueExtensions)
	return p
}

// Name returns the berth plugin's name.
func (p *Plugin) Name() string { return p.berth.Name() }

// Berth returns the berth plugin the adapter runs.
func (p *Plugin) Berth() framework.Plugin { return p.berth }

// cycleStateKey is where a pod's berth CycleState lives in
// kube-scheduler's: one per scheduling attempt, shared by the adapted
// plugins of the profile (their keys do not clash, as in berth).
const cycleStateKey fwk.StateKey = "berth.io/cycle-state"

// cycleBox carries berth's CycleState in kube-scheduler's. Cloning it
// (preemption's what-ifs) clones berth's state through each value's own
// Clone, as berth's engine does.
type cycleBox struct{ cs *framework.CycleState }

// Clone implements fwk.StateData.
func (b *cycleBox) Clone() fwk.StateData { return &cycleBox{cs: b.cs.Clone()} }

// state returns the pod's berth CycleState, creating it on first use
// (under the bridge's lock: plugins of several extension points may be
// first, and Filter and Score run in parallel).
func (p *Plugin) state(ks fwk.CycleState) *framework.CycleState {
	if b, err := ks.Read(cycleStateKey); err == nil {
		return b.(*cycleBox).cs
	}
	p.states.Lock()
	defer p.states.Unlock()
	if b, err := ks.Read(cycleStateKey); err == nil {
		return b.(*cycleBox).cs
	}
	cs := framework.NewCycleState()
	cs.RecordPluginMetrics = ks.ShouldRecordPluginMetrics()
	ks.Write(cycleStateKey, &cycleBox{cs: cs})
	return cs
}

// PreFilter runs the berth PreFilter with the translated nodes. Without
// one it succeeds if the plugin filters and skips otherwise.
func (p *Plugin) PreFilter(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if p.preFilter == nil {
		if p.filter == nil {
			return nil, fwk.NewStatus(fwk.Skip)
		}
		return nil, nil
	}
	res, s := p.preFilter.PreFilter(ctx, p.state(ks), pod, p.nodes.list(nodes, true))
	var out *fwk.PreFilterResult
	if !res.AllNodes() {
		out = &fwk.PreFilterResult{NodeNames: res.NodeNames}
	}
	return out, toStatus(s)
}

// PreFilterExtensions adapts the berth plugin's, if it has any.
func (p *Plugin) PreFilterExtensions() fwk.PreFilterExtensions {
	if p.preFilter == nil || p.preFilter.PreFilterExtensions() == nil {
		return nil
	}
	return preFilterExtensions{p}
}

// preFilterExtensions keeps a berth PreFilter's state right for the pods
// preemption and nominated pods add to or remove from a node.
type preFilterExtensions struct{ p *Plugin }

func (e preFilterExtensions) AddPod(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, add fwk.PodInfo, ni fwk.NodeInfo) *fwk.Status {
	ext := e.p.preFilter.PreFilterExtensions()
	return toStatus(ext.AddPod(ctx, e.p.state(ks), pod, framework.NewPodInfo(add.GetPod()), e.p.nodes.get(ni)))
}

func (e preFilterExtensions) RemovePod(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, remove fwk.PodInfo, ni fwk.NodeInfo) *fwk.Status {
	ext := e.p.preFilter.PreFilterExtensions()
	return toStatus(ext.RemovePod(ctx, e.p.state(ks), pod, framework.NewPodInfo(remove.GetPod()), e.p.nodes.get(ni)))
}

// Filter runs the berth Filter on the translated node.
func (p *Plugin) Filter(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) *fwk.Status {
	if p.filter == nil {
		return nil
	}
	return toStatus(p.filter.Filter(ctx, p.state(ks), pod, p.nodes.get(ni)))
}

// PreScore runs the berth PreScore with the translated feasible nodes.
// Without one it succeeds if the plugin scores and skips otherwise.
func (p *Plugin) PreScore(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	if p.preScore == nil {
		if p.score == nil {
			return fwk.NewStatus(fwk.Skip)
		}
		return nil
	}
	return toStatus(p.preScore.PreScore(ctx, p.state(ks), pod, p.nodes.list(nodes, false)))
}

// Score runs the berth Score on the translated node.
func (p *Plugin) Score(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, ni fwk.NodeInfo) (int64, *fwk.Status) {
	if p.score == nil {
		return 0, nil
	}
	v, s := p.score.Score(ctx, p.state(ks), pod, p.nodes.get(ni))
	return v, toStatus(s)
}

// ScoreExtensions returns the adapter when the berth plugin normalises
// its scores.
func (p *Plugin) ScoreExtensions() fwk.ScoreExtensions {
	if p.normalize == nil {
		return nil
	}
	return p
}

// NormalizeScore runs the berth normalisation over a copy of the scores
// and copies the results back.
func (p *Plugin) NormalizeScore(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	list := make(framework.NodeScoreList, len(scores))
	for i, s := range scores {
		list[i] = framework.NodeScore{Name: s.Name, Score: s.Score}
	}
	st := p.normalize.NormalizeScore(ctx, p.state(ks), pod, list)
	for i := range scores {
		scores[i].Score = list[i].Score
	}
	return toStatus(st)
}

// Reserve runs the berth Reserve (GPUShare picks and holds the pod's
// cards here). kube-scheduler calls it after it assumed the pod, with the
// snapshot the cycle read.
func (p *Plugin) Reserve(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	if p.reserve == nil {
		return nil
	}
	return toStatus(p.reserve.Reserve(ctx, p.state(ks), pod, nodeName))
}

// Unreserve runs the berth Unreserve.
func (p *Plugin) Unreserve(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, nodeName string) {
	if p.reserve != nil {
		p.reserve.Unreserve(ctx, p.state(ks), pod, nodeName)
	}
}

// PreBindPreFlight says whether PreBind has work: Skip for a plugin
// without PreBind.
func (p *Plugin) PreBindPreFlight(context.Context, fwk.CycleState, *v1.Pod, string) (*fwk.PreBindPreFlightResult, *fwk.Status) {
	if p.preBind == nil {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return nil, nil
}

// PreBind runs the berth PreBind (GPUShare writes the pod's
// berth.io/gpu-assignment annotation here).
func (p *Plugin) PreBind(ctx context.Context, ks fwk.CycleState, pod *v1.Pod, nodeName string) *fwk.Status {
	if p.preBind == nil {
		return nil
	}
	return toStatus(p.preBind.PreBind(ctx, p.state(ks), pod, nodeName))
}

// EventsToRegister translates the berth plugin's events; a plugin without
// any is requeued by every event of every resource kube-scheduler
// watches, as kube-scheduler does for its plugins that do not say (the
// resources listed one by one: a wildcard registers no event handler).
func (p *Plugin) EventsToRegister(ctx context.Context) ([]fwk.ClusterEventWithHint, error) {
	if p.enqueue == nil {
		return kubeframework.UnrollWildCardResource(), nil
	}
	evs, err := p.enqueue.EventsToRegister(ctx)
	if err != nil {
		return nil, err
	}
	return toEvents(p.berth, evs), nil
}
