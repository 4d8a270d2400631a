package scheduler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"golang.org/x/sync/semaphore"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// bindRetries is how many times a transient bind error is retried within
// one binding cycle before the pod goes back to the queue.
const bindRetries = 3

// bindTimeout bounds the API part of one binding cycle after PreBind (Bind
// with retries, PostBind).
const bindTimeout = 2 * time.Minute

// preBindTimeout is a backstop for PreBind: plugins bound their own waits
// (VolumeBinding's bindTimeoutSeconds, 10 minutes by default), this only
// guarantees that no pod stays assumed forever.
const preBindTimeout = 30 * time.Minute

// bindSlot is a binding cycle's hold on the bind concurrency limit. The
// loop takes it before starting the cycle, which is its backpressure. Two
// waits hold no slot, so that neither stalls the binding of every other
// pod: a pod parked at Permit starts its cycle without one (a gang may wait
// for more members than there are slots), and the slot is given up while
// PreBind waits (for volumes to be provisioned, say). Either way the cycle
// takes a slot again for the Bind call, after WaitOnPermit has succeeded.
type bindSlot struct {
	sem  *semaphore.Weighted
	held bool
}

func (b *bindSlot) release() {
	if b.held {
		b.sem.Release(1)
		b.held = false
	}
}

func (b *bindSlot) acquire(ctx context.Context) error {
	if b.held {
		return nil
	}
	if err := b.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	b.held = true
	return nil
}

// bindOutcome classifies a failed bind.
type bindOutcome string

const (
	// bindConflict: the pod can no longer be bound (already bound, or
	// being deleted): never retry, drop the pod.
	bindConflict  bindOutcome = "conflict"
	bindNotFound  bindOutcome = "not_found" // pod deleted: drop
	bindTransient bindOutcome = "transient" // retry with backoff
	bindError     bindOutcome = "error"     // requeue with backoff
	// bindNotAttempted: the cycle failed before the bind call (permit
	// rejected, node gone); requeued, not counted as a bind error.
	bindNotAttempted bindOutcome = ""
)

// bindingResource is the resource the API server names in the Conflict it
// returns when the pod's current state refuses a binding.
const bindingResource = "pods/binding"

// classifyBindError decides from the API error's reason and details, never
// from its message, what a failed bind means. The pods/binding subresource
// answers 409 Conflict in two ways:
//   - details.kind "pods/binding": the stored pod refused the binding: it
//     is already assigned to a node, is being deleted, or (never for a pod
//     the queue released) still has scheduling gates. Retrying cannot
//     succeed, and the informer will deliver the bound or deleted pod (or
//     the update that removes the gates, which requeues it), so the pod is
//     dropped: bindConflict.
//   - details.kind "pods": a precondition failed (the Binding's UID names a
//     pod that was deleted and re-created under the same name). That is an
//     ordinary bindError: handleFailure requeues the pod only if the
//     informer still shows the same pod unbound.
func classifyBindError(err error) bindOutcome {
	switch {
	case apierrors.IsConflict(err):
		if podRefusedBinding(err) {
			return bindConflict
		}
		return bindError
	case apierrors.IsNotFound(err) || apierrors.IsGone(err):
		return bindNotFound
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), errors.Is(err, context.DeadlineExceeded):
		return bindTransient
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return bindTransient
	}
	return bindError
}

// podRefusedBinding reports a Conflict whose details name the binding
// subresource (see classifyBindError).
func podRefusedBinding(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return false
	}
	d := se.Status().Details
	return d != nil && d.Group == "" && d.Kind == bindingResource
}

