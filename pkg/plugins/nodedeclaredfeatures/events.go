package nodedeclaredfeatures

import (
	"context"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// EventsToRegister asks for nodes being added or changing their declared
// features: nothing else can make a rejected node acceptable.
//
// kube-scheduler also registers for the pod's own updates, with a hint that
// compares the requirements before and after. berth's queue already sends a
// pending pod whose spec changed back to scheduling (PriorityQueue.Update),
// and the fields the requirements come from are immutable anyway, so there
// is nothing to add.
func (pl *NodeDeclaredFeatures) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeDeclaredFeature},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
	}, nil
}

// isSchedulableAfterNodeChange queues the pod for every new node and for a
// node whose declared features changed. Like kube-scheduler it does not
// check whether the new node or features satisfy this pod: the next attempt
// does, and a node event is rare enough not to matter.
func (*NodeDeclaredFeatures) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil {
		return framework.QueueSkip, nil
	}
	// The API server keeps the list sorted, so equal sets are equal slices.
	if oldNode != nil && slices.Equal(oldNode.Status.DeclaredFeatures, newNode.Status.DeclaredFeatures) {
		return framework.QueueSkip, nil
	}
	logger.V(5).Info("node added or its declared features changed", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return framework.Queue, nil
}
