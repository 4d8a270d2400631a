package nodeports

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "NodePorts"
	// ErrReason is the rejection reason, identical to kube-scheduler's.
	ErrReason = "node(s) didn't have free ports for the requested pod ports"

	preFilterStateKey framework.StateKey = "PreFilter" + Name
)

// NodePorts rejects nodes whose used host ports clash with the pod's.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = (*NodePorts)(nil)
	_ framework.FilterPlugin      = (*NodePorts)(nil)
	_ framework.EnqueueExtensions = (*NodePorts)(nil)
)

// preFilterState is the pod's host ports. It does not depend on the pods on
// the node, so preemption's what-if copies can share it.
type preFilterState []v1.ContainerPort

// Clone returns the state itself; it is never modified after PreFilter.
func (s preFilterState) Clone() framework.StateData { return s }

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &NodePorts{}, nil
}

// Name returns the plugin's name.
func (*NodePorts) Name() string { return Name }

// PreFilter records the pod's host ports, or returns Skip when it has none
// so that Filter is not run at all.
func (*NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	ports := framework.HostPorts(pod)
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, preFilterState(ports))
	return nil, nil
}

// PreFilterExtensions returns nil: the state does not depend on other pods.
func (*NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node when one of the pod's host ports is in use there.
func (*NodePorts) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	data, err := state.Read(preFilterStateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preFilterStateKey, err))
	}
	ports, ok := data.(preFilterState)
	if !ok {
		return framework.AsStatus(fmt.Errorf("cycle state %q has type %T, want nodeports.preFilterState", preFilterStateKey, data))
	}
	if !fitsPorts(ports, nodeInfo.UsedPorts) {
		return framework.NewStatus(framework.Unschedulable, ErrReason)
	}
	return nil
}

// Fits reports whether none of the pod's host ports is in use on the node.
func Fits(pod *v1.Pod, nodeInfo *framework.NodeInfo) bool {
	return fitsPorts(framework.HostPorts(pod), nodeInfo.UsedPorts)
}

func fitsPorts(want []v1.ContainerPort, used framework.HostPortInfo) bool {
	for _, p := range want {
		if used.CheckConflict(p.HostIP, string(p.Protocol), p.HostPort) {
			return false
		}
	}
	return true
}

// EventsToRegister asks for deletions of assigned pods (which free ports;
// container ports are immutable, so pod updates never do) and for new
// nodes.
func (pl *NodePorts) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterPodDeleted,
		},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
	}, nil
}

// isSchedulableAfterPodDeleted queues the pod only when the deleted pod was
// on (or nominated to) a node and held a host port the pod wants.
func (*NodePorts) isSchedulableAfterPodDeleted(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	deleted, _, err := pluginutil.As[*v1.Pod](oldObj, nil)
	if err != nil {
		return framework.Queue, err
	}
	if deleted == nil || (deleted.Spec.NodeName == "" && deleted.Status.NominatedNodeName == "") {
		return framework.QueueSkip, nil
	}
	freed := framework.HostPorts(deleted)
	if len(freed) == 0 {
		return framework.QueueSkip, nil
	}
	freedSet := make(framework.HostPortInfo, len(freed))
	for _, p := range freed {
		freedSet.Add(p.HostIP, string(p.Protocol), p.HostPort)
	}
	if fitsPorts(framework.HostPorts(pod), freedSet) {
		logger.V(4).Info("deleted pod shares no host port with the pod", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

var _ framework.NodeLocalPlugin = (*NodePorts)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*NodePorts) NodeLocal() bool { return true }
