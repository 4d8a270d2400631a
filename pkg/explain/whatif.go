package explain

import (
	"context"
	"fmt"
	"runtime"
	"sort"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// analysis is the state of one explanation's what-if checks: the pod, the
// evaluation (its snapshot and profile) and the first rejection of every
// rejected node.
type analysis struct {
	ctx      context.Context
	pod      *v1.Pod
	eval     *scheduler.Evaluation
	opts     Options
	nom      core.Nominator
	rejected map[string]*framework.Status
	budgets  *budgetCheck
}

func (a *analysis) profile() *profile.Profile { return a.eval.Profile }

// rejectedBy returns the names of the nodes whose first rejection came
// from plugin, sorted.
func (a *analysis) rejectedBy(plugin string) []string {
	var out []string
	for name, st := range a.rejected {
		if st.Plugin() == plugin {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// outcome is what a what-if run found: the nodes the pod fits on, and
// for the others their first rejection.
type outcome struct {
	feasible []string
	rejected map[string]*framework.Status
}

// reasonsOn summarises the rejections of the given nodes, biggest first,
// as "3 Insufficient cpu, 1 node(s) were unschedulable".
func (o outcome) reasonsOn(nodes []string) string {
	counts := map[string]int{}
	for _, n := range nodes {
		if st, ok := o.rejected[n]; ok {
			for _, r := range st.Reasons() {
				counts[r]++
			}
		}
	}
	return countsString(counts)
}

// tryPod runs PreFilter and then Filter on every node for a changed pod,
// on the same snapshot and profile as the evaluation: the check behind
// every "changing the pod would make it fit" suggestion.
func (a *analysis) tryPod(pod *v1.Pod) (outcome, error) {
	out := outcome{rejected: map[string]*framework.Status{}}
	prof := a.profile()
	all := a.eval.Snapshot.List()
	state := framework.NewCycleState()
	preRes, _, st := prof.RunPreFilterPlugins(a.ctx, state, pod, all)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return out, st.AsError()
		}
		for _, ni := range all {
			out.rejected[ni.Node().Name] = st
		}
		return out, nil
	}
	nodes := all
	if !preRes.AllNodes() {
		nodes = nil
		excluded := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [PreFilterResult]")
		for _, ni := range all {
			if preRes.NodeNames.Has(ni.Node().Name) {
				nodes = append(nodes, ni)
			} else {
				out.rejected[ni.Node().Name] = excluded
			}
		}
	}
	statuses := make([]*framework.Status, len(nodes))
	profile.Parallelize(a.ctx, runtime.GOMAXPROCS(0), len(nodes), func(i int) {
		statuses[i] = core.FilterNode(a.ctx, prof, a.nom, state, pod, nodes[i])
	})
	for i, st := range statuses {
		name := nodes[i].Node().Name
		switch {
		case st.IsSuccess():
			out.feasible = append(out.feasible, name)
		case st.Code() == framework.Error:
			return out, fmt.Errorf("what-if on node %s: %w", name, st.AsError())
		default:
			out.rejected[name] = st
		}
	}
	sort.Strings(out.feasible)
	return out, nil
}

// baseState returns the pod's cycle state after PreFilter (the
// evaluation's), or nil when PreFilter rejected the pod, in which case no
// node-level change can help. Callers clone it before changing anything.
func (a *analysis) baseState() (*framework.CycleState, error) {
	if a.eval.Result.Diagnosis.PreFilterMsg != "" {
		return nil, nil
	}
	return a.eval.State, nil
}

// tryNode runs the filters for the original pod on a changed copy of a
// node: change gets a clone of the node's NodeInfo and a clone of the
// cycle state, and must keep the state consistent with what it changes
// (RemovePod/AddPod extensions).
func (a *analysis) tryNode(name string, change func(state *framework.CycleState, ni *framework.NodeInfo) error) (*framework.Status, error) {
	base, err := a.baseState()
	if err != nil || base == nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "PreFilter rejected the pod"), err
	}
	ni, err := a.eval.Snapshot.Get(name)
	if err != nil {
		return nil, err
	}
	state, clone := base.Clone(), ni.Clone()
	if err := change(state, clone); err != nil {
		return nil, err
	}
	st := core.FilterNode(a.ctx, a.profile(), a.nom, state, a.pod, clone)
	if st.Code() == framework.Error {
		return nil, st.AsError()
	}
	return st, nil
}
