package gpushare

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "GPUShare"

const stateKey framework.StateKey = Name

// GPUShare places GPU pods card by card (see the package doc).
type GPUShare struct {
	handle   framework.Handle
	args     *Args
	policy   gpu.Policy
	workload *gpu.Workload
	frags    *gpu.FragCache
	tracker  *tracker
	now      func() time.Time

	seenMu   sync.Mutex
	seen     map[types.UID]struct{}
	seenRing []types.UID
	seenNext int
	cycles   int

	// gpuCheckedAt and hasGPUs cache clusterHasGPUs (under seenMu).
	gpuCheckedAt time.Time
	hasGPUs      bool
	// publishedAt is when publish last set the GPU metrics (under
	// seenMu).
	publishedAt time.Time
}

var (
	_ framework.PreFilterPlugin   = (*GPUShare)(nil)
	_ framework.FilterPlugin      = (*GPUShare)(nil)
	_ framework.PreScorePlugin    = (*GPUShare)(nil)
	_ framework.ScorePlugin       = (*GPUShare)(nil)
	_ framework.ReservePlugin     = (*GPUShare)(nil)
	_ framework.PreBindPlugin     = (*GPUShare)(nil)
	_ framework.EnqueueExtensions = (*GPUShare)(nil)
	_ framework.FailureExplainer  = (*GPUShare)(nil)
)

// New builds the plugin from *Args (nil means the defaults).
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	policy, err := gpu.PolicyByName(args.Policy)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	window := int(args.WorkloadWindow)
	return &GPUShare{
		handle: h,
		args:   args,
		policy: policy,
		workload: gpu.NewWorkload(gpu.WorkloadConfig{
			Window: window, Coverage: float64(args.WorkloadCoverage) / 100,
		}),
		frags:    gpu.NewFragCache(),
		tracker:  newTracker(args, snapshotOf(h)),
		now:      time.Now,
		seen:     map[types.UID]struct{}{},
		seenRing: make([]types.UID, 2*window),
	}, nil
}

// snapshotOf identifies the snapshot h's plugins read, which the profiles
// of one scheduler share; nil without one.
func snapshotOf(h framework.Handle) any {
	if h == nil || h.SnapshotSharedLister() == nil {
		return nil
	}
	return h.SnapshotSharedLister()
}

// Name returns the plugin's name.
func (*GPUShare) Name() string { return Name }

// Policy returns the configured policy's name.
func (pl *GPUShare) Policy() string { return pl.policy.Name() }

// Workload returns the learner of the typical workload, so a simulation
// can seed it with a known trace.
func (pl *GPUShare) Workload() *gpu.Workload { return pl.workload }

// cycleState carries the pod's request and the scoring environment from
// PreFilter and PreScore to Score and Reserve.
type cycleState struct {
	req gpu.Request
	// reasons are Filter's reasons by misfit kind, worded once per pod.
	reasons [gpu.CardsBusy + 1]string
	env     *gpu.Env
	cards   []int
	scoring bool
}

// Clone returns the state itself: Reserve writes cards only on the
// scheduling cycle's own copy, after every clone was taken.
func (s *cycleState) Clone() framework.StateData { return s }

// PreFilter parses the pod's GPU request and learns its shape. A
// malformed request (a share outside 1..1000, a share with whole cards,
// bad memory) is UnschedulableAndUnresolvable with a message naming the
// annotation: the event on the pod says what to fix. Pods without GPUs
// skip Filter.
func (pl *GPUShare) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	r, err := PodRequest(pod, pl.args.ResourceName)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "invalid GPU request: "+err.Error())
	}
	pl.observe(pod.UID, r)
	s := &cycleState{req: r}
	state.Write(stateKey, s)
	if !r.IsGPU() {
		return nil, framework.NewStatus(framework.Skip)
	}
	for k := range s.reasons {
		s.reasons[k] = gpu.MisfitKind(k).Reason(r, "")
	}
	return nil, nil
}

// observe feeds the learner once per pod, not once per attempt, so a pod
// that waits and retries does not weigh more than one that fit at once.
func (pl *GPUShare) observe(uid types.UID, r gpu.Request) {
	pl.seenMu.Lock()
	defer pl.seenMu.Unlock()
	if uid != "" {
		if _, ok := pl.seen[uid]; ok {
			return
		}
		if old := pl.seenRing[pl.seenNext]; old != "" {
			delete(pl.seen, old)
		}
		pl.seenRing[pl.seenNext] = uid
		pl.seenNext = (pl.seenNext + 1) % len(pl.seenRing)
		pl.seen[uid] = struct{}{}
	}
	pl.workload.Observe(r)
}

