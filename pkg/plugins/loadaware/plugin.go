package loadaware

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metricsource"
	"github.com/berthsched/berth/pkg/placement/load"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "LoadAware"

const stateKey framework.StateKey = Name

// LoadAware scores nodes by measured load (see the package doc).
type LoadAware struct {
	handle  framework.Handle
	args    *Args
	policy  load.Policy
	gpuRes  []v1.ResourceName
	tracker *tracker
	now     func() time.Time

	src atomic.Pointer[sourceBox]

	// logMu guards lastLog: the fallback summary is logged once per
	// period, not once per pod.
	logMu   sync.Mutex
	lastLog time.Time

	// rejected are pods the thresholds refused, activated when the next
	// snapshot arrives (load changes without any cluster event).
	rejMu    sync.Mutex
	rejected map[string]*v1.Pod
}

type sourceBox struct{ metricsource.Source }

var (
	_ framework.PreFilterPlugin   = (*LoadAware)(nil)
	_ framework.FilterPlugin      = (*LoadAware)(nil)
	_ framework.PreScorePlugin    = (*LoadAware)(nil)
	_ framework.ScorePlugin       = (*LoadAware)(nil)
	_ framework.ReservePlugin     = (*LoadAware)(nil)
	_ framework.EnqueueExtensions = (*LoadAware)(nil)
	_ framework.SyncedPlugin      = (*LoadAware)(nil)
	_ framework.ScoreExplainer    = (*LoadAware)(nil)
)

// New builds the plugin and starts (or joins) its metric source.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	return build(ctx, obj, h, nil)
}

// NewWithSource builds the plugin over a source its caller owns (a
// simulation's metricsource.Static, say); args.source is then ignored.
func NewWithSource(ctx context.Context, obj runtime.Object, h framework.Handle, src metricsource.Source) (*LoadAware, error) {
	return build(ctx, obj, h, src)
}

