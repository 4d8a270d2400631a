package noderesources

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// BalancedAllocationName is NodeResourcesBalancedAllocation's name in
// profiles, registries and statuses (kube-scheduler's name).
const BalancedAllocationName = "NodeResourcesBalancedAllocation"

const balancedPreScoreStateKey framework.StateKey = "PreScore" + BalancedAllocationName

var (
	_ framework.PreScorePlugin = (*BalancedAllocation)(nil)
	_ framework.ScorePlugin    = (*BalancedAllocation)(nil)
)

// BalancedAllocation is the NodeResourcesBalancedAllocation plugin. It
// prefers the node on which placing the pod makes the configured resources'
// requested fractions most even, so capacity is not stranded (a node with
// all its memory taken but idle cpu can host nothing). It scores by how much
// the pod improves or worsens the node's balance, so a node is not favoured
// merely for being balanced already.
type BalancedAllocation struct {
	scorer *resourceScorer
}

// NewBalancedAllocation builds the plugin; it is a framework.PluginFactory.
// nil args mean DefaultBalancedAllocationArgs(). Given args are defaulted
// (on a copy) and validated, and every problem is reported at once.
func NewBalancedAllocation(_ context.Context, obj runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	args, err := balancedArgs(obj)
	if err != nil {
		return nil, err
	}
	return &BalancedAllocation{scorer: &resourceScorer{
		resources:    args.Resources,
		useRequested: true,
		score:        balancedScore,
	}}, nil
}

func balancedArgs(obj runtime.Object) (*configv1.NodeResourcesBalancedAllocationArgs, error) {
	if obj == nil {
		return DefaultBalancedAllocationArgs(), nil
	}
	args, ok := obj.(*configv1.NodeResourcesBalancedAllocationArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type *v1.NodeResourcesBalancedAllocationArgs, got %T", BalancedAllocationName, obj)
	}
	if args == nil {
		return DefaultBalancedAllocationArgs(), nil
	}
	args = args.DeepCopy()
	SetDefaultsBalancedAllocationArgs(args)
	if errs := ValidateBalancedAllocationArgs(args, nil); len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s args: %w", BalancedAllocationName, errs.ToAggregate())
	}
	return args, nil
}

// Name implements framework.Plugin.
func (b *BalancedAllocation) Name() string { return BalancedAllocationName }

type balancedPreScoreState struct {
	podRequests []int64
}

func (s *balancedPreScoreState) Clone() framework.StateData { return s }

// PreScore computes the pod's per-resource requests once. A pod that
// requests none of the resources cannot change any node's balance, so the
// plugin is skipped for it (kube-scheduler does the same).
func (b *BalancedAllocation) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	reqs := b.scorer.podRequests(pod)
	if allZero(reqs) {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(balancedPreScoreStateKey, &balancedPreScoreState{podRequests: reqs})
	return nil
}

func allZero(v []int64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// Score returns the node's balance score. Without PreScore state the
// requests are computed here, and a pod requesting nothing scores 0.
func (b *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	var reqs []int64
	if d, err := state.Read(balancedPreScoreStateKey); err == nil {
		if s, ok := d.(*balancedPreScoreState); ok {
			reqs = s.podRequests
		}
	}
	if reqs == nil {
		reqs = b.scorer.podRequests(pod)
		if allZero(reqs) {
			return 0, nil
		}
	}
	return b.scorer.scoreNode(ni, reqs)
}

// ScoreExtensions returns nil: scores are already in 0..100.
func (b *BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }

// balancedScore centres on MaxNodeScore/2 and moves by half the change in
// balance the pod causes: above 50 when the pod evens the node out, below
// when it skews it. Integer arithmetic as in kube-scheduler, so the same
// inputs give the same score.
func balancedScore(requested, allocated, allocatable []int64) int64 {
	with := balance(requested, allocatable)
	without := balance(allocated, allocatable)
	half := framework.MaxNodeScore / 2
	return half + (half+with-without)/2
}

// balance is (1 - standard deviation of the requested fractions) scaled to
// MaxNodeScore and truncated. Fractions are capped at 1; resources the node
// does not offer are left out. With two resources the deviation is half
// their difference, which is what the general formula gives.
func balance(requested, allocatable []int64) int64 {
	var fractions [8]float64
	fr := fractions[:0]
	var total float64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := min(float64(requested[i])/float64(allocatable[i]), 1)
		total += f
		fr = append(fr, f)
	}
	var std float64
	switch {
	case len(fr) == 2:
		std = math.Abs((fr[0] - fr[1]) / 2)
	case len(fr) > 2:
		mean := total / float64(len(fr))
		var sum float64
		for _, f := range fr {
			sum += (f - mean) * (f - mean)
		}
		std = math.Sqrt(sum / float64(len(fr)))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}

var _ framework.NodeLocalPlugin = (*BalancedAllocation)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*BalancedAllocation) NodeLocal() bool { return true }
