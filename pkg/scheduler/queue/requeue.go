package queue

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// queueingStrategy is what an event means for one rejected pod.
type queueingStrategy int

const (
	// queueSkip: the event cannot help; the pod stays where it is.
	queueSkip queueingStrategy = iota
	// queueAfterBackoff: retry, but only once the pod's backoff has expired,
	// so that a busy cluster does not turn every event into a retry storm.
	queueAfterBackoff
	// queueImmediately: the event cleared a Pending plugin (e.g. a gate was
	// removed); the pod did not fail, so it owes no backoff.
	queueImmediately
)

// MoveAllToActiveOrBackoffQueue tells the queue that a cluster event
// happened. Every pod in the unschedulable pool that passes preCheck (nil
// means all) and that the event may help is moved: to activeQ, or to backoffQ
// if its backoff has not expired. The event is also remembered for the pods
// being scheduled right now, so that it is not lost if their attempt fails.
//
// An event helps a pod when one of the plugins that rejected it registered a
// ClusterEvent that Matches, and the QueueingHintFn, if any, returns Queue
// (or fails). A pod with no recorded rejector (an Error) is helped by any
// event, and so is every pod by an event whose Resource is WildCard.
func (q *PriorityQueue) MoveAllToActiveOrBackoffQueue(logger klog.Logger, event framework.ClusterEvent, oldObj, newObj interface{}, preCheck func(*v1.Pod) bool) {
	q.lock.Lock()
	defer q.lock.Unlock()
	q.moveRequestCycle = q.schedulingCycle
	q.inFlight.record(event, oldObj, newObj)

	type move struct {
		p *framework.QueuedPodInfo
		s queueingStrategy
	}
	var moves []move
	for _, p := range q.pool {
		if preCheck != nil && !preCheck(p.Pod) {
			continue
		}
		if s := q.strategyFor(logger, p, event, oldObj, newObj); s != queueSkip {
			moves = append(moves, move{p, s})
		}
	}
	for _, m := range moves {
		q.deleteFromPool(m.p.Pod.UID)
		where := q.requeue(logger, m.p, m.s, event.Label)
		logger.V(5).Info("Cluster event moved pod", "pod", klog.KObj(m.p.Pod), "event", event.Label, "queue", where)
	}
	q.reportLocked()
}

// AddUnschedulableIfNotPresent takes back a pod whose attempt failed, with
// UnschedulablePlugins/PendingPlugins set to the plugins that rejected it
// (both empty for an Error). It ends the pod's in-flight tracking.
//
// The pod goes to the pool unless something that happened while it was
// being scheduled may have helped it: a registered cluster event (judged as
// in MoveAllToActiveOrBackoffQueue), an update of the pod itself, or an
// Activate. An Error always goes to backoffQ. If the queue did not see this
// pod popped (or Done was already called), the queue falls back to comparing
// podSchedulingCycle with the cycle of the last cluster event: any event
// since the pod's cycle began sends it to backoffQ.
//
// A pod deleted while in flight is dropped; a pod already in the queue is
// left alone and an error returned.
func (q *PriorityQueue) AddUnschedulableIfNotPresent(logger klog.Logger, p *framework.QueuedPodInfo, podSchedulingCycle int64) error {
	q.lock.Lock()
	defer q.lock.Unlock()
	uid := p.Pod.UID
	rec := q.inFlight.pods[uid]
	// Finish only after the strategy is computed: the record's events are
	// trimmed once no in-flight pod needs them.
	defer q.inFlight.finish(uid)

	if q.activeQ.get(uid) != nil || q.backoffQ.get(uid) != nil || q.pool[uid] != nil {
		return fmt.Errorf("pod %s is already in the scheduling queue", klog.KObj(p.Pod))
	}
	if rec != nil && rec.deleted {
		logger.V(4).Info("Pod was deleted while being scheduled; not requeueing it", "pod", klog.KObj(p.Pod))
		return nil
	}
	if rec != nil && rec.replaced {
		p.PodInfo = framework.NewPodInfo(rec.pod)
	}
	if p.UnschedulablePlugins == nil {
		p.UnschedulablePlugins = sets.New[string]()
	}
	if p.PendingPlugins == nil {
		p.PendingPlugins = sets.New[string]()
	}
	p.Gated = false
	p.Timestamp = q.clock.Now()

	s := q.strategyForFailedPod(logger, p, rec, podSchedulingCycle)
	where := q.requeue(logger, p, s, EventScheduleAttemptFailure)
	logger.V(3).Info("Requeued pod after a failed attempt", "pod", klog.KObj(p.Pod), "queue", where,
		"unschedulablePlugins", sets.List(p.UnschedulablePlugins), "pendingPlugins", sets.List(p.PendingPlugins), "cycle", podSchedulingCycle)
	q.reportLocked()
	return nil
}

