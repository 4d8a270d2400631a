package profile

import (
	"github.com/berthsched/berth/pkg/framework"
)

// wrapHandle adds the profile's waiting pods to h while keeping h's
// optional abilities (framework.PreemptionHandle) visible to plugins that
// assert them: a plain struct embedding framework.Handle would hide them.
func wrapHandle(h framework.Handle, w *waitingPods) framework.Handle {
	base := handleWithWaiting{Handle: h, w: w}
	if ph, ok := h.(framework.PreemptionHandle); ok {
		return preemptionHandleWithWaiting{handleWithWaiting: base, ph: ph}
	}
	return base
}

// preemptionHandleWithWaiting is handleWithWaiting for a PreemptionHandle.
type preemptionHandleWithWaiting struct {
	handleWithWaiting
	ph framework.PreemptionHandle
}

var _ framework.PreemptionHandle = preemptionHandleWithWaiting{}

func (h preemptionHandleWithWaiting) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	return h.ph.NominatedPodsForNode(nodeName)
}

func (h preemptionHandleWithWaiting) FilterRunner() framework.FilterRunner {
	return h.ph.FilterRunner()
}

func (h preemptionHandleWithWaiting) PreemptionMetrics() framework.PreemptionMetrics {
	return h.ph.PreemptionMetrics()
}
