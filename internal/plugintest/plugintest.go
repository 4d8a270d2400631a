package plugintest

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// PreemptionHandle is a framework.Handle whose Preemption is itself, for
// plugin unit tests: an st.Handle, a profile over explicit plugins, and an
// in-memory set of nominated pods.
type PreemptionHandle struct {
	*st.Handle
	Runner *Runner
	// Metrics, when set, receives the preemption measurements.
	Metrics framework.PreemptionMetrics
	// Gangs, when set, answers GangOf: a test's gang membership.
	Gangs func(pod *v1.Pod) []*v1.Pod

	mu        sync.Mutex
	nominated map[string][]*framework.PodInfo
}

var (
	_ framework.Handle     = (*PreemptionHandle)(nil)
	_ framework.Preemption = (*PreemptionHandle)(nil)
)

// NewPreemptionHandle wraps h with a runner over plugins, each enabled at
// every extension point it implements. It panics on a plugin set a profile
// cannot hold (a test bug).
func NewPreemptionHandle(h *st.Handle, plugins ...framework.Plugin) *PreemptionHandle {
	prof, err := profile.NewFromPlugins("test", h, plugins...)
	if err != nil {
		panic(err)
	}
	ph := &PreemptionHandle{Handle: h, nominated: map[string][]*framework.PodInfo{}}
	ph.Runner = &Runner{FilterRunner: core.FilterRunner{Profile: prof, Nominator: ph}}
	return ph
}

// Nominate records pod as nominated to node.
func (h *PreemptionHandle) Nominate(pod *v1.Pod, node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nominated[node] = append(h.nominated[node], framework.NewPodInfo(pod))
}

// NominatedPodsForNode implements framework.PodNominator.
func (h *PreemptionHandle) NominatedPodsForNode(node string) []*framework.PodInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*framework.PodInfo(nil), h.nominated[node]...)
}

// Preemption implements framework.Handle.
func (h *PreemptionHandle) Preemption() framework.Preemption { return h }

// FilterRunner implements framework.Preemption.
func (h *PreemptionHandle) FilterRunner() framework.FilterRunner { return h.Runner }

// PreemptionMetrics implements framework.Preemption.
func (h *PreemptionHandle) PreemptionMetrics() framework.PreemptionMetrics { return h.Metrics }

// GangOf implements framework.Preemption through Gangs (nil: no gangs).
func (h *PreemptionHandle) GangOf(pod *v1.Pod) []*v1.Pod {
	if h.Gangs == nil {
		return nil
	}
	return h.Gangs(pod)
}

// Runner is core.FilterRunner plus the PreFilter and plain Filter runs a
// test needs to set up a cycle by hand.
type Runner struct {
	core.FilterRunner
}

// RunPreFilterPlugins runs PreFilter and records skipped plugins in state.
// It returns the first rejection or error.
func (r *Runner) RunPreFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	_, _, st := r.Profile.RunPreFilterPlugins(ctx, state, pod, nodes)
	return st
}

// RunFilterPlugins returns the first rejection on ni, ignoring nominated
// pods.
func (r *Runner) RunFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	return r.Profile.RunFilterPlugins(ctx, state, pod, ni)
}
