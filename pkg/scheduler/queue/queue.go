package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/framework"
)

// ErrClosed is returned by Pop once Close has been called, so the scheduling
// loop knows to stop rather than retry.
var ErrClosed = errors.New("scheduling queue is closed")

// PriorityQueue is the scheduler's queue of pending pods: activeQ, backoffQ
// and the unschedulable pool (see the package comment). All methods are safe
// for concurrent use; one mutex guards everything because every operation is
// short and most touch more than one sub-queue.
//
// PreEnqueue plugins and QueueingHintFns are called with the queue locked;
// they must be fast and must not call back into the queue.
type PriorityQueue struct {
	clock                clock.WithTicker
	initialBackoff       time.Duration
	maxBackoff           time.Duration
	unschedulableTimeout time.Duration
	preEnqueue           map[string][]framework.PreEnqueuePlugin
	clusterEvents        map[string]map[string][]framework.ClusterEventWithHint
	metrics              Metrics

	lock sync.Mutex
	// cond wakes Pop when activeQ gains a pod or the queue closes.
	cond sync.Cond

	activeQ  *podHeap
	backoffQ *podHeap
	pool     map[types.UID]*framework.QueuedPodInfo
	// gated counts the pool's pods held by PreEnqueue, for metrics.
	gated int

	inFlight inFlightLog

	// schedulingCycle counts Pops. moveRequestCycle is the cycle during
	// which the last cluster event arrived; it is the fallback for a failed
	// pod that the queue did not see popped (see AddUnschedulableIfNotPresent).
	schedulingCycle  int64
	moveRequestCycle int64

	closed bool
	stop   chan struct{}
}

// New returns an empty queue whose activeQ is ordered by less (the QueueSort
// plugin's Less). Call Run to start the periodic flushes.
func New(less func(a, b *framework.QueuedPodInfo) bool, opts Options) *PriorityQueue {
	opts.setDefaults()
	q := &PriorityQueue{
		clock:                opts.Clock,
		initialBackoff:       opts.InitialBackoff,
		maxBackoff:           opts.MaxBackoff,
		unschedulableTimeout: opts.UnschedulableTimeout,
		preEnqueue:           opts.PreEnqueuePlugins,
		clusterEvents:        opts.ClusterEvents,
		metrics:              opts.Metrics,
		activeQ:              newPodHeap(less),
		pool:                 map[types.UID]*framework.QueuedPodInfo{},
		inFlight:             newInFlightLog(),
		moveRequestCycle:     -1,
		stop:                 make(chan struct{}),
	}
	q.cond.L = &q.lock
	q.backoffQ = newPodHeap(func(a, b *framework.QueuedPodInfo) bool {
		ea, eb := q.backoffExpiry(a), q.backoffExpiry(b)
		if !ea.Equal(eb) {
			return ea.Before(eb)
		}
		return less(a, b)
	})
	return q
}

// Run starts the goroutines that flush expired backoffs every second and
// long-sleeping unschedulable pods every 30 seconds. They stop on Close.
func (q *PriorityQueue) Run(logger klog.Logger) {
	go q.every(backoffFlushInterval, func() { q.FlushBackoffQCompleted(logger) })
	go q.every(unschedulableFlushInterval, func() { q.FlushUnschedulablePodsLeftover(logger) })
}

func (q *PriorityQueue) every(d time.Duration, f func()) {
	t := q.clock.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C():
			f()
		}
	}
}

// Close stops the flush goroutines and wakes every blocked Pop, which then
// returns ErrClosed.
func (q *PriorityQueue) Close() {
	q.lock.Lock()
	defer q.lock.Unlock()
	if !q.closed {
		q.closed = true
		close(q.stop)
	}
	q.cond.Broadcast()
}

