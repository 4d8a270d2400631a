package plugins

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/berthsched/berth/pkg/framework"
)

// handle is the berth Handle a berth plugin gets inside kube-scheduler:
// kube-scheduler's snapshot (translated), client, informer factory,
// event recorder, waiting pods and queue, plus the bridge's dynamic
// informer factory. It has no Preemption: kube-scheduler's own
// DefaultPreemption preempts, running the adapted Filters.
type handle struct {
	kube    fwk.Handle
	lister  *lister
	dynamic dynamicinformer.DynamicSharedInformerFactory
}

var _ framework.Handle = (*handle)(nil)

// SnapshotSharedLister returns the translated snapshot.
func (h *handle) SnapshotSharedLister() framework.SharedLister { return h.lister }

// ClientSet returns kube-scheduler's client.
func (h *handle) ClientSet() kubernetes.Interface { return h.kube.ClientSet() }

// SharedInformerFactory returns kube-scheduler's factory, which it starts
// and syncs before it schedules.
func (h *handle) SharedInformerFactory() informers.SharedInformerFactory {
	return h.kube.SharedInformerFactory()
}

// DynamicInformerFactory returns the bridge's dynamic factory (nil
// without a kubeconfig); the factory adapter starts and syncs it once the
// plugin registered its informers.
func (h *handle) DynamicInformerFactory() dynamicinformer.DynamicSharedInformerFactory {
	if h.dynamic == nil {
		return nil
	}
	return h.dynamic
}

// EventRecorder returns the profile's recorder.
func (h *handle) EventRecorder() events.EventRecorder {
	if r := h.kube.EventRecorder(); r != nil {
		return r
	}
	return nil
}

// GetWaitingPod returns the pod waiting at Permit, or nil.
func (h *handle) GetWaitingPod(uid string) framework.WaitingPod {
	wp := h.kube.GetWaitingPod(types.UID(uid))
	if wp == nil {
		return nil
	}
	return waitingPod{wp}
}

// Preemption returns nil: kube-scheduler preempts.
func (h *handle) Preemption() framework.Preemption { return nil }

// PodActivator returns kube-scheduler's queue.
func (h *handle) PodActivator() framework.PodActivator { return h.kube }

// waitingPod is kube-scheduler's waiting pod as berth's.
type waitingPod struct{ kube fwk.WaitingPod }

func (w waitingPod) GetPod() *v1.Pod               { return w.kube.GetPod() }
func (w waitingPod) Allow(pluginName string)       { w.kube.Allow(pluginName) }
func (w waitingPod) Reject(pluginName, msg string) { w.kube.Reject(pluginName, msg) }
