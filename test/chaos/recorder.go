package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// recorder watches a scenario's pods and nodes through its own admin
// connection (never through a proxy under test) and keeps every pod's
// node transitions and every node's lifetime. A watch broken by a fault
// relists; the API forbids a bound pod from changing node, so the states
// a relist skips cannot hide a transition.
type recorder struct {
	mu    sync.Mutex
	pods  map[types.UID]*PodTrace
	nodes map[string]*NodeTrace
	// firstBind is the earliest bind of each pod, for recovery times.
	stop context.CancelFunc
}

// startRecorder watches the pods of namespace ns and the nodes labelled
// scenarioLabel=scenario, and returns once both lists are in.
func startRecorder(ctx context.Context, c kubernetes.Interface, ns, scenario string) (*recorder, error) {
	r := &recorder{pods: map[types.UID]*PodTrace{}, nodes: map[string]*NodeTrace{}}
	ctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	pf := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	nf := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = scenarioLabel + "=" + scenario
	}))
	pi := pf.Core().V1().Pods().Informer()
	ni := nf.Core().V1().Nodes().Informer()
	_, _ = pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.pod(o, false) },
		UpdateFunc: func(_, o any) { r.pod(o, false) },
		DeleteFunc: func(o any) { r.pod(o, true) },
	})
	_, _ = ni.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.node(o, false) },
		UpdateFunc: func(_, o any) { r.node(o, false) },
		DeleteFunc: func(o any) { r.node(o, true) },
	})
	pf.Start(ctx.Done())
	nf.Start(ctx.Done())
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	if !cache.WaitForCacheSync(sctx.Done(), pi.HasSynced, ni.HasSynced) {
		cancel()
		return nil, fmt.Errorf("the recorder's informers did not sync within a minute")
	}
	return r, nil
}

func (r *recorder) pod(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	p, ok := o.(*v1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.pods[p.UID]
	if t == nil {
		t = &PodTrace{Key: p.Namespace + "/" + p.Name, UID: p.UID}
		if g := p.Spec.SchedulingGroup; g != nil && g.PodGroupName != nil {
			t.Group = p.Namespace + "/" + *g.PodGroupName
		}
		r.pods[p.UID] = t
	}
	if n := p.Spec.NodeName; n != "" && (len(t.Binds) == 0 || t.Binds[len(t.Binds)-1].Node != n) {
		t.Binds = append(t.Binds, Bind{Node: n, At: now})
	}
	if deleted && t.Deleted.IsZero() {
		t.Deleted = now
	}
}

func (r *recorder) node(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	n, ok := o.(*v1.Node)
	if !ok {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.nodes[n.Name]
	if t == nil {
		t = &NodeTrace{Seen: now}
		r.nodes[n.Name] = t
	}
	if deleted && t.Deleted.IsZero() {
		t.Deleted = now
	}
}

// bound returns how many of the pods labelled ExpectLabel the watch has
// seen bound and not deleted, how many such pods exist, and when the last
// of them was first seen bound.
func (r *recorder) progress(expected map[types.UID]bool) (bound, total int, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid := range expected {
		t := r.pods[uid]
		if t == nil || !t.Deleted.IsZero() {
			continue
		}
		total++
		if len(t.Binds) > 0 {
			bound++
			if at := t.Binds[0].At; at.After(last) {
				last = at
			}
		}
	}
	return bound, total, last
}

// snapshot copies the traces.
func (r *recorder) snapshot() (map[types.UID]*PodTrace, map[string]*NodeTrace) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pods := make(map[types.UID]*PodTrace, len(r.pods))
	for k, v := range r.pods {
		c := *v
		c.Binds = append([]Bind(nil), v.Binds...)
		pods[k] = &c
	}
	nodes := make(map[string]*NodeTrace, len(r.nodes))
	for k, v := range r.nodes {
		c := *v
		nodes[k] = &c
	}
	return pods, nodes
}