// Add puts a new pod in activeQ, or in the pool as Gated if a PreEnqueue
// plugin holds it back. A pod the queue already holds is updated in place
// instead, so a repeated add never duplicates it.
func (q *PriorityQueue) Add(logger klog.Logger, pod *v1.Pod) {
	q.lock.Lock()
	defer q.lock.Unlock()
	q.upsert(logger, pod, EventPodAdd)
	q.reportLocked()
}

// Update records a new version of a pending pod. A pod in activeQ or
// backoffQ is updated in place. A pod in the pool whose spec or metadata
// changed is moved out (through PreEnqueue again if it was gated), because
// the change may have made it schedulable. A pod being scheduled keeps the
// new version for when it comes back. An unknown pod is added. oldPod is
// taken for symmetry with informer handlers; changes are judged against the
// version the queue holds, which is the one its decisions were based on.
func (q *PriorityQueue) Update(logger klog.Logger, oldPod, newPod *v1.Pod) {
	q.lock.Lock()
	defer q.lock.Unlock()
	q.upsert(logger, newPod, EventPodUpdate)
	q.reportLocked()
}

func (q *PriorityQueue) upsert(logger klog.Logger, pod *v1.Pod, event string) {
	uid := pod.UID
	if q.inFlight.update(pod) {
		logger.V(5).Info("Pod is being scheduled; keeping the new version for its requeue", "pod", klog.KObj(pod))
		return
	}
	for _, h := range []*podHeap{q.activeQ, q.backoffQ} {
		if p := h.get(uid); p != nil {
			p.PodInfo = framework.NewPodInfo(pod)
			h.fix(uid)
			return
		}
	}
	if p := q.pool[uid]; p != nil {
		changed := podChanged(p.Pod, pod)
		p.PodInfo = framework.NewPodInfo(pod)
		if !changed {
			return
		}
		q.deleteFromPool(uid)
		where := q.requeue(logger, p, queueAfterBackoff, event)
		logger.V(5).Info("Updated pod left the unschedulable pool", "pod", klog.KObj(pod), "queue", where)
		return
	}
	p := &framework.QueuedPodInfo{
		PodInfo:              framework.NewPodInfo(pod),
		Timestamp:            q.clock.Now(),
		UnschedulablePlugins: sets.New[string](),
		PendingPlugins:       sets.New[string](),
	}
	q.pushActive(logger, p, event)
}

// Delete forgets the pod wherever it is. A pod being scheduled is marked so
// that a failed attempt does not bring it back.
func (q *PriorityQueue) Delete(pod *v1.Pod) {
	q.lock.Lock()
	defer q.lock.Unlock()
	uid := pod.UID
	if q.activeQ.delete(uid) == nil && q.backoffQ.delete(uid) == nil && q.deleteFromPool(uid) == nil {
		q.inFlight.markDeleted(uid)
	}
	q.reportLocked()
}

// Pop blocks until activeQ has a pod and returns the first one; with
// activeQ empty it takes backoffQ's first pod if an event moved it there
// (backoffPoppable). It counts
// the attempt (Attempts, InitialAttemptTimestamp), starts a scheduling cycle,
// clears the previous attempt's rejecting plugins (the caller sets them if
// this attempt fails) and tracks the pod as in flight until
// AddUnschedulableIfNotPresent or Done. It returns ErrClosed after Close.
func (q *PriorityQueue) Pop(logger klog.Logger) (*framework.QueuedPodInfo, error) {
	q.lock.Lock()
	defer q.lock.Unlock()
	for q.activeQ.len() == 0 && !q.backoffPoppable() && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, ErrClosed
	}
	var p *framework.QueuedPodInfo
	if q.activeQ.len() > 0 {
		p = q.activeQ.pop()
	} else {
		// Idle: rather than wait out the backoff of a pod an event
		// already moved (as kube-scheduler's SchedulerPopFromBackoffQ),
		// try it now.
		p = q.backoffQ.pop()
		q.metrics.QueueIncoming(QueueActive, EventPopFromBackoffQ)
	}
	p.Attempts++
	if p.InitialAttemptTimestamp == nil {
		now := q.clock.Now()
		p.InitialAttemptTimestamp = &now
	}
	p.UnschedulablePlugins = sets.New[string]()
	p.PendingPlugins = sets.New[string]()
	q.schedulingCycle++
	q.inFlight.start(p.Pod)
	if v := logger.V(5); v.Enabled() { // spare the hot path the argument allocations
		v.Info("Popped pod", "pod", klog.KObj(p.Pod), "attempts", p.Attempts, "cycle", q.schedulingCycle)
	}
	q.reportLocked()
	return p, nil
}