func build(ctx context.Context, obj runtime.Object, h framework.Handle, src metricsource.Source) (*LoadAware, error) {
	validate := ValidateArgs
	if src != nil {
		validate = func(a *Args, path *field.Path) field.ErrorList {
			var out field.ErrorList
			for _, e := range ValidateArgs(a, path) {
				if !strings.HasPrefix(e.Field, path.Child("source").String()) {
					out = append(out, e)
				}
			}
			return out
		}
	}
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, validate, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	policy, err := args.policy()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	pl := &LoadAware{handle: h, args: args, policy: policy, gpuRes: args.GPUResources, now: time.Now, rejected: map[string]*v1.Pod{}}
	maxWindow := metricsource.DefaultQueryWindow
	if args.Source.Prometheus != nil {
		for _, q := range args.Source.Prometheus.Queries {
			maxWindow = max(maxWindow, q.Window.Duration)
		}
	}
	// A placement older than this cannot be an estimate: every sample the
	// TTL trusts was taken after it left the window and the warmup.
	pl.tracker = newTracker(policy.TTL+maxWindow+policy.Warmup+time.Minute, func() time.Time { return pl.now() }, estimator(args))
	o := metricsource.Options{Spec: args.Source, Forecast: args.forecastConfig()}
	if h != nil && h.SharedInformerFactory() != nil {
		f := h.SharedInformerFactory()
		o.Nodes = f.Core().V1().Nodes().Lister()
		if _, err := f.Core().V1().Pods().Informer().AddEventHandler(pl.tracker.handlers()); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", Name, err)
		}
	}
	if src != nil {
		pl.src.Store(&sourceBox{src})
		return pl, nil
	}
	if h != nil && h.ClientSet() != nil {
		o.REST = h.ClientSet().CoreV1().RESTClient()
	}
	shared, err := metricsource.Shared(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	pl.src.Store(&sourceBox{shared})
	if len(args.ThresholdPercent) > 0 && h != nil && h.PodActivator() != nil {
		go pl.activateOnRefresh(ctx, args.Source.Interval.Duration)
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*LoadAware) Name() string { return Name }

// SetSource replaces the metric source: simulations feed synthetic loads
// through a source of their own.
func (pl *LoadAware) SetSource(s metricsource.Source) { pl.src.Store(&sourceBox{s}) }

// SetClock replaces the clock (simulations run on simulated time).
func (pl *LoadAware) SetClock(now func() time.Time) { pl.now = now }

// Source returns the metric source the plugin reads.
func (pl *LoadAware) Source() metricsource.Source { return pl.src.Load().Source }

// HasSynced waits for the source's first refresh attempt (which ends
// within its timeout whether or not the source answers).
func (pl *LoadAware) HasSynced() bool { return pl.Source().Synced() }

// Observe records a placement the plugin did not see through Reserve
// (a simulation's binds, say), so it is estimated like berth's own.
func (pl *LoadAware) Observe(pod *v1.Pod, node string, at time.Time) { pl.tracker.add(pod, node, at) }

// Forget drops a pod from the estimates (it left its node).
func (pl *LoadAware) Forget(pod *v1.Pod) { pl.tracker.remove(pod.UID) }

// cycleState is one pod's view of the load: the snapshot it reads, the
// recent placements and the weights that apply to it.
type cycleState struct {
	snap    *load.Snapshot
	now     time.Time
	weights [load.NumResources]float64
	// est is the pod's own estimated use (milli-CPU, bytes, GPUs).
	est [3]int64
	// uid is the pod's: a bound pod explained as if pending must not
	// count as an estimate against itself.
	uid    types.UID
	recent map[string][]placed
	// scored counts the nodes scored by basis, flushed to the metric in
	// NormalizeScore.
	measured, stale, missing atomic.Int64
	example                  atomic.Pointer[string]
}

// Clone returns the state itself: it is read-only after PreFilter and
// PreScore but for its counters, which only feed a metric.
func (s *cycleState) Clone() framework.StateData { return s }

// noteExample keeps the first fallback reason of the cycle for the log;
// its own function so that Score's view does not escape to the heap.
func (s *cycleState) noteExample(reason string) {
	if s.example.Load() == nil {
		s.example.CompareAndSwap(nil, &reason)
	}
}

func (pl *LoadAware) newState(pod *v1.Pod) *cycleState {
	s := &cycleState{snap: pl.Source().Snapshot(), now: pl.now(), weights: pl.policy.Weights, recent: pl.tracker.byNode(), uid: pod.UID}
	s.est[0], s.est[1], s.est[2] = pl.tracker.est(pod)
	if !pl.isGPUPod(pod) {
		s.weights[load.GPU] = 0
	}
	return s
}

func (pl *LoadAware) isGPUPod(pod *v1.Pod) bool {
	r := framework.PodRequests(pod)
	for _, n := range pl.gpuRes {
		if r.Get(n) > 0 {
			return true
		}
	}
	return false
}

func (pl *LoadAware) state(cs *framework.CycleState, pod *v1.Pod) *cycleState {
	if d, err := cs.Read(stateKey); err == nil {
		if s, ok := d.(*cycleState); ok {
			return s
		}
	}
	s := pl.newState(pod)
	cs.Write(stateKey, s)
	return s
}

// PreFilter takes the cycle's snapshot for the thresholds; without
// thresholds Filter is skipped.
func (pl *LoadAware) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if len(pl.args.ThresholdPercent) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	cs.Write(stateKey, pl.newState(pod))
	return nil, nil
}

