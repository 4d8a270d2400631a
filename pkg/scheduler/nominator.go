package scheduler

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
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

// Empty implements core.Nominator: nothing is nominated anywhere.
func (n *nominator) Empty() bool { return n == nil || n.count.Load() == 0 }

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
