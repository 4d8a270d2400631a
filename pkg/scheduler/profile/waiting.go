package profile

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/framework"
)

// maxPermitTimeout caps what a Permit plugin may ask for, so a buggy plugin
// cannot hold capacity forever.
const maxPermitTimeout = 15 * time.Minute

// waitingPods is a profile's pods held at Permit, by UID. Their timeouts
// are measured on clock (the scheduler's, fake in tests), so a test can
// step past a timeout instead of sleeping through it.
type waitingPods struct {
	clock clock.Clock
	mu    sync.RWMutex
	pods  map[string]*waitingPod
}

// newWaitingPods returns an empty map whose timeouts run on c; nil means
// the real clock.
func newWaitingPods(c clock.Clock) *waitingPods {
	if c == nil {
		c = clock.RealClock{}
	}
	return &waitingPods{clock: c, pods: map[string]*waitingPod{}}
}

func (w *waitingPods) add(wp *waitingPod) {
	w.mu.Lock()
	w.pods[string(wp.pod.UID)] = wp
	w.mu.Unlock()
}

func (w *waitingPods) remove(uid string) {
	w.mu.Lock()
	delete(w.pods, uid)
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

// wait blocks until wp is allowed or rejected, until the earliest timeout
// of a plugin that has not allowed it yet passes on the clock (which
// rejects it), or until ctx is done. No timer runs while nobody waits: the
// deadlines are absolute, so a wait that starts late still ends on time.
func (w *waitingPods) wait(ctx context.Context, wp *waitingPod) *framework.Status {
	for {
		plugin, due, ok := wp.nextDeadline()
		if !ok {
			// Allowed or rejected: the verdict is in the buffered channel.
			return <-wp.done
		}
		d := due.at.Sub(w.clock.Now())
		if d <= 0 {
			// A fake timer that is already due would only fire on the
			// next step of the clock, so do not start one.
			wp.timeOut(plugin, due.after)
			continue
		}
		t := w.clock.NewTimer(d)
		select {
		case st := <-wp.done:
			t.Stop()
			return st
		case <-t.C():
			wp.timeOut(plugin, due.after)
		case <-ctx.Done():
			t.Stop()
			wp.Reject("", "scheduler is shutting down")
			return framework.NewStatus(framework.Error, "context cancelled while waiting on permit")
		}
	}
}

// deadline is when one plugin's wait times out, and the timeout it asked
// for (for the rejection message).
type deadline struct {
	at    time.Time
	after time.Duration
}

// waitingPod is a pod held at Permit until every plugin that asked it to
// wait allows it, any rejects it, or a plugin's timeout passes.
type waitingPod struct {
	pod     *v1.Pod
	mu      sync.Mutex
	pending map[string]deadline
	done    chan *framework.Status
	closed  bool
}

var _ framework.WaitingPod = (*waitingPod)(nil)

// newWaitingPod parks pod from now on until each plugin in waitFor allows
// it or its timeout passes.
func newWaitingPod(pod *v1.Pod, waitFor map[string]time.Duration, now time.Time) *waitingPod {
	wp := &waitingPod{pod: pod, pending: make(map[string]deadline, len(waitFor)), done: make(chan *framework.Status, 1)}
	for name, d := range waitFor {
		wp.pending[name] = deadline{at: now.Add(d), after: d}
	}
	return wp
}

// GetPod implements framework.WaitingPod.
func (w *waitingPod) GetPod() *v1.Pod { return w.pod }

// Allow implements framework.WaitingPod.
func (w *waitingPod) Allow(plugin string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.pending, plugin)
	if len(w.pending) == 0 && !w.closed {
		w.closed = true
		w.done <- nil
	}
}

// Reject implements framework.WaitingPod.
func (w *waitingPod) Reject(plugin, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rejectLocked(plugin, msg)
}

func (w *waitingPod) rejectLocked(plugin, msg string) {
	if w.closed {
		return
	}
	w.closed = true
	w.done <- framework.NewStatus(framework.Unschedulable, msg).WithPlugin(plugin)
}

// nextDeadline returns the pending plugin whose wait times out first, or
// false once the pod is allowed or rejected.
func (w *waitingPod) nextDeadline() (string, deadline, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return "", deadline{}, false
	}
	var first string
	var due deadline
	for name, d := range w.pending {
		// Ties go to the smaller name, so the message is deterministic.
		if first == "" || d.at.Before(due.at) || (d.at.Equal(due.at) && name < first) {
			first, due = name, d
		}
	}
	return first, due, first != ""
}

// timeOut rejects the pod for plugin's timeout unless plugin has allowed
// it meanwhile.
func (w *waitingPod) timeOut(plugin string, after time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, pending := w.pending[plugin]; pending {
		w.rejectLocked(plugin, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %v", after, plugin))
	}
}

// IsWaitingOnPermit reports whether the pod with this UID is parked at
// Permit and its binding cycle has not yet collected the verdict. The
// scheduling loop uses it to let such pods wait without a bind slot.
func (p *Profile) IsWaitingOnPermit(uid string) bool {
	return p.waiting.get(uid) != nil
}
