package prioritysort

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/berthsched/berth/pkg/framework"
)

// Name is the plugin's name in the registry and in configurations.
const Name = "PrioritySort"

// PrioritySort orders the active queue by pod priority, then by the time
// the pod entered the queue.
type PrioritySort struct{}

var _ framework.QueueSortPlugin = (*PrioritySort)(nil)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &PrioritySort{}, nil
}

// Name returns the plugin's name.
func (*PrioritySort) Name() string { return Name }

// Less reports whether a should be popped before b. A pod without
// spec.priority counts as priority 0, as the API server would have
// resolved it when no default priority class existed.
func (*PrioritySort) Less(a, b *framework.QueuedPodInfo) bool {
	pa, pb := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	return a.Timestamp.Before(b.Timestamp)
}
