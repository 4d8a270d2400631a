package st

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"

	"github.com/berthsched/berth/pkg/framework"
)

// Snapshot is a minimal, map-backed framework.SharedLister for plugin unit
// tests. The engine's real snapshot lives in pkg/scheduler/cache.
type Snapshot struct {
	nodes  []*framework.NodeInfo
	byName map[string]*framework.NodeInfo
}

// NewSnapshot places pods on their spec.nodeName among nodes. Pods bound to a
// node that is not listed are ignored.
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	s := &Snapshot{byName: map[string]*framework.NodeInfo{}}
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		s.nodes = append(s.nodes, ni)
		s.byName[n.Name] = ni
	}
	for _, p := range pods {
		if ni, ok := s.byName[p.Spec.NodeName]; ok {
			ni.AddPod(p)
		}
	}
	// Count image spread the way the engine's snapshot does.
	counts := map[string]int{}
	for _, ni := range s.nodes {
		for name := range ni.ImageStates {
			counts[name]++
		}
	}
	for _, ni := range s.nodes {
		for name, st := range ni.ImageStates {
			st.NumNodes = counts[name]
		}
	}
	return s
}

// NodeInfos implements framework.SharedLister.
func (s *Snapshot) NodeInfos() framework.NodeInfoLister { return s }

// List implements framework.NodeInfoLister.
func (s *Snapshot) List() []*framework.NodeInfo { return s.nodes }

// HavePodsWithAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo {
	var out []*framework.NodeInfo
	for _, n := range s.nodes {
		if len(n.PodsWithAffinity) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// HavePodsWithRequiredAntiAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo {
	var out []*framework.NodeInfo
	for _, n := range s.nodes {
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// Get implements framework.NodeInfoLister.
func (s *Snapshot) Get(name string) (*framework.NodeInfo, error) {
	if ni, ok := s.byName[name]; ok {
		return ni, nil
	}
	return nil, fmt.Errorf("node %q not found", name)
}

// Handle is a framework.Handle for plugin unit tests: a snapshot, a fake
// clientset and an informer factory over it.
type Handle struct {
	Lister    framework.SharedLister
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Recorder  events.EventRecorder
	// Preempt and Activator answer Preemption and PodActivator; nil
	// unless a test sets them.
	Preempt   framework.Preemption
	Activator framework.PodActivator
	// Dynamic answers DynamicInformerFactory; nil unless a test sets it.
	Dynamic dynamicinformer.DynamicSharedInformerFactory
}

// NewHandle returns a Handle over snap (may be nil) with a fake clientset
// holding objs.
func NewHandle(snap framework.SharedLister, objs ...runtime.Object) *Handle {
	c := fake.NewClientset(objs...)
	return &Handle{Lister: snap, Client: c, Informers: informers.NewSharedInformerFactory(c, 0), Recorder: &events.FakeRecorder{}}
}

// SnapshotSharedLister implements framework.Handle.
func (h *Handle) SnapshotSharedLister() framework.SharedLister { return h.Lister }

// ClientSet implements framework.Handle.
func (h *Handle) ClientSet() kubernetes.Interface { return h.Client }

// SharedInformerFactory implements framework.Handle.
func (h *Handle) SharedInformerFactory() informers.SharedInformerFactory { return h.Informers }

// EventRecorder implements framework.Handle.
func (h *Handle) EventRecorder() events.EventRecorder { return h.Recorder }

// GetWaitingPod implements framework.Handle; unit tests have none.
func (h *Handle) GetWaitingPod(string) framework.WaitingPod { return nil }

// DynamicInformerFactory implements framework.Handle.
func (h *Handle) DynamicInformerFactory() dynamicinformer.DynamicSharedInformerFactory {
	return h.Dynamic
}

// Preemption implements framework.Handle.
func (h *Handle) Preemption() framework.Preemption { return h.Preempt }

// PodActivator implements framework.Handle.
func (h *Handle) PodActivator() framework.PodActivator { return h.Activator }

// SyncInformers starts the informers that plugins registered on the
// handle's factory (New asks for listers) and waits until they have listed
// the fake clientset's objects. Call it after building the plugins.
func (h *Handle) SyncInformers(ctx context.Context) error {
	h.Informers.Start(ctx.Done())
	for typ, ok := range h.Informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	return nil
}

// Events drains the events rec has recorded so far, in the order they
// were recorded (rec must have a buffered Events channel, as
// events.NewFakeRecorder(n) makes).
func Events(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