// bindingCycle waits on Permit, runs PreBind, binds (retrying transient
// errors) and PostBind. Any failure undoes the reservation and either
// drops the pod (already bound elsewhere, or deleted) or requeues it.
//
// A gang member (gb non-nil) waits after PreBind until every member of its
// attempt has got that far; if any failed, all of them roll back, so a
// group is never bound short of its minimum because one member's PreBind
// or Permit failed.
func (s *Scheduler) bindingCycle(ctx context.Context, slot *bindSlot, prof *profile.Profile, state *framework.CycleState, qpi *framework.QueuedPodInfo, assumed *v1.Pod, node string, cycle int64, start time.Time, gb *groupBind) {
	logger := klog.FromContext(ctx)
	bindStart := s.clock.Now()
	arrived := gb == nil

	fail := func(st *framework.Status, outcome bindOutcome) {
		if !arrived {
			// Siblings must not bind without this member: they roll
			// back too once everyone has arrived.
			arrived = true
			gb.arrive(assumed, st)
		}
		if gb != nil {
			defer gb.finish(ctx, s, false)
		}
		s.metrics.BindingDuration.WithLabelValues(metrics.ResultError).Observe(s.clock.Since(bindStart).Seconds())
		if outcome != bindNotAttempted {
			s.metrics.BindErrors.WithLabelValues(string(outcome)).Inc()
		}
		s.unreserveAndForget(ctx, prof, state, assumed, node)
		// The capacity this pod held is free again: it may help others.
		s.queue.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete, Label: "AssignedPodDelete"}, assumed, nil, nil)
		switch outcome {
		case bindNotFound:
			logger.V(2).Info("Pod was deleted before it could be bound", "node", node)
		case bindConflict:
			// Never retry a bind the pod's state refused (already bound
			// or being deleted): the informer will deliver the pod as it
			// is. Other conflicts are bindError and go through
			// handleFailure, which requeues the pod unless the informer
			// shows it bound or gone.
			logger.Info("Pod can no longer be bound; not retrying", "node", node, "err", st.AsError())
		default:
			s.handleFailure(ctx, prof, qpi, st, cycle, start)
		}
	}

	if st := prof.WaitOnPermit(ctx, assumed); !st.IsSuccess() {
		fail(st, bindNotAttempted)
		return
	}
	// From here on the API calls must finish even if the scheduler is
	// shutting down (a graceful stop completes in-flight binds), but
	// never hang forever.
	if _, err := s.nodeLister.Get(node); apierrors.IsNotFound(err) {
		fail(framework.NewStatus(framework.Unschedulable, fmt.Sprintf("node %q was deleted before the pod could be bound", node)), bindNotAttempted)
		return
	}
	preCtx, preCancel := context.WithTimeout(context.WithoutCancel(ctx), preBindTimeout)
	defer preCancel()
	slot.release()
	st := prof.RunPreBindPlugins(preCtx, state, assumed, node)
	if st.IsSuccess() && !arrived {
		arrived = true
		if gst := gb.arrive(assumed, nil); gst != nil {
			fail(gst, bindNotAttempted)
			return
		}
	}
	if err := slot.acquire(preCtx); err != nil && st.IsSuccess() {
		st = framework.AsStatus(fmt.Errorf("waiting for a bind slot: %w", err))
	}
	if !st.IsSuccess() {
		fail(st, bindError)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bindTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		st = prof.RunBindPlugins(ctx, state, assumed, node)
		if st.IsSuccess() {
			break
		}
		outcome := classifyBindError(st.AsError())
		if outcome != bindTransient || attempt >= bindRetries || ctx.Err() != nil {
			if outcome == bindTransient {
				outcome = bindError
			}
			fail(st, outcome)
			return
		}
		s.metrics.BindErrors.WithLabelValues(string(bindTransient)).Inc()
		backoff := time.Duration(100<<attempt) * time.Millisecond
		logger.V(2).Info("Transient bind error; retrying", "node", node, "attempt", attempt+1, "backoff", backoff, "err", st.AsError())
		select {
		case <-ctx.Done():
		case <-s.clock.After(backoff):
		}
	}
	if err := s.cache.FinishBinding(logger, assumed); err != nil {
		logger.Error(err, "FinishBinding failed")
	}
	prof.RunPostBindPlugins(ctx, state, assumed, node)
	if gb != nil {
		gb.finish(ctx, s, true)
	}

	now := s.clock.Now()
	s.metrics.BindingDuration.WithLabelValues(metrics.ResultScheduled).Observe(now.Sub(bindStart).Seconds())
	if qpi.InitialAttemptTimestamp != nil {
		s.metrics.PodSchedulingDuration.WithLabelValues(attemptsLabel(qpi.Attempts)).Observe(now.Sub(*qpi.InitialAttemptTimestamp).Seconds())
	}
	if created := assumed.CreationTimestamp.Time; !created.IsZero() {
		s.metrics.PodCreationToBindDuration.Observe(max(now.Sub(created).Seconds(), 0))
	}
	s.metrics.PodSchedulingAttempts.Observe(float64(qpi.Attempts))
	logger.V(2).Info("Successfully bound pod to node", "node", node)
	prof.Handle().EventRecorder().Eventf(assumed, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", assumed.Namespace, assumed.Name, node)
}

