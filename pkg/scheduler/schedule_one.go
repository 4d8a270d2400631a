package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// pluginMetricsSamplePercent is the share of cycles whose per-plugin
// durations are recorded.
const pluginMetricsSamplePercent = 10

// ScheduleOne runs one scheduling cycle for the next pod in the queue. It
// blocks until a pod is available or the queue is closed. The binding
// cycle it starts runs asynchronously.
func (s *Scheduler) ScheduleOne(ctx context.Context) {
	logger := klog.FromContext(ctx)
	qpi, err := s.queue.Pop(logger)
	if err != nil || qpi == nil {
		return
	}
	pod := qpi.Pod
	prof, ok := s.profiles[pod.Spec.SchedulerName]
	if !ok {
		// The informer filter only lets our profiles' pods in; this is a bug.
		logger.Error(nil, "No profile for pod's schedulerName", "pod", klog.KObj(pod), "schedulerName", pod.Spec.SchedulerName)
		s.queue.Done(pod.UID)
		return
	}
	if s.skipPodSchedule(logger, prof, pod) {
		s.queue.Done(pod.UID)
		return
	}
	logger = klog.LoggerWithValues(logger, "pod", klog.KObj(pod))
	ctx = klog.NewContext(ctx, logger)
	logger.V(3).Info("Attempting to schedule pod")

	start := s.clock.Now()
	state := framework.NewCycleState()
	state.RecordPluginMetrics = s.rand.IntN(100) < pluginMetricsSamplePercent
	cycle := s.queue.SchedulingCycle()

	if gp := prof.GroupPlugin(); gp != nil {
		if key := gp.GroupKey(pod); key != "" && s.scheduleGroup(ctx, prof, gp, key, qpi, cycle, start) {
			return
		}
	}

	assumed, result, status := s.schedulingCycle(ctx, prof, state, qpi, start)
	if !status.IsSuccess() {
		s.handleFailure(ctx, prof, qpi, status, cycle, start)
		s.queue.Done(pod.UID)
		return
	}
	s.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled, prof.Name()).Inc()
	s.metrics.SchedulingAttemptDuration.WithLabelValues(metrics.ResultScheduled, prof.Name()).Observe(s.clock.Since(start).Seconds())
	s.queue.Done(pod.UID)

	// Backpressure: the loop waits here, not in the API call, when too
	// many binds are in flight. A pod parked at Permit (a gang member,
	// say) takes no slot now: it may wait for pods the loop has yet to
	// schedule, so holding one could stall the loop for good. Its binding
	// cycle takes a slot once Permit allows it.
	slot := &bindSlot{sem: s.bindSem}
	if !prof.IsWaitingOnPermit(string(pod.UID)) {
		if err := slot.acquire(ctx); err != nil {
			// Shutting down: undo the reservation and leave the pod to
			// the next leader (it is still unbound in the API).
			s.unreserveAndForget(ctx, prof, state, assumed, result.SuggestedHost)
			return
		}
	}
	s.bindWG.Add(1)
	go func() {
		defer s.bindWG.Done()
		defer slot.release()
		s.bindingCycle(ctx, slot, prof, state, qpi, assumed, result.SuggestedHost, cycle, start, nil)
	}()
}

// schedulingCycle is everything from the snapshot to assume + Reserve +
// Permit. On success it returns the assumed copy of the pod.
func (s *Scheduler) schedulingCycle(ctx context.Context, prof *profile.Profile, state *framework.CycleState, qpi *framework.QueuedPodInfo, start time.Time) (*v1.Pod, core.Result, *framework.Status) {
	logger := klog.FromContext(ctx)
	pod := qpi.Pod
	result, err := s.SchedulePod(ctx, prof, state, pod)
	if err != nil {
		var fitErr *core.FitError
		if !errors.As(err, &fitErr) {
			if errors.Is(err, core.ErrNoNodesAvailable) {
				st := framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
				return nil, result, st.WithError(err)
			}
			return nil, result, framework.AsStatus(err)
		}
		if prof.HasPostFilter() {
			pfRes, pfStatus := prof.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
			if pfStatus.Code() == framework.Error {
				logger.Error(pfStatus.AsError(), "PostFilter failed")
			} else if pfStatus.IsSuccess() && pfRes != nil && pfRes.NominatedNodeName != "" {
				logger.V(3).Info("PostFilter nominated a node", "node", pfRes.NominatedNodeName)
				// Later cycles honour the nomination before the API
				// status patch comes back through the informer.
				s.nominator.AddNominatedPod(logger, pod, pfRes.NominatedNodeName)
			}
			if msg := pfStatus.Message(); msg != "" {
				fitErr.Diagnosis.PostFilterMsg = msg
			}
		}
		st := framework.NewStatus(framework.Unschedulable, fitErr.Error()).WithError(fitErr)
		return nil, result, st
	}

	assumed, st := s.assumeAndReserve(ctx, prof, state, pod, result.SuggestedHost)
	if st.IsSuccess() {
		s.nominator.DeleteNominatedPodIfExists(pod)
	}
	return assumed, result, st
}

