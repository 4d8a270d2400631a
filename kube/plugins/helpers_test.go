package plugins

import (
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	fwk "k8s.io/kube-scheduler/framework"
)

// fakeHandle is the part of kube-scheduler's Handle the adapters use;
// calling anything else panics on the nil embedded interface, which is
// how a test learns the adapter reached further than it should.
type fakeHandle struct {
	fwk.Handle
	snap      *swappable
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
}

func (h *fakeHandle) SnapshotSharedLister() fwk.SharedLister { return h.snap }
func (h *fakeHandle) ClientSet() kubernetes.Interface        { return h.client }
func (h *fakeHandle) KubeConfig() *restclient.Config         { return nil }
func (h *fakeHandle) ProfileName() string                    { return "berth-plugins" }
func (h *fakeHandle) EventRecorder() events.EventRecorderLogger {
	return nil
}
func (h *fakeHandle) SharedInformerFactory() informers.SharedInformerFactory { return h.informers }

// swappable is one snapshot lister whose contents a test replaces, as
// kube-scheduler updates its one snapshot in place each cycle.
type swappable struct{ fwk.SharedLister }