// TakeMatching removes from activeQ, backoffQ and the unschedulable pool
// every pod match accepts, except pods a PreEnqueue plugin still holds back, and
// returns them as Pop would have: attempt counted, tracked in flight until
// AddUnschedulableIfNotPresent or Done. The scheduler takes a gang's
// queued members this way after popping one of them, so that the whole
// group is placed in one step whatever their backoff. The result is in
// queue order (activeQ's sort).
func (q *PriorityQueue) TakeMatching(logger klog.Logger, match func(pod *v1.Pod) bool) []*framework.QueuedPodInfo {
	q.lock.Lock()
	defer q.lock.Unlock()
	var out []*framework.QueuedPodInfo
	for _, h := range []*podHeap{q.activeQ, q.backoffQ} {
		var uids []types.UID
		for _, p := range h.items {
			if match(p.Pod) {
				uids = append(uids, p.Pod.UID)
			}
		}
		for _, uid := range uids {
			out = append(out, h.delete(uid))
		}
	}
	for uid, p := range q.pool {
		if !match(p.Pod) {
			continue
		}
		// A member held back until its group's quorum existed may not
		// have been released yet by the event that completed it; one
		// still gated (scheduling gates, say) stays.
		if p.Gated {
			if _, st := q.runPreEnqueue(logger, p.Pod); !st.IsSuccess() {
				continue
			}
		}
		out = append(out, q.deleteFromPool(uid))
	}
	q.sortLocked(out)
	now := q.clock.Now()
	for _, p := range out {
		ungate(p)
		p.Attempts++
		if p.InitialAttemptTimestamp == nil {
			t := now
			p.InitialAttemptTimestamp = &t
		}
		p.UnschedulablePlugins = sets.New[string]()
		p.PendingPlugins = sets.New[string]()
		q.inFlight.start(p.Pod)
	}
	if len(out) > 0 {
		logger.V(5).Info("Took queued pods", "count", len(out))
		q.reportLocked()
	}
	return out
}

// SortLikeActive orders pods as activeQ would pop them (the QueueSort
// plugin's order, then by name): a gang's members are placed in that
// order whichever of them was popped.
func (q *PriorityQueue) SortLikeActive(pods []*framework.QueuedPodInfo) {
	q.lock.Lock()
	defer q.lock.Unlock()
	q.sortLocked(pods)
}

func (q *PriorityQueue) sortLocked(pods []*framework.QueuedPodInfo) {
	slices.SortStableFunc(pods, func(a, b *framework.QueuedPodInfo) int {
		switch {
		case q.activeQ.less(a, b):
			return -1
		case q.activeQ.less(b, a):
			return 1
		}
		return strings.Compare(a.Pod.Name, b.Pod.Name)
	})
}

// backoffPoppable reports whether Pop may take backoffQ's first pod while
// activeQ is empty: one that failed as unschedulable and was moved by an
// event. A pod that hit an error waits out its backoff, so that a failing
// plugin or API is not retried in a loop.
func (q *PriorityQueue) backoffPoppable() bool {
	p := q.backoffQ.peek()
	return p != nil && (p.UnschedulablePlugins.Len() > 0 || p.PendingPlugins.Len() > 0)
}