// assumeAndReserve assumes pod on node in the cache and runs Reserve and
// Permit; on failure it undoes all of it. It returns the assumed copy.
// The pod's nomination is the caller's to drop once the placement holds
// (a gang member's trial placement may still be rolled back).
func (s *Scheduler) assumeAndReserve(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod, node string) (*v1.Pod, *framework.Status) {
	logger := klog.FromContext(ctx)
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	if err := s.cache.AssumePod(logger, assumed); err != nil {
		return nil, framework.AsStatus(fmt.Errorf("assuming pod: %w", err))
	}
	if st := prof.RunReservePluginsReserve(ctx, state, assumed, node); !st.IsSuccess() {
		s.unreserveAndForget(ctx, prof, state, assumed, node)
		return nil, st
	}
	if st := prof.RunPermitPlugins(ctx, state, assumed, node); !st.IsSuccess() && !st.IsWait() {
		s.unreserveAndForget(ctx, prof, state, assumed, node)
		return nil, st
	}
	return assumed, nil
}

func (s *Scheduler) unreserveAndForget(ctx context.Context, prof *profile.Profile, state *framework.CycleState, assumed *v1.Pod, node string) {
	logger := klog.FromContext(ctx)
	prof.RunReservePluginsUnreserve(ctx, state, assumed, node)
	if err := s.cache.ForgetPod(logger, assumed); err != nil {
		logger.Error(err, "Forgetting assumed pod failed", "pod", klog.KObj(assumed))
	}
}

// SchedulePod updates the loop's snapshot and evaluates pod on it with
// the core (filter, score, select). It makes no API calls and does not
// change the cache. A pod that fits nowhere gives a *core.FitError.
func (s *Scheduler) SchedulePod(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod) (core.Result, error) {
	return s.schedulePodIn(ctx, prof, state, pod, nil)
}

// schedulePodIn is SchedulePod restricted to the domain's nodes (nil: all).
func (s *Scheduler) schedulePodIn(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod, dom *domain) (core.Result, error) {
	logger := klog.FromContext(ctx)
	if err := s.cache.UpdateSnapshot(logger, s.snapshot); err != nil {
		return core.Result{}, err
	}
	res, err := core.Evaluate(ctx, core.Request{
		Pod:                      pod,
		State:                    state,
		Profile:                  prof,
		Snapshot:                 s.snapshot,
		Nominator:                s.nominator,
		Memo:                     &s.memo,
		Rand:                     s.rand,
		TieBreakByName:           s.tieBreakByName,
		StartIndex:               s.nextStartNodeIndex,
		PercentageOfNodesToScore: s.percentageOfNodesToScore,
		Parallelism:              s.parallelism,
		AllowedNodes:             dom.nodeSet(),
		AllowedNodesReason:       dom.reason(),
	})
	s.nextStartNodeIndex = res.NextStartIndex
	return res, err
}

// skipPodSchedule reports pods that must not be scheduled now: being
// deleted, or already assumed (an update raced with the assume).
func (s *Scheduler) skipPodSchedule(logger klog.Logger, prof *profile.Profile, pod *v1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		logger.V(3).Info("Skipping pod that is being deleted", "pod", klog.KObj(pod))
		return true
	}
	if assumed, _ := s.cache.IsAssumedPod(pod); assumed {
		logger.V(3).Info("Skipping pod that is already assumed", "pod", klog.KObj(pod))
		return true
	}
	return false
}