func attemptsLabel(n int) string {
	if n >= 15 {
		return "15+"
	}
	return strconv.Itoa(n)
}

// handleFailure counts the failed attempt, requeues the pod (unless it is
// gone or already bound) and reports the failure asynchronously.
func (s *Scheduler) handleFailure(ctx context.Context, prof *profile.Profile, qpi *framework.QueuedPodInfo, st *framework.Status, cycle int64, start time.Time) {
	s.requeueFailed(ctx, prof, qpi, st, nil, cycle, start)
}

// requeueFailed is handleFailure with the plugins whose events may help
// the pod given explicitly (nil: taken from the status), as for a gang
// member that fit but was rolled back because a sibling did not.
func (s *Scheduler) requeueFailed(ctx context.Context, prof *profile.Profile, qpi *framework.QueuedPodInfo, st *framework.Status, plugins sets.Set[string], cycle int64, start time.Time) {
	logger := klog.FromContext(ctx)
	pod := qpi.Pod
	result, reason := metrics.ResultError, v1.PodReasonSchedulerError
	var fitErr *core.FitError
	if st.IsRejected() {
		result, reason = metrics.ResultUnschedulable, v1.PodReasonUnschedulable
	}
	s.metrics.ScheduleAttempts.WithLabelValues(result, prof.Name()).Inc()
	s.metrics.SchedulingAttemptDuration.WithLabelValues(result, prof.Name()).Observe(s.clock.Since(start).Seconds())

	qpi.UnschedulablePlugins = nil
	if errors.As(st.AsError(), &fitErr) {
		qpi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	} else if st.IsRejected() && st.Plugin() != "" {
		qpi.UnschedulablePlugins = sets.New(st.Plugin())
	}
	if plugins != nil {
		qpi.UnschedulablePlugins = plugins
	}
	msg := st.Message()
	if result == metrics.ResultError {
		logger.Error(st.AsError(), "Error scheduling pod; retrying")
	} else {
		logger.V(2).Info("Unable to schedule pod; waiting", "reason", msg)
	}

	// Requeue only if the pod still exists, is unbound and is the same pod.
	cur, err := s.podLister.Pods(pod.Namespace).Get(pod.Name)
	switch {
	case err != nil:
		logger.V(3).Info("Pod no longer exists; not requeueing")
	case cur.UID != pod.UID || cur.Spec.NodeName != "":
		logger.V(3).Info("Pod was replaced or bound meanwhile; not requeueing")
	default:
		if cur != pod {
			qpi = qpi.DeepCopy()
			qpi.PodInfo = framework.NewPodInfo(cur)
		}
		if err := s.queue.AddUnschedulableIfNotPresent(logger, qpi, cycle); err != nil {
			logger.Error(err, "Requeueing pod failed")
		}
	}
	s.reporter.Report(pod, reason, msg)
}

// bindingCheckTimeout bounds one lookup of an expired assumed pod.
const bindingCheckTimeout = 10 * time.Second

// BindingCheck returns the cache's BindingCheck: a GET of the pod from the
// API server (not the informer, which is what lags), so that an assumed
// pod whose bind succeeded keeps its node's capacity however late its
// event arrives. A pod that is gone is reported as nil. The scheduler
// sets it on its cache; the extender, which assumes the pods it binds,
// on its own.
func BindingCheck(client kubernetes.Interface) schedcache.BindingCheck {
	return func(pod *v1.Pod) (*v1.Pod, error) {
		ctx, cancel := context.WithTimeout(context.Background(), bindingCheckTimeout)
		defer cancel()
		got, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return got, err
	}
}