// Done ends the pod's in-flight tracking after a successful (or abandoned)
// attempt. A failed attempt should call AddUnschedulableIfNotPresent first,
// which ends the tracking itself; Done is then a no-op.
func (q *PriorityQueue) Done(uid types.UID) {
	q.lock.Lock()
	defer q.lock.Unlock()
	q.inFlight.finish(uid)
}

// SchedulingCycle returns the number of Pops so far; the scheduler passes
// the value read after its Pop back to AddUnschedulableIfNotPresent.
func (q *PriorityQueue) SchedulingCycle() int64 {
	q.lock.Lock()
	defer q.lock.Unlock()
	return q.schedulingCycle
}

// Activate moves the given pods (values; keys are ignored) to activeQ now,
// e.g. when a plugin knows a sibling pod just became schedulable. Pods in
// activeQ or unknown to the queue are ignored; a pod being scheduled goes
// straight to activeQ if its attempt fails.
func (q *PriorityQueue) Activate(logger klog.Logger, pods map[string]*v1.Pod) {
	q.lock.Lock()
	defer q.lock.Unlock()
	for _, pod := range pods {
		uid := pod.UID
		if q.inFlight.markActivated(uid) {
			continue
		}
		p := q.backoffQ.delete(uid)
		if p == nil {
			p = q.deleteFromPool(uid)
		}
		if p == nil {
			continue
		}
		q.pushActive(logger, p, EventForceActivate)
	}
	q.reportLocked()
}

// FlushBackoffQCompleted moves every pod whose backoff has expired to
// activeQ. Run calls it every second; tests call it after stepping the
// clock.
func (q *PriorityQueue) FlushBackoffQCompleted(logger klog.Logger) {
	q.lock.Lock()
	defer q.lock.Unlock()
	now := q.clock.Now()
	for {
		p := q.backoffQ.peek()
		if p == nil || q.backoffExpiry(p).After(now) {
			break
		}
		q.backoffQ.pop()
		q.pushActive(logger, p, EventBackoffComplete)
	}
	q.reportLocked()
}

// FlushUnschedulablePodsLeftover retries pods that have been in the pool for
// UnschedulableTimeout or longer, in case no registered event ever comes.
// Gated pods go through PreEnqueue again and stay if still gated.
func (q *PriorityQueue) FlushUnschedulablePodsLeftover(logger klog.Logger) {
	q.lock.Lock()
	defer q.lock.Unlock()
	now := q.clock.Now()
	var stale []*framework.QueuedPodInfo
	for _, p := range q.pool {
		if now.Sub(p.Timestamp) >= q.unschedulableTimeout {
			stale = append(stale, p)
		}
	}
	for _, p := range stale {
		q.deleteFromPool(p.Pod.UID)
		q.requeue(logger, p, queueAfterBackoff, EventUnschedulableTimeout)
	}
	q.reportLocked()
}

// Len returns the sizes of activeQ, backoffQ and the pool (gated pods
// included).
func (q *PriorityQueue) Len() (active, backoff, unschedulable int) {
	q.lock.Lock()
	defer q.lock.Unlock()
	return q.activeQ.len(), q.backoffQ.len(), len(q.pool)
}

// PendingPods returns every pod the queue holds (not the in-flight ones) and
// a summary for debugging endpoints and logs.
func (q *PriorityQueue) PendingPods() ([]*v1.Pod, string) {
	q.lock.Lock()
	defer q.lock.Unlock()
	pods := make([]*v1.Pod, 0, q.activeQ.len()+q.backoffQ.len()+len(q.pool))
	for _, p := range q.activeQ.items {
		pods = append(pods, p.Pod)
	}
	for _, p := range q.backoffQ.items {
		pods = append(pods, p.Pod)
	}
	for _, p := range q.pool {
		pods = append(pods, p.Pod)
	}
	return pods, fmt.Sprintf("activeQ:%d; backoffQ:%d; unschedulablePods:%d", q.activeQ.len(), q.backoffQ.len(), len(q.pool))
}