// PreFilterExtensions returns nil: the card state comes from the node's
// pods, which preemption's simulated removals already change.
func (*GPUShare) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects nodes whose cards cannot hold the request, saying which
// cards fall short. A node without cards, or of a model the pod does not
// accept, is UnschedulableAndUnresolvable: preemption cannot change that.
func (pl *GPUShare) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	n := pl.tracker.state(ni)
	kind := n.Misfit(s.req)
	if kind == gpu.Fits {
		return nil
	}
	code := framework.Unschedulable
	if kind.Unresolvable() {
		code = framework.UnschedulableAndUnresolvable
	}
	reason := s.reasons[kind]
	if kind == gpu.WrongModel {
		reason = kind.Reason(s.req, n.Model)
	}
	return framework.NewStatus(code, reason)
}

// ExplainFailure names the node that came closest to holding the pod and
// says card by card why it does not ("gpu-3: card 3 has 300 milli free;
// pod asks 500 milli"), after the per-reason counts of the failure
// message.
func (pl *GPUShare) ExplainFailure(state *framework.CycleState, _ *v1.Pod) string {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil || !s.req.IsGPU() {
		return ""
	}
	// The closest node is the one rejected for its cards (not for its
	// model or card count, nor only by other filters) with the most free
	// milli on one card, then the most free card memory.
	var best *gpu.Node
	var bestFree, bestMem int64 = -1, -1
	for _, ni := range pl.handle.SnapshotSharedLister().NodeInfos().List() {
		n := pl.tracker.state(ni)
		if len(n.Cards) < s.req.Count || !n.ModelAllowed(s.req) || n.Fits(s.req) {
			continue
		}
		var free, mem int64
		for _, c := range n.Cards {
			free = max(free, c.FreeMilli())
			mem = max(mem, c.MemoryMiB-c.UsedMemoryMiB)
		}
		if free > bestFree || (free == bestFree && mem > bestMem) || (free == bestFree && mem == bestMem && n.Name < best.Name) {
			best, bestFree, bestMem = n, free, mem
		}
	}
	if best == nil {
		return ""
	}
	return fmt.Sprintf("closest GPU node %s: %s", best.Name, best.Detail(s.req))
}

// PreScore fixes the scoring environment for the cycle: the typical
// workload learned so far and the largest node's CPU and GPU capacity.
func (pl *GPUShare) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if !s.req.IsGPU() && (!*pl.args.ScoreCPUPods || !pl.clusterHasGPUs()) {
		return framework.NewStatus(framework.Skip)
	}
	env := &gpu.Env{Cache: pl.frags, Seed: uint64(pl.args.RandomSeed), Key: string(pod.UID), ScoreOnly: true}
	switch pl.policy.Name() {
	case gpu.FGD:
		env.Dist = pl.workload.Distribution()
	case gpu.BestFit, gpu.DotProduct, gpu.GPUClustering:
		env.MaxCPUMilli, env.MaxGPUMilli = pl.largest()
	case gpu.Random:
		names := make([]string, 0, len(nodes))
		for _, ni := range nodes {
			if n := ni.Node(); n != nil {
				names = append(names, n.Name)
			}
		}
		env.Chosen = gpu.RandomPick(env, names)
	}
	s.env, s.scoring = env, true
	return nil
}

// gpuCheckInterval is how long a "does any node have GPUs" answer is
// reused: a GPU node that just joined only changes how pods without GPUs
// are ranked.
const gpuCheckInterval = 5 * time.Second

// clusterHasGPUs reports whether any node in the snapshot has cards, so
// that in a cluster without GPUs pods without GPUs are not scored at all.
func (pl *GPUShare) clusterHasGPUs() bool {
	pl.seenMu.Lock()
	defer pl.seenMu.Unlock()
	now := pl.now()
	if now.Sub(pl.gpuCheckedAt) < gpuCheckInterval {
		return pl.hasGPUs
	}
	pl.gpuCheckedAt, pl.hasGPUs = now, false
	for _, ni := range pl.handle.SnapshotSharedLister().NodeInfos().List() {
		if pl.tracker.cardCount(ni) > 0 {
			pl.hasGPUs = true
			break
		}
	}
	return pl.hasGPUs
}

