package nodename

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "NodeName"
	// ErrReason is the rejection reason, identical to kube-scheduler's.
	ErrReason = "node(s) didn't match the requested node name"
)

// NodeName rejects every node but the one the pod names.
type NodeName struct{}

var (
	_ framework.PreFilterPlugin   = (*NodeName)(nil)
	_ framework.FilterPlugin      = (*NodeName)(nil)
	_ framework.EnqueueExtensions = (*NodeName)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &NodeName{}, nil
}

// Name returns the plugin's name.
func (*NodeName) Name() string { return Name }

// PreFilter narrows the candidates to the named node, so the other nodes
// are neither filtered nor considered for preemption.
func (*NodeName) PreFilter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if pod.Spec.NodeName == "" {
		return nil, nil
	}
	return &framework.PreFilterResult{NodeNames: sets.New(pod.Spec.NodeName)}, nil
}

// PreFilterExtensions returns nil: the plugin keeps no state.
func (*NodeName) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node unless the pod names no node or names this one.
func (*NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if !Fits(pod, nodeInfo) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}

// Fits reports whether the pod may run on the node as far as spec.nodeName
// is concerned.
func Fits(pod *v1.Pod, nodeInfo *framework.NodeInfo) bool {
	return pod.Spec.NodeName == "" || (nodeInfo.Node() != nil && pod.Spec.NodeName == nodeInfo.Node().Name)
}

// EventsToRegister asks for node additions: only the named node appearing
// can help. No hint is needed; such pods are rare.
func (*NodeName) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
	}, nil
}

var _ framework.NodeLocalPlugin = (*NodeName)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*NodeName) NodeLocal() bool { return true }
