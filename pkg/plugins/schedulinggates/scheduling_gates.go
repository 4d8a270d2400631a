package schedulinggates

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in the registry and in configurations.
const Name = "SchedulingGates"

// SchedulingGates holds back pods that carry scheduling gates.
type SchedulingGates struct{}

var (
	_ framework.PreEnqueuePlugin  = (*SchedulingGates)(nil)
	_ framework.EnqueueExtensions = (*SchedulingGates)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &SchedulingGates{}, nil
}

// Name returns the plugin's name.
func (*SchedulingGates) Name() string { return Name }

// PreEnqueue rejects a pod that still has scheduling gates, naming them in
// the message in the same form as kube-scheduler
// ("waiting for scheduling gates: [a b]").
func (*SchedulingGates) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	if len(pod.Spec.SchedulingGates) == 0 {
		return nil
	}
	gates := make([]string, len(pod.Spec.SchedulingGates))
	for i, g := range pod.Spec.SchedulingGates {
		gates[i] = g.Name
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("waiting for scheduling gates: %v", gates))
}

// EventsToRegister asks for updates of unscheduled pods that remove their
// gates. Gates can only be removed, never added, after creation, so such an
// update of the gated pod itself is the only thing that can release it.
func (pl *SchedulingGates) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSchedulingGatesEliminated},
			QueueingHintFn: pl.isSchedulableAfterGatesEliminated,
		},
	}, nil
}

// isSchedulableAfterGatesEliminated queues the pod only when the update is
// of the pod itself: another pod losing its gates changes nothing for this
// one.
func (*SchedulingGates) isSchedulableAfterGatesEliminated(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, updated, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if updated == nil || updated.UID != pod.UID {
		return framework.QueueSkip, nil
	}
	if len(updated.Spec.SchedulingGates) != 0 {
		logger.V(5).Info("pod still has scheduling gates", "pod", klog.KObj(pod), "gates", len(updated.Spec.SchedulingGates))
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}