// PreFilterExtensions returns nil: the thresholds read measurements, not
// the pods preemption would remove.
func (*LoadAware) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// view applies the freshness contract and the estimates to one node.
func (pl *LoadAware) view(s *cycleState, ni *framework.NodeInfo) load.View {
	node := ni.Node()
	ns := load.NodeState{Name: node.Name, Load: lookup(s.snap, node)}
	alloc, req := ni.Allocatable, ni.Requested
	ns.Allocatable[load.CPU], ns.Requested[load.CPU] = float64(alloc.MilliCPU), float64(req.MilliCPU)
	ns.Allocatable[load.Memory], ns.Requested[load.Memory] = float64(alloc.Memory), float64(req.Memory)
	for _, n := range pl.gpuRes {
		ns.Allocatable[load.GPU] += float64(alloc.Get(n))
		ns.Requested[load.GPU] += float64(req.Get(n))
	}
	for _, p := range s.recent[node.Name] {
		if p.uid == s.uid && s.uid != "" {
			continue
		}
		ns.Placed = append(ns.Placed, load.Placement{At: p.at, Share: share(p.cpu, p.mem, p.gpu, &ns)})
	}
	if ns.Load == nil || s.snap.Err != "" {
		ns.Problem = sourceProblem(s.snap, s.weights)
	} else {
		ns.Problem = resourceProblems(s.snap, s.weights)
	}
	return pl.policy.View(s.now, ns, s.weights)
}

// lookup finds the node's load by name, then by address (sources keyed
// by node-exporter's instance label know nodes by IP), without
// allocating: it runs for every node of every pod.
func lookup(snap *load.Snapshot, node *v1.Node) *load.NodeLoad {
	if snap == nil || snap.Nodes == nil {
		return nil
	}
	if nl, ok := snap.Nodes[node.Name]; ok {
		return nl
	}
	for _, a := range node.Status.Addresses {
		if nl, ok := snap.Nodes[a.Address]; ok {
			return nl
		}
	}
	return nil
}

// share converts absolute estimates into fractions of the node.
func share(cpu, mem, gpu int64, ns *load.NodeState) [load.NumResources]float64 {
	var out [load.NumResources]float64
	if a := ns.Allocatable[load.CPU]; a > 0 {
		out[load.CPU] = float64(cpu) / a
	}
	if a := ns.Allocatable[load.Memory]; a > 0 {
		out[load.Memory] = float64(mem) / a
	}
	if a := ns.Allocatable[load.GPU]; a > 0 {
		out[load.GPU] = float64(gpu) / a
	}
	return out
}

func sourceProblem(snap *load.Snapshot, w [load.NumResources]float64) string {
	switch {
	case snap.Refreshed.IsZero() && snap.Err != "":
		return fmt.Sprintf("%s has not answered yet: %s", snap.Source, snap.Err)
	case snap.Refreshed.IsZero():
		return snap.Source + " has not answered yet"
	case snap.Err != "":
		return fmt.Sprintf("%s last failed: %s", snap.Source, snap.Err)
	}
	return resourceProblems(snap, w)
}