// pushActive is the only way into activeQ, so that PreEnqueue always has the
// last word: a pod it rejects is parked in the pool as Gated, with the gating
// plugin recorded as its rejector so that the plugin's events release it.
// It reports whether the pod reached activeQ.
func (q *PriorityQueue) pushActive(logger klog.Logger, p *framework.QueuedPodInfo, event string) bool {
	if plugin, st := q.runPreEnqueue(logger, p.Pod); !st.IsSuccess() {
		if !p.Gated {
			p.GatedSince = q.clock.Now()
		}
		p.GatePlugin, p.GateMessage = plugin, plugin+": "+st.Message()
		p.Gated = true
		p.UnschedulablePlugins = sets.New[string]()
		p.PendingPlugins = sets.New[string]()
		if st.Code() == framework.Pending {
			p.PendingPlugins.Insert(plugin)
		} else {
			p.UnschedulablePlugins.Insert(plugin)
		}
		q.addToPool(p)
		q.metrics.QueueIncoming(QueueGated, event)
		logger.V(4).Info("Pod gated by PreEnqueue plugin", "pod", klog.KObj(p.Pod), "plugin", plugin, "status", st)
		return false
	}
	if p.Gated {
		ungate(p)
		p.UnschedulablePlugins = sets.New[string]()
		p.PendingPlugins = sets.New[string]()
	}
	q.activeQ.addOrUpdate(p)
	q.metrics.QueueIncoming(QueueActive, event)
	q.cond.Broadcast()
	return true
}

func (q *PriorityQueue) runPreEnqueue(logger klog.Logger, pod *v1.Pod) (string, *framework.Status) {
	plugins := q.preEnqueue[pod.Spec.SchedulerName]
	if len(plugins) == 0 {
		return "", nil
	}
	ctx := klog.NewContext(context.Background(), logger)
	for _, pl := range plugins {
		if st := pl.PreEnqueue(ctx, pod); !st.IsSuccess() {
			return pl.Name(), st
		}
	}
	return "", nil
}

// requeue places a pod that is in no sub-queue according to strategy and
// returns the name of the queue it landed in.
func (q *PriorityQueue) requeue(logger klog.Logger, p *framework.QueuedPodInfo, s queueingStrategy, event string) string {
	switch {
	case s == queueSkip:
		q.addToPool(p)
		q.metrics.QueueIncoming(QueueUnschedulable, event)
		return QueueUnschedulable
	case s == queueImmediately || !q.isBackingOff(p):
		if q.pushActive(logger, p, event) {
			return QueueActive
		}
		return QueueGated
	default:
		q.backoffQ.addOrUpdate(p)
		q.metrics.QueueIncoming(QueueBackoff, event)
		// An idle Pop may take it (backoffPoppable).
		q.cond.Broadcast()
		return QueueBackoff
	}
}

func (q *PriorityQueue) addToPool(p *framework.QueuedPodInfo) {
	if old := q.pool[p.Pod.UID]; old != nil && old.Gated {
		q.gated--
	}
	q.pool[p.Pod.UID] = p
	if p.Gated {
		q.gated++
	}
}

func (q *PriorityQueue) deleteFromPool(uid types.UID) *framework.QueuedPodInfo {
	p := q.pool[uid]
	if p == nil {
		return nil
	}
	delete(q.pool, uid)
	if p.Gated {
		q.gated--
	}
	return p
}

// backoffDuration is initialBackoff*2^(attempts-1), capped at maxBackoff;
// zero before the first attempt, so a pod that was never tried (e.g. one
// just released from a gate) does not wait.
func (q *PriorityQueue) backoffDuration(attempts int) time.Duration {
	if attempts <= 0 {
		return 0
	}
	d := q.initialBackoff
	for i := 1; i < attempts; i++ {
		if d >= q.maxBackoff/2 {
			return q.maxBackoff
		}
		d *= 2
	}
	return min(d, q.maxBackoff)
}

