package scheduler

import (
	"context"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// nominator remembers which pending pods are nominated to which node: the
// pods whose status.nominatedNodeName is set, plus nominations preemption
// made in memory before the API reflects them. Later cycles treat pods
// nominated to a node with a priority at least their own as if they were
// already running there, so the room preemption freed is kept for the
// preemptor.
//
// It is safe for concurrent use: informer handlers write it, filters read
// it in parallel.
type nominator struct {
	mu sync.RWMutex
	// byNode lists the nominated pods of each node.
	byNode map[string][]*framework.PodInfo
	// nodeOf is the reverse index, by pod UID.
	nodeOf map[types.UID]string
	// count mirrors len(nodeOf) so the filter hot path can skip the lock
	// when nothing is nominated (the common case).
	count atomic.Int64
}

func newNominator() *nominator {
	return &nominator{byNode: map[string][]*framework.PodInfo{}, nodeOf: map[types.UID]string{}}
}

// AddNominatedPod records pod as nominated to nodeName, or to its
// status.nominatedNodeName when nodeName is empty; a pod with neither is
// only removed. An earlier nomination of the same pod is replaced. Call it
// when an unscheduled pod is added, and with the node preemption picked.
func (n *nominator) AddNominatedPod(logger klog.Logger, pod *v1.Pod, nodeName string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addLocked(logger, pod, nodeName)
}

func (n *nominator) addLocked(logger klog.Logger, pod *v1.Pod, nodeName string) {
	n.deleteLocked(pod.UID)
	if nodeName == "" {
		nodeName = pod.Status.NominatedNodeName
	}
	if nodeName == "" || pod.Spec.NodeName != "" {
		// Bound pods are accounted for by the cache, not as nominations.
		return
	}
	n.nodeOf[pod.UID] = nodeName
	n.byNode[nodeName] = append(n.byNode[nodeName], framework.NewPodInfo(pod))
	n.count.Add(1)
	logger.V(4).Info("Pod nominated to node", "pod", klog.KObj(pod), "node", nodeName)
}

// UpdateNominatedPod follows an update of an unscheduled pod. When neither
// the old nor the new object carries a nominatedNodeName but the pod is
// nominated in memory, the informer is only behind the scheduler (the
// preemption's status patch has not arrived yet), so the in-memory
// nomination is kept.
func (n *nominator) UpdateNominatedPod(logger klog.Logger, oldPod, newPod *v1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	node := ""
	if oldPod != nil && oldPod.Status.NominatedNodeName == "" && newPod.Status.NominatedNodeName == "" {
		node = n.nodeOf[newPod.UID]
	}
	n.addLocked(logger, newPod, node)
}

// DeleteNominatedPodIfExists forgets the pod's nomination: call it when
// the pod is deleted, bound or assumed.
func (n *nominator) DeleteNominatedPodIfExists(pod *v1.Pod) {
	if n.count.Load() == 0 {
		return
	}
	n.mu.Lock()
	n.deleteLocked(pod.UID)
	n.mu.Unlock()
}

func (n *nominator) deleteLocked(uid types.UID) {
	node, ok := n.nodeOf[uid]
	if !ok {
		return
	}
	delete(n.nodeOf, uid)
	n.count.Add(-1)
	list := n.byNode[node]
	for i, pi := range list {
		if pi.Pod.UID == uid {
			// Copy rather than shift in place: readers may hold the
			// slice NominatedPodsForNode returned before.
			out := make([]*framework.PodInfo, 0, len(list)-1)
			out = append(out, list[:i]...)
			out = append(out, list[i+1:]...)
			list = out
			break
		}
	}
	if len(list) == 0 {
		delete(n.byNode, node)
	} else {
		n.byNode[node] = list
	}
}

// NominatedNodeName returns the node the pod is nominated to, if any.
func (n *nominator) NominatedNodeName(uid types.UID) string {
	if n.count.Load() == 0 {
		return ""
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodeOf[uid]
}

// NominatedPodsForNode implements framework.PodNominator.
func (n *nominator) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	if n == nil || n.count.Load() == 0 {
		return nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	list := n.byNode[nodeName]
	if len(list) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), list...)
}

