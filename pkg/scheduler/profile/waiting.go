package profile

import (
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// maxPermitTimeout caps what a Permit plugin may ask for, so a buggy plugin
// cannot hold capacity forever.
const maxPermitTimeout = 15 * time.Minute

type waitingPods struct {
	mu   sync.RWMutex
	pods map[string]*waitingPod
}

func newWaitingPods() *waitingPods { return &waitingPods{pods: map[string]*waitingPod{}} }

func (w *waitingPods) add(wp *waitingPod) {
	w.mu.Lock()
	w.pods[string(wp.pod.UID)] = wp
	w.mu.Unlock()
}

func (w *waitingPods) remove(uid string) {
	w.mu.Lock()
	if wp, ok := w.pods[uid]; ok {
		wp.stopTimers()
		delete(w.pods, uid)
	}
	w.mu.Unlock()
}

func (w *waitingPods) get(uid string) *waitingPod {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if wp, ok := w.pods[uid]; ok {
		return wp
	}
	return nil
}

// waitingPod is a pod held at Permit until every plugin that asked it to
// wait allows it, any rejects it, or a plugin's timeout fires.
type waitingPod struct {
	pod     *v1.Pod
	mu      sync.Mutex
	pending map[string]*time.Timer
	done    chan *framework.Status
	closed  bool
}

var _ framework.WaitingPod = (*waitingPod)(nil)

func newWaitingPod(pod *v1.Pod, waitFor map[string]time.Duration) *waitingPod {
	wp := &waitingPod{pod: pod, pending: map[string]*time.Timer{}, done: make(chan *framework.Status, 1)}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	for name, d := range waitFor {
		name := name
		wp.pending[name] = time.AfterFunc(d, func() {
			wp.Reject(name, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %v", d, name))
		})
	}
	return wp
}

// GetPod implements framework.WaitingPod.
func (w *waitingPod) GetPod() *v1.Pod { return w.pod }

// Allow implements framework.WaitingPod.
func (w *waitingPod) Allow(plugin string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.pending[plugin]; ok {
		t.Stop()
		delete(w.pending, plugin)
	}
	if len(w.pending) == 0 && !w.closed {
		w.closed = true
		w.done <- nil
	}
}

// Reject implements framework.WaitingPod.
func (w *waitingPod) Reject(plugin, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	for _, t := range w.pending {
		t.Stop()
	}
	w.done <- framework.NewStatus(framework.Unschedulable, msg).WithPlugin(plugin)
}

func (w *waitingPod) stopTimers() {
	w.mu.Lock()
	for _, t := range w.pending {
		t.Stop()
	}
	w.mu.Unlock()
}