func (q *PriorityQueue) strategyForFailedPod(logger klog.Logger, p *framework.QueuedPodInfo, rec *inFlightPod, podSchedulingCycle int64) queueingStrategy {
	if p.UnschedulablePlugins.Len() == 0 && p.PendingPlugins.Len() == 0 {
		return queueAfterBackoff
	}
	if rec == nil {
		if q.moveRequestCycle >= podSchedulingCycle {
			return queueAfterBackoff
		}
		return queueSkip
	}
	if rec.activated {
		return queueImmediately
	}
	s := queueSkip
	if rec.updated {
		s = queueAfterBackoff
	}
	for _, e := range q.inFlight.eventsSince(rec) {
		switch q.strategyFor(logger, p, e.event, e.oldObj, e.newObj) {
		case queueImmediately:
			return queueImmediately
		case queueAfterBackoff:
			s = queueAfterBackoff
		}
		if s == queueAfterBackoff && p.PendingPlugins.Len() == 0 {
			// Nothing can make it immediate any more.
			return s
		}
	}
	return s
}

// strategyFor decides what one event means for one rejected pod. A Pending
// plugin's Queue wins over an Unschedulable plugin's, since only the former
// releases the pod without backoff.
func (q *PriorityQueue) strategyFor(logger klog.Logger, p *framework.QueuedPodInfo, event framework.ClusterEvent, oldObj, newObj interface{}) queueingStrategy {
	if p.UnschedulablePlugins.Len() == 0 && p.PendingPlugins.Len() == 0 {
		return queueAfterBackoff
	}
	if event.Resource == framework.WildCard {
		return queueAfterBackoff
	}
	registered, ok := q.clusterEvents[p.Pod.Spec.SchedulerName]
	if !ok {
		// A profile without registrations would strand its pods; retry them.
		logger.V(4).Info("No cluster events registered for the pod's profile; requeueing it", "pod", klog.KObj(p.Pod), "profile", p.Pod.Spec.SchedulerName)
		return queueAfterBackoff
	}
	for plugin := range p.PendingPlugins {
		if pluginSaysQueue(logger, plugin, registered[plugin], p.Pod, event, oldObj, newObj) {
			return queueImmediately
		}
	}
	for plugin := range p.UnschedulablePlugins {
		if p.PendingPlugins.Has(plugin) {
			continue
		}
		if pluginSaysQueue(logger, plugin, registered[plugin], p.Pod, event, oldObj, newObj) {
			return queueAfterBackoff
		}
	}
	return queueSkip
}

func pluginSaysQueue(logger klog.Logger, plugin string, events []framework.ClusterEventWithHint, pod *v1.Pod, event framework.ClusterEvent, oldObj, newObj interface{}) bool {
	for _, e := range events {
		if !e.Event.Match(event) {
			continue
		}
		if e.QueueingHintFn == nil {
			return true
		}
		hint, err := e.QueueingHintFn(logger, pod, oldObj, newObj)
		if err != nil {
			// Never strand a pod because a hint failed.
			logger.Error(err, "QueueingHintFn failed; requeueing the pod", "pod", klog.KObj(pod), "plugin", plugin, "event", event.Label)
			return true
		}
		if hint == framework.Queue {
			return true
		}
	}
	return false
}