// largest is the largest node's CPU and GPU capacity in the snapshot,
// which the resource-vector policies normalize by.
func (pl *GPUShare) largest() (cpu, gpuMilli int64) {
	for _, ni := range pl.handle.SnapshotSharedLister().NodeInfos().List() {
		cpu = max(cpu, ni.Allocatable.MilliCPU)
		gpuMilli = max(gpuMilli, pl.tracker.cardCount(ni)*gpu.MilliPerCard)
	}
	return cpu, gpuMilli
}

// Score rates the node with the configured policy.
func (pl *GPUShare) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	if !s.scoring {
		return 0, nil
	}
	// Only nodes that passed Filter are scored: the request fits.
	return pl.policy.Rate(pl.tracker.state(ni), s.req, s.env).Score, nil
}

// ScoreExtensions returns nil: every policy scores in [0, 100].
func (*GPUShare) ScoreExtensions() framework.ScoreExtensions { return nil }

// Reserve chooses the pod's cards on the node with the policy and holds
// them, so the next cycles see them taken before the pod is annotated.
func (pl *GPUShare) Reserve(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if !s.req.IsGPU() {
		return nil
	}
	ni, err := pl.handle.SnapshotSharedLister().NodeInfos().Get(nodeName)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reserving GPUs: %w", err))
	}
	n := pl.tracker.state(ni)
	if !n.Fits(s.req) {
		return framework.NewStatus(framework.Unschedulable, n.Reason(s.req))
	}
	env := s.env
	if env == nil {
		env = &gpu.Env{Cache: pl.frags, Dist: pl.workload.Distribution()}
	}
	e := *env
	e.Key, e.ScoreOnly = string(pod.UID), false
	cards := pl.policy.Rate(n, s.req, &e).Cards
	if len(cards) != s.req.Count {
		cards = gpu.FirstFit(n, s.req)
	}
	if cards == nil {
		return framework.NewStatus(framework.Unschedulable, n.Reason(s.req))
	}
	s.cards = cards
	pl.tracker.reserve(pod.UID, nodeName, cards, pl.now())
	pl.cycles++
	if pl.cycles%1024 == 0 {
		pl.tracker.sweep(pl.handle.SnapshotSharedLister().NodeInfos(), pl.now())
	}
	if pl.publishDue() {
		dist := env.Dist
		if dist == nil {
			dist = pl.workload.Distribution()
		}
		after := n.Clone()
		if after.Allocate(s.req, cards) != nil {
			after = nil
		}
		pl.publish(dist, after)
	}
	return nil
}

// Unreserve releases the cards Reserve held.
func (pl *GPUShare) Unreserve(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ string) {
	if s, err := framework.ReadState[*cycleState](state, stateKey); err == nil && s.cards != nil {
		pl.tracker.unreserve(pod.UID)
	}
}

// AssignmentFor is the annotation value for the cards reserved for the
// pod in this cycle, or "" for a pod without GPUs.
func (pl *GPUShare) AssignmentFor(state *framework.CycleState, nodeName string) (string, error) {
	s, err := framework.ReadState[*cycleState](state, stateKey)
	if err != nil {
		return "", err
	}
	if !s.req.IsGPU() || s.cards == nil {
		return "", nil
	}
	return Assignment{Node: nodeName, Cards: s.cards, Milli: s.req.MilliPerCard, MemoryMiB: s.req.MemoryMiBPerCard}.Encode(), nil
}

// PreBind writes the assignment annotation on the pod before it is bound,
// so the device plugin on the node sees which cards to expose when the
// kubelet admits the pod. A failure fails the bind, and Unreserve
// releases the cards.
func (pl *GPUShare) PreBind(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	val, err := pl.AssignmentFor(state, nodeName)
	if err != nil {
		return framework.AsStatus(err)
	}
	if val == "" || pod.Annotations[AnnotationAssignment] == val {
		return nil
	}
	cs := pl.handle.ClientSet()
	if cs == nil {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationAssignment: val}}})
	if _, err := cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return framework.AsStatus(fmt.Errorf("writing GPU assignment: %w", err))
	}
	klog.FromContext(ctx).V(4).Info("Assigned GPUs", "pod", klog.KObj(pod), "node", nodeName, "assignment", val)
	return nil
}

// EventsToRegister: cards free up when a pod leaves a node, and appear
// when a node joins or its allocatable or model label changes.
func (pl *GPUShare) EventsToRegister(_ context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeAllocatable | framework.UpdateNodeLabel}},
	}, nil
}
