package nodeunschedulable

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "NodeUnschedulable"
	// ErrReasonUnschedulable is the rejection reason, identical to
	// kube-scheduler's.
	ErrReasonUnschedulable = "node(s) were unschedulable"
)

// unschedulableTaint is the taint a cordoned node is treated as having; a
// pod tolerating it may land on the node even while cordoned.
var unschedulableTaint = v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}

// NodeUnschedulable rejects cordoned nodes for pods that do not tolerate
// the unschedulable taint.
type NodeUnschedulable struct{}

var (
	_ framework.FilterPlugin      = (*NodeUnschedulable)(nil)
	_ framework.EnqueueExtensions = (*NodeUnschedulable)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &NodeUnschedulable{}, nil
}

// Name returns the plugin's name.
func (*NodeUnschedulable) Name() string { return Name }

// Filter rejects a cordoned node unless the pod tolerates the
// unschedulable taint.
func (*NodeUnschedulable) Filter(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil || !node.Spec.Unschedulable {
		return nil
	}
	if toleratesUnschedulable(klog.FromContext(ctx), pod) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnschedulable)
}

func toleratesUnschedulable(logger klog.Logger, pod *v1.Pod) bool {
	// Comparison operators (Lt/Gt) are alpha and off by default in
	// kube-scheduler v1.37, so they never tolerate here either.
	return corev1helpers.TolerationsTolerateTaint(logger, pod.Spec.Tolerations, &unschedulableTaint, false)
}

// EventsToRegister asks for nodes being added or having their taints or
// cordon changed (kube-scheduler reports a spec.unschedulable change as a
// taint update), and for the pod's own tolerations changing.
func (pl *NodeUnschedulable) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodTolerations},
			QueueingHintFn: pl.isSchedulableAfterPodTolerationChange,
		},
	}, nil
}

// isSchedulableAfterNodeChange queues the pod when a schedulable node is
// added or a node is uncordoned.
func (*NodeUnschedulable) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil || newNode.Spec.Unschedulable {
		return framework.QueueSkip, nil
	}
	if oldNode == nil || oldNode.Spec.Unschedulable {
		logger.V(5).Info("node became schedulable", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterPodTolerationChange queues the pod when its own update
// made it tolerate the unschedulable taint. Tolerations can only be added
// to a pod, so there is no need to compare with the old object.
func (*NodeUnschedulable) isSchedulableAfterPodTolerationChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, updated, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if updated == nil || updated.UID != pod.UID {
		return framework.QueueSkip, nil
	}
	if toleratesUnschedulable(logger, updated) {
		logger.V(5).Info("pod now tolerates the unschedulable taint", "pod", klog.KObj(updated))
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

var _ framework.NodeLocalPlugin = (*NodeUnschedulable)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*NodeUnschedulable) NodeLocal() bool { return true }