func resourceProblems(snap *load.Snapshot, w [load.NumResources]float64) string {
	var out []string
	for r, p := range snap.Problems {
		if p != "" && w[r] > 0 {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// Filter refuses a node whose trusted measured utilisation (estimates
// included) is above a threshold.
func (pl *LoadAware) Filter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s := pl.state(cs, pod)
	v := pl.view(s, ni)
	r, u, over := pl.policy.Exceeds(v)
	if !over {
		return nil
	}
	metricsource.Rejections.WithLabelValues(r.String()).Inc()
	pl.rememberRejected(pod)
	return framework.NewStatus(framework.Unschedulable,
		fmt.Sprintf("node's measured %s utilisation %.0f%% is above the %.0f%% threshold", r, 100*u, 100*pl.policy.Thresholds[r]))
}

// PreScore takes the cycle's snapshot (once for all nodes).
func (pl *LoadAware) PreScore(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	s := pl.state(cs, pod)
	s.measured.Store(0)
	s.stale.Store(0)
	s.missing.Store(0)
	return nil
}

// Score ranks a node by its load after placing the pod.
func (pl *LoadAware) Score(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s := pl.state(cs, pod)
	v := pl.view(s, ni)
	switch {
	case !v.ByRequests:
		s.measured.Add(1)
	case v.Age > 0:
		s.stale.Add(1)
		s.noteExample(v.Reason)
	default:
		s.missing.Add(1)
		s.noteExample(v.Reason)
	}
	var nsAlloc load.NodeState
	nsAlloc.Allocatable[load.CPU] = float64(ni.Allocatable.MilliCPU)
	nsAlloc.Allocatable[load.Memory] = float64(ni.Allocatable.Memory)
	for _, n := range pl.gpuRes {
		nsAlloc.Allocatable[load.GPU] += float64(ni.Allocatable.Get(n))
	}
	return pl.policy.Score(v, share(s.est[0], s.est[1], s.est[2], &nsAlloc), s.weights), nil
}

// ScoreExtensions returns the plugin itself: scores are in [0, 100]
// already; NormalizeScore only flushes the cycle's fallback counts.
func (pl *LoadAware) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore records how many nodes were scored by requests and why,
// and logs a summary once per period.
func (pl *LoadAware) NormalizeScore(ctx context.Context, cs *framework.CycleState, _ *v1.Pod, _ framework.NodeScoreList) *framework.Status {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil
	}
	s := d.(*cycleState)
	m, st, mi := s.measured.Load(), s.stale.Load(), s.missing.Load()
	metricsource.ScoredNodes.WithLabelValues("measured").Add(float64(m))
	metricsource.ScoredNodes.WithLabelValues("stale").Add(float64(st))
	metricsource.ScoredNodes.WithLabelValues("missing").Add(float64(mi))
	if st+mi == 0 {
		return nil
	}
	pl.logMu.Lock()
	due := s.now.Sub(pl.lastLog) >= logPeriod
	if due {
		pl.lastLog = s.now
	}
	pl.logMu.Unlock()
	if due {
		ex := ""
		if p := s.example.Load(); p != nil {
			ex = *p
		}
		klog.FromContext(ctx).Info("Nodes scored by requests for want of trusted load data (logged once per period)",
			"source", s.snap.Source, "stale", st, "missing", mi, "measured", m, "example", ex, "period", logPeriod)
	}
	return nil
}

const logPeriod = 5 * time.Minute

// Reserve records the placement, so the next pods see it as an estimate
// until a sample includes it.
func (pl *LoadAware) Reserve(_ context.Context, _ *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	pl.tracker.add(pod, node, pl.now())
	return nil
}

// Unreserve forgets it.
func (pl *LoadAware) Unreserve(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ string) {
	pl.tracker.remove(pod.UID)
}

// EventsToRegister: a threshold rejection may clear when a pod leaves
// the node or a node joins; the plugin also activates the pods it
// refused after each refresh of its source, since load changes without
// any cluster event.
func (pl *LoadAware) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
	}, nil
}

func (pl *LoadAware) rememberRejected(pod *v1.Pod) {
	pl.rejMu.Lock()
	pl.rejected[pod.Namespace+"/"+pod.Name] = pod
	pl.rejMu.Unlock()
}

// activateOnRefresh moves the pods the thresholds refused back to the
// active queue whenever the source publishes a new snapshot.
func (pl *LoadAware) activateOnRefresh(ctx context.Context, every time.Duration) {
	logger := klog.FromContext(ctx)
	last := pl.Source().Snapshot()
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap := pl.Source().Snapshot()
		if snap == last || snap.Refreshed.Equal(last.Refreshed) {
			continue
		}
		last = snap
		pl.rejMu.Lock()
		pods := pl.rejected
		pl.rejected = map[string]*v1.Pod{}
		pl.rejMu.Unlock()
		if len(pods) > 0 {
			logger.V(4).Info("Load data refreshed; retrying pods the thresholds refused", "pods", len(pods))
			pl.handle.PodActivator().Activate(logger, pods)
		}
	}
}

// ExplainScore says what the score of a node was based on: the measured
// values with their estimates and age, or why the node was scored by
// requests ("load data for node-3 is 4m0s old (ttl 2m0s); scored by
// requests").
func (pl *LoadAware) ExplainScore(cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) string {
	var s *cycleState
	if cs != nil {
		if d, err := cs.Read(stateKey); err == nil {
			s, _ = d.(*cycleState)
		}
	}
	if s == nil {
		s = pl.newState(pod)
	}
	return pl.policy.Describe(pl.view(s, ni), s.weights)
}
