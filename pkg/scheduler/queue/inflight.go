package queue

import (
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/pkg/framework"
)

// inFlightLog remembers what happens to and around the pods that are being
// scheduled (popped but not yet returned or done). Cluster events are kept
// in one shared, sequence-numbered list, and each pod remembers where the
// list stood when it was popped, so an event is stored once however many
// pods are in flight. The list is trimmed to what the oldest in-flight pod
// still needs, and is empty when no pod is in flight.
type inFlightLog struct {
	pods     map[types.UID]*inFlightPod
	events   []recordedEvent
	firstSeq int64 // sequence number of events[0]
}

type inFlightPod struct {
	startSeq int64
	// pod is the newest version seen; replaced says Add/Update supplied it.
	pod      *v1.Pod
	replaced bool
	// updated says a scheduling-relevant change arrived (see podChanged).
	updated   bool
	deleted   bool
	activated bool
}

type recordedEvent struct {
	event          framework.ClusterEvent
	oldObj, newObj interface{}
}

func newInFlightLog() inFlightLog {
	return inFlightLog{pods: map[types.UID]*inFlightPod{}}
}

func (l *inFlightLog) nextSeq() int64 { return l.firstSeq + int64(len(l.events)) }

func (l *inFlightLog) start(pod *v1.Pod) {
	l.pods[pod.UID] = &inFlightPod{startSeq: l.nextSeq(), pod: pod}
}

// update records a new version of an in-flight pod; false if it is not in
// flight.
func (l *inFlightLog) update(pod *v1.Pod) bool {
	r := l.pods[pod.UID]
	if r == nil {
		return false
	}
	if podChanged(r.pod, pod) {
		r.updated = true
	}
	r.pod = pod
	r.replaced = true
	return true
}

func (l *inFlightLog) markDeleted(uid types.UID) bool {
	if r := l.pods[uid]; r != nil {
		r.deleted = true
		return true
	}
	return false
}

func (l *inFlightLog) markActivated(uid types.UID) bool {
	if r := l.pods[uid]; r != nil {
		r.activated = true
		return true
	}
	return false
}

func (l *inFlightLog) record(event framework.ClusterEvent, oldObj, newObj interface{}) {
	if len(l.pods) == 0 {
		return
	}
	l.events = append(l.events, recordedEvent{event: event, oldObj: oldObj, newObj: newObj})
}

func (l *inFlightLog) eventsSince(r *inFlightPod) []recordedEvent {
	return l.events[r.startSeq-l.firstSeq:]
}

// finish stops tracking uid and drops the events no remaining pod needs.
func (l *inFlightLog) finish(uid types.UID) {
	if _, ok := l.pods[uid]; !ok {
		return
	}
	delete(l.pods, uid)
	if len(l.pods) == 0 {
		l.firstSeq = l.nextSeq()
		l.events = nil
		return
	}
	oldest := l.nextSeq()
	for _, r := range l.pods {
		oldest = min(oldest, r.startSeq)
	}
	if n := int(oldest - l.firstSeq); n > 0 {
		l.events = slices.Delete(l.events, 0, n)
		l.firstSeq = oldest
	}
}
