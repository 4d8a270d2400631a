package loadaware

import (
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/berthsched/berth/pkg/framework"
)

// placed is a pod recently placed on a node: what the estimates add to
// the node's last sample until a sample includes it.
type placed struct {
	uid  types.UID
	node string
	at   time.Time
	// estimated use in absolute units: milli-CPU, bytes, GPUs.
	cpu, mem, gpu int64
}

// tracker remembers the pods placed in the last maxAge, berth's own
// (from Reserve) and other schedulers' (from the pod informer), so that
// estimates cost a map lookup per node instead of a walk over every pod
// of every node. Older placements can never be estimates: any sample the
// TTL still trusts was taken after them.
type tracker struct {
	maxAge time.Duration
	now    func() time.Time
	est    func(*v1.Pod) (cpu, mem, gpu int64)

	mu    sync.Mutex
	byUID map[types.UID]placed
	// view is the per-node index handed to cycles; rebuilt after a change.
	view  map[string][]placed
	dirty bool
}

func newTracker(maxAge time.Duration, now func() time.Time, est func(*v1.Pod) (int64, int64, int64)) *tracker {
	return &tracker{maxAge: maxAge, now: now, est: est, byUID: map[types.UID]placed{}, view: map[string][]placed{}}
}

// add records pod on node at the given time unless it is known already
// (a pod berth reserved keeps its reservation time when the bind shows
// up in the informer).
func (t *tracker) add(pod *v1.Pod, node string, at time.Time) {
	if t.now().Sub(at) > t.maxAge {
		return
	}
	cpu, mem, gpu := t.est(pod)
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.byUID[pod.UID]; ok && p.node == node {
		return
	}
	t.byUID[pod.UID] = placed{uid: pod.UID, node: node, at: at, cpu: cpu, mem: mem, gpu: gpu}
	t.dirty = true
}

func (t *tracker) remove(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byUID[uid]; ok {
		delete(t.byUID, uid)
		t.dirty = true
	}
}

// byNode returns the recent placements per node. The map and its slices
// are never modified after being returned, so a cycle may read them from
// many goroutines.
func (t *tracker) byNode() map[string][]placed {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for uid, p := range t.byUID {
		if now.Sub(p.at) > t.maxAge {
			delete(t.byUID, uid)
			t.dirty = true
		}
	}
	if t.dirty {
		view := make(map[string][]placed, len(t.byUID))
		for _, p := range t.byUID {
			view[p.node] = append(view[p.node], p)
		}
		t.view, t.dirty = view, false
	}
	return t.view
}

// scheduledAt is when a bound pod was placed: its PodScheduled
// condition's transition time (the API server sets it on binding), else
// its start time, else its creation.
func scheduledAt(pod *v1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return pod.CreationTimestamp.Time
}

// handlers keeps the tracker in step with the pod informer: pods other
// schedulers (or a previous berth leader) placed count as estimates too,
// and pods that left or finished stop counting.
func (t *tracker) handlers() cache.ResourceEventHandler {
	upsert := func(obj any) {
		pod, ok := obj.(*v1.Pod)
		if !ok || pod.Spec.NodeName == "" {
			return
		}
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed || pod.DeletionTimestamp != nil {
			t.remove(pod.UID)
			return
		}
		t.add(pod, pod.Spec.NodeName, scheduledAt(pod))
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, obj any) { upsert(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*v1.Pod); ok {
				t.remove(pod.UID)
			}
		},
	}
}

// estimator returns the function that turns a pod into its estimated
// use: requests scaled by estimatePercent, and the default estimate for
// containers that request nothing.
func estimator(a *Args) func(*v1.Pod) (int64, int64, int64) {
	pct := func(k string) int64 {
		if p, ok := a.EstimatePercent[k]; ok {
			return int64(p)
		}
		return 100
	}
	cpuPct, memPct, gpuPct := pct("cpu"), pct("memory"), pct("gpu")
	defCPU, defMem := a.DefaultEstimate.Cpu().MilliValue(), a.DefaultEstimate.Memory().Value()
	gpuRes := a.GPUResources
	return func(pod *v1.Pod) (int64, int64, int64) {
		r := framework.PodRequests(pod)
		cpu, mem := r.MilliCPU, r.Memory
		if cpu == 0 {
			cpu = defCPU
		}
		if mem == 0 {
			mem = defMem
		}
		var gpu int64
		for _, n := range gpuRes {
			gpu += r.Get(n)
		}
		return cpu * cpuPct / 100, mem * memPct / 100, gpu * gpuPct / 100
	}
}