func (q *PriorityQueue) backoffExpiry(p *framework.QueuedPodInfo) time.Time {
	return p.Timestamp.Add(q.backoffDuration(p.Attempts))
}

func (q *PriorityQueue) isBackingOff(p *framework.QueuedPodInfo) bool {
	return q.backoffExpiry(p).After(q.clock.Now())
}

func (q *PriorityQueue) reportLocked() {
	q.metrics.PendingPods(QueueActive, q.activeQ.len())
	q.metrics.PendingPods(QueueBackoff, q.backoffQ.len())
	q.metrics.PendingPods(QueueUnschedulable, len(q.pool)-q.gated)
	q.metrics.PendingPods(QueueGated, q.gated)
}

// podChanged reports whether an update may matter to scheduling: anything
// but the status and the bookkeeping fields the API server bumps on every
// write (the scheduler's own status patches must not wake the pod).
func podChanged(oldPod, newPod *v1.Pod) bool {
	strip := func(p *v1.Pod) *v1.Pod {
		c := *p
		c.ResourceVersion = ""
		c.Generation = 0
		c.ManagedFields = nil
		c.Status = v1.PodStatus{}
		return &c
	}
	if !equality.Semantic.DeepEqual(oldPod.Status.ResourceClaimStatuses, newPod.Status.ResourceClaimStatuses) {
		// The resourceclaim controller names the claims it generated for
		// the pod in its status; a pod waiting for them may go on now.
		return true
	}
	return !equality.Semantic.DeepEqual(strip(oldPod), strip(newPod))
}

// ungate clears a pod's gating bookkeeping when it leaves the gate.
func ungate(p *framework.QueuedPodInfo) {
	p.Gated = false
	p.GatedSince, p.GatePlugin, p.GateMessage = time.Time{}, "", ""
	p.GateReported, p.GateReportedAt = "", time.Time{}
}

// GatedReport is a pod a PreEnqueue plugin has held back long enough to
// tell its owner why (LongGated).
type GatedReport struct {
	Pod     *v1.Pod
	Message string
}

// LongGated returns the pods a PreEnqueue plugin other than
// SchedulingGates (whose pods the API server already marks
// SchedulingGated) has held for at least after, whose gating message was
// not reported yet, or changed and was last reported at least every ago.
// They are marked reported. A pod waiting for its PodGroup to be created
// or for the group's other members would otherwise wait with no
// condition and no event; the delay keeps gangs whose members arrive
// together from being reported at all.
func (q *PriorityQueue) LongGated(logger klog.Logger, after, every time.Duration) []GatedReport {
	q.lock.Lock()
	defer q.lock.Unlock()
	now := q.clock.Now()
	var out []GatedReport
	for _, p := range q.pool {
		if !p.Gated || p.GatePlugin == schedulingGatesPlugin || now.Sub(p.GatedSince) < after {
			continue
		}
		// The message was written when the pod was last gated; events
		// the plugin's hints skipped may have changed it (a gang's member
		// count), so it is asked again. A pod it no longer holds is left
		// to the event that will release it.
		plugin, st := q.runPreEnqueue(logger, p.Pod)
		if st.IsSuccess() {
			continue
		}
		p.GatePlugin, p.GateMessage = plugin, plugin+": "+st.Message()
		if p.GatePlugin == schedulingGatesPlugin || p.GateMessage == p.GateReported {
			continue
		}
		if p.GateReported != "" && now.Sub(p.GateReportedAt) < every {
			continue
		}
		p.GateReported, p.GateReportedAt = p.GateMessage, now
		out = append(out, GatedReport{Pod: p.Pod, Message: p.GateMessage})
	}
	return out
}

// schedulingGatesPlugin is the SchedulingGates plugin's name (the queue
// may not import plugins).
const schedulingGatesPlugin = "SchedulingGates"