// filterProfile is what filtering with nominated pods needs from a profile.
type filterProfile interface {
	RunFilterPlugins(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status
	RunPreFilterExtensionAddPod(ctx context.Context, state *framework.CycleState, pod *v1.Pod, podToAdd *framework.PodInfo, nodeInfo *framework.NodeInfo) *framework.Status
}

// runFilterWithNominatedPods is what findNodesThatPassFilters calls per
// node instead of the cycle's plain filter closure (run, from
// prof.FilterRunner(state)); see filterWithNominatedPods. When nothing is
// nominated anywhere it is one atomic load on top of run.
func runFilterWithNominatedPods(ctx context.Context, nom *nominator, prof filterProfile, run func(context.Context, *v1.Pod, *framework.NodeInfo) *framework.Status,
	state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if nom == nil || nom.count.Load() == 0 {
		return run(ctx, pod, nodeInfo)
	}
	return filterWithNominatedPods(ctx, prof, run, nom, state, pod, nodeInfo)
}

// filterWithNominatedPods runs the filters for pod on nodeInfo honouring
// the node's nominated pods, as kube-scheduler does. Pods nominated to the
// node with priority >= the pod's are first added (to a clone of the node
// and, through the AddPod extensions, to a clone of the state) and the
// filters run; if they pass, the filters run again on the node as it is.
// Both runs must pass: the first keeps the room for the higher-priority
// nominees, the second guards filters (like inter-pod affinity) that a
// nominee might satisfy only by being there, which it is not yet. When no
// pod qualifies only the plain run happens.
//
// run is the plain filter bound to state (nil means prof.RunFilterPlugins
// with state); the run with nominees uses prof.RunFilterPlugins on the
// cloned state, which keeps the skipped-plugin set.
func filterWithNominatedPods(ctx context.Context, prof filterProfile, run func(context.Context, *v1.Pod, *framework.NodeInfo) *framework.Status,
	nom framework.PodNominator, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if run == nil {
		run = func(ctx context.Context, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
			return prof.RunFilterPlugins(ctx, state, pod, ni)
		}
	}
	var nominated []*framework.PodInfo
	if nom != nil && nodeInfo.Node() != nil {
		nominated = nom.NominatedPodsForNode(nodeInfo.Node().Name)
	}
	if len(nominated) > 0 {
		added, stateWith, nodeWith, st := addNominatedPods(ctx, prof, nominated, state, pod, nodeInfo)
		if st != nil {
			return st
		}
		if added {
			if st := prof.RunFilterPlugins(ctx, stateWith, pod, nodeWith); !st.IsSuccess() {
				return st
			}
		}
	}
	return run(ctx, pod, nodeInfo)
}

// addNominatedPods returns clones of state and nodeInfo with the nominated
// pods of priority >= pod's added, or added=false (and the originals) when
// none qualifies.
func addNominatedPods(ctx context.Context, ext filterProfile, nominated []*framework.PodInfo, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (bool, *framework.CycleState, *framework.NodeInfo, *framework.Status) {
	prio := corev1helpers.PodPriority(pod)
	var stateOut *framework.CycleState
	var nodeOut *framework.NodeInfo
	for _, pi := range nominated {
		if pi.Pod.UID == pod.UID || corev1helpers.PodPriority(pi.Pod) < prio {
			continue
		}
		if nodeOut == nil {
			stateOut, nodeOut = state.Clone(), nodeInfo.Clone()
		}
		nodeOut.AddPodInfo(pi)
		if st := ext.RunPreFilterExtensionAddPod(ctx, stateOut, pod, pi, nodeOut); !st.IsSuccess() {
			// A failing extension is a plugin error, not a verdict.
			return false, state, nodeInfo, framework.NewStatus(framework.Error, st.Message()).WithPlugin(st.Plugin())
		}
	}
	if nodeOut == nil {
		return false, state, nodeInfo, nil
	}
	return true, stateOut, nodeOut, nil
}
