package st

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/berthsched/berth/pkg/framework"
)

// PreemptionHandle is a framework.PreemptionHandle for plugin unit tests:
// a Handle plus a FilterRunner over explicit plugin lists and an in-memory
// set of nominated pods.
type PreemptionHandle struct {
	*Handle
	Runner *PluginRunner
	// Metrics, when set, receives the preemption measurements.
	Metrics framework.PreemptionMetrics

	mu        sync.Mutex
	nominated map[string][]*framework.PodInfo
}

var _ framework.PreemptionHandle = (*PreemptionHandle)(nil)

// NewPreemptionHandle wraps h with a runner over preFilters and filters.
func NewPreemptionHandle(h *Handle, preFilters []framework.PreFilterPlugin, filters []framework.FilterPlugin) *PreemptionHandle {
	ph := &PreemptionHandle{Handle: h, nominated: map[string][]*framework.PodInfo{}}
	ph.Runner = &PluginRunner{PreFilters: preFilters, Filters: filters, Nominator: ph}
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

// FilterRunner implements framework.PreemptionHandle.
func (h *PreemptionHandle) FilterRunner() framework.FilterRunner { return h.Runner }

// PreemptionMetrics implements framework.PreemptionHandle.
func (h *PreemptionHandle) PreemptionMetrics() framework.PreemptionMetrics { return h.Metrics }

// PluginRunner runs PreFilter extensions and Filter plugins in order, the
// way a profile does (without metrics or panic recovery).
type PluginRunner struct {
	PreFilters []framework.PreFilterPlugin
	Filters    []framework.FilterPlugin
	Nominator  framework.PodNominator
}

// RunPreFilterPlugins runs PreFilter and records skipped plugins in state.
func (r *PluginRunner) RunPreFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	for _, pl := range r.PreFilters {
		_, st := pl.PreFilter(ctx, state, pod, nodes)
		if st.IsSkip() {
			if state.SkipFilterPlugins == nil {
				state.SkipFilterPlugins = map[string]struct{}{}
			}
			state.SkipFilterPlugins[pl.Name()] = struct{}{}
			continue
		}
		if !st.IsSuccess() {
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPlugins returns the first rejection.
func (r *PluginRunner) RunFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, pl := range r.Filters {
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		if st := pl.Filter(ctx, state, pod, ni); !st.IsSuccess() {
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunPreFilterExtensionAddPod implements framework.FilterRunner.
func (r *PluginRunner) RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, add *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return r.runExtensions(state, func(ext framework.PreFilterExtensions) *framework.Status {
		return ext.AddPod(ctx, state, pod, add, ni)
	})
}

// RunPreFilterExtensionRemovePod implements framework.FilterRunner.
func (r *PluginRunner) RunPreFilterExtensionRemovePod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, rm *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return r.runExtensions(state, func(ext framework.PreFilterExtensions) *framework.Status {
		return ext.RemovePod(ctx, state, pod, rm, ni)
	})
}

// runExtensions calls fn on the PreFilter extensions of the plugins whose
// PreFilter did not skip, and returns the first failure.
func (r *PluginRunner) runExtensions(state *framework.CycleState, fn func(framework.PreFilterExtensions) *framework.Status) *framework.Status {
	for _, pl := range r.PreFilters {
		ext := pl.PreFilterExtensions()
		if ext == nil {
			continue
		}
		if _, skip := state.SkipFilterPlugins[pl.Name()]; skip {
			continue
		}
		if st := fn(ext); !st.IsSuccess() {
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods implements framework.FilterRunner:
// with the node's nominated pods of priority >= pod's added, then without.
func (r *PluginRunner) RunFilterPluginsWithNominatedPods(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if r.Nominator != nil && ni.Node() != nil {
		var stateWith *framework.CycleState
		var nodeWith *framework.NodeInfo
		for _, pi := range r.Nominator.NominatedPodsForNode(ni.Node().Name) {
			if pi.Pod.UID == pod.UID || corev1helpers.PodPriority(pi.Pod) < corev1helpers.PodPriority(pod) {
				continue
			}
			if nodeWith == nil {
				stateWith, nodeWith = state.Clone(), ni.Clone()
			}
			nodeWith.AddPodInfo(pi)
			if st := r.RunPreFilterExtensionAddPod(ctx, stateWith, pod, pi, nodeWith); !st.IsSuccess() {
				return framework.NewStatus(framework.Error, st.Message())
			}
		}
		if nodeWith != nil {
			if st := r.RunFilterPlugins(ctx, stateWith, pod, nodeWith); !st.IsSuccess() {
				return st
			}
		}
	}
	return r.RunFilterPlugins(ctx, state, pod, ni)
}
