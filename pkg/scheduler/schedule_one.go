package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

const (
	// minFeasibleNodesToFind: below this many nodes, every node is
	// evaluated whatever the percentage says.
	minFeasibleNodesToFind = 100
	// minFeasibleNodesPercentageToFind is the floor of the adaptive
	// percentage.
	minFeasibleNodesPercentageToFind = 5
	// pluginMetricsSamplePercent is the share of cycles whose per-plugin
	// durations are recorded.
	pluginMetricsSamplePercent = 10
)

// ErrNoNodesAvailable is returned when the snapshot holds no node at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// ScheduleResult is the outcome of schedulePod.
type ScheduleResult struct {
	SuggestedHost  string
	EvaluatedNodes int
	FeasibleNodes  int
}

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
	state.RecordPluginMetrics = rand.IntN(100) < pluginMetricsSamplePercent
	cycle := s.queue.SchedulingCycle()

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
	// many binds are in flight.
	if err := s.bindSem.Acquire(ctx, 1); err != nil {
		// Shutting down: undo the reservation and leave the pod to the
		// next leader (it is still unbound in the API).
		prof.RejectWaitingPod(string(pod.UID), "scheduler is shutting down")
		s.unreserveAndForget(ctx, prof, state, assumed, result.SuggestedHost)
		return
	}
	s.bindWG.Add(1)
	go func() {
		defer s.bindWG.Done()
		slot := &bindSlot{sem: s.bindSem, held: true}
		defer slot.release()
		s.bindingCycle(ctx, slot, prof, state, qpi, assumed, result.SuggestedHost, cycle, start)
	}()
}

// schedulingCycle is everything from the snapshot to assume + Reserve +
// Permit. On success it returns the assumed copy of the pod.
func (s *Scheduler) schedulingCycle(ctx context.Context, prof *profile.Profile, state *framework.CycleState, qpi *framework.QueuedPodInfo, start time.Time) (*v1.Pod, ScheduleResult, *framework.Status) {
	logger := klog.FromContext(ctx)
	pod := qpi.Pod
	result, err := s.SchedulePod(ctx, prof, state, pod)
	if err != nil {
		var fitErr *FitError
		if !errors.As(err, &fitErr) {
			if errors.Is(err, ErrNoNodesAvailable) {
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

	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = result.SuggestedHost
	if err := s.cache.AssumePod(logger, assumed); err != nil {
		return nil, result, framework.AsStatus(fmt.Errorf("assuming pod: %w", err))
	}
	s.nominator.DeleteNominatedPodIfExists(pod)
	if st := prof.RunReservePluginsReserve(ctx, state, assumed, result.SuggestedHost); !st.IsSuccess() {
		s.unreserveAndForget(ctx, prof, state, assumed, result.SuggestedHost)
		return nil, result, st
	}
	if st := prof.RunPermitPlugins(ctx, state, assumed, result.SuggestedHost); !st.IsSuccess() && !st.IsWait() {
		s.unreserveAndForget(ctx, prof, state, assumed, result.SuggestedHost)
		return nil, result, st
	}
	return assumed, result, nil
}

func (s *Scheduler) unreserveAndForget(ctx context.Context, prof *profile.Profile, state *framework.CycleState, assumed *v1.Pod, node string) {
	logger := klog.FromContext(ctx)
	prof.RunReservePluginsUnreserve(ctx, state, assumed, node)
	if err := s.cache.ForgetPod(logger, assumed); err != nil {
		logger.Error(err, "Forgetting assumed pod failed", "pod", klog.KObj(assumed))
	}
}

// SchedulePod runs the algorithm on a fresh snapshot: it updates the
// snapshot, filters nodes, scores the feasible ones and picks the best. It
// makes no API calls and does not change the cache.
func (s *Scheduler) SchedulePod(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod) (ScheduleResult, error) {
	logger := klog.FromContext(ctx)
	if err := s.cache.UpdateSnapshot(logger, s.snapshot); err != nil {
		return ScheduleResult{}, err
	}
	if s.snapshot.NumNodes() == 0 {
		return ScheduleResult{}, ErrNoNodesAvailable
	}
	feasible, feasibleIdx, diagnosis, err := s.findNodesThatFitPod(ctx, prof, state, pod)
	if err != nil {
		return ScheduleResult{}, err
	}
	if len(feasible) == 0 {
		diagnosis.Details = prof.ExplainFailure(state, pod, diagnosis.UnschedulablePlugins)
		return ScheduleResult{}, &FitError{Pod: pod, NumAllNodes: s.snapshot.NumNodes(), Diagnosis: diagnosis}
	}
	evaluated := len(feasible) + diagnosis.NodeToStatus.Len()
	if len(feasible) == 1 {
		return ScheduleResult{SuggestedHost: feasible[0].Node().Name, EvaluatedNodes: evaluated, FeasibleNodes: 1}, nil
	}
	scores, err := s.prioritizeNodes(ctx, prof, state, pod, feasible, feasibleIdx)
	if err != nil {
		return ScheduleResult{}, err
	}
	return ScheduleResult{SuggestedHost: selectHost(scores), EvaluatedNodes: evaluated, FeasibleNodes: len(feasible)}, nil
}

// findNodesThatFitPod runs PreFilter, then Filter in parallel over the
// nodes from a rotating start index, stopping once enough feasible nodes
// are found (the adaptive sample).
func (s *Scheduler) findNodesThatFitPod(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod) ([]*framework.NodeInfo, []int, Diagnosis, error) {
	diagnosis := Diagnosis{NodeToStatus: NewNodeToStatus(), UnschedulablePlugins: sets.New[string]()}
	allNodes := s.snapshot.List()
	preRes, rejectors, st := prof.RunPreFilterPlugins(ctx, state, pod, allNodes)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return nil, nil, diagnosis, st.AsError()
		}
		diagnosis.NodeToStatus.SetAbsent(st)
		diagnosis.UnschedulablePlugins = rejectors
		diagnosis.PreFilterMsg = st.Message()
		return nil, nil, diagnosis, nil
	}
	// The memo is aligned with the full node list, so it only applies when
	// PreFilter did not narrow the nodes.
	sig, sigOK := podSignature(pod)
	s.memo.begin(sig, prof, allNodes, sigOK && preRes.AllNodes() && s.memoAllowed(), prof.FiltersNodeLocal(state))
	nodes := allNodes
	if !preRes.AllNodes() {
		nodes = make([]*framework.NodeInfo, 0, len(preRes.NodeNames))
		for name := range preRes.NodeNames {
			if ni, err := s.snapshot.Get(name); err == nil {
				nodes = append(nodes, ni)
			}
		}
		// Nodes the PreFilter result excluded count as unresolvable.
		diagnosis.NodeToStatus.SetAbsent(framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [PreFilterResult]"))
	}
	feasible, idx, err := s.findNodesThatPassFilters(ctx, prof, state, pod, &diagnosis, nodes)
	return feasible, idx, diagnosis, err
}

func (s *Scheduler) findNodesThatPassFilters(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod, diagnosis *Diagnosis, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, []int, error) {
	numAll := len(nodes)
	if numAll == 0 {
		return nil, nil, nil
	}
	want := s.numFeasibleNodesToFind(prof.PercentageOfNodesToScore, numAll)
	feasible := make([]*framework.NodeInfo, want)
	// feasibleIdx[k] is feasible[k]'s position in nodes (for the memo).
	feasibleIdx := make([]int, want)
	useMemo := s.memo.active
	start := s.nextStartNodeIndex % numAll
	// statuses is indexed like nodes; the buffer is pooled across cycles
	// (it is as long as the cluster) and handed back cleared.
	statuses := getStatusBuffer(numAll)
	defer putStatusBuffer(statuses)
	runFilters := prof.FilterRunner(state)
	var (
		found    atomic.Int32
		errMu    sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	check := func(i int) {
		// Parallelize only looks at ctx between chunks; stop evaluating
		// nodes as soon as the sample is complete.
		if int(found.Load()) >= want {
			return
		}
		idx := (start + i) % numAll
		ni := nodes[idx]
		var st *framework.Status
		if useMemo {
			st = s.memo.filter(idx, ni, func() *framework.Status { return runFilters(ctx, pod, ni) })
		} else {
			st = runFilterWithNominatedPods(ctx, s.nominator, prof, runFilters, state, pod, ni)
		}
		if st.IsSuccess() {
			n := found.Add(1)
			if int(n) > want {
				cancel()
				found.Add(-1)
			} else {
				feasible[n-1] = ni
				feasibleIdx[n-1] = idx
				if int(n) == want {
					cancel()
				}
			}
			return
		}
		if st.Code() == framework.Error {
			errMu.Lock()
			if firstErr == nil {
				firstErr = st.AsError()
			}
			errMu.Unlock()
			cancel()
			return
		}
		statuses[idx] = st
	}
	profile.Parallelize(ctx, s.parallelism, numAll, check)
	if firstErr != nil {
		return nil, nil, firstErr
	}
	rejected := 0
	for i, st := range statuses {
		if st != nil {
			rejected++
			diagnosis.NodeToStatus.Set(nodes[i].Node().Name, st)
			diagnosis.UnschedulablePlugins.Insert(st.Plugin())
		}
	}
	numFeasible := int(found.Load())
	// Resume after the nodes this cycle evaluated (feasible ones kept plus
	// rejected ones, as kube-scheduler counts them) so every node gets its
	// turn.
	s.nextStartNodeIndex = (start + numFeasible + rejected) % numAll
	return feasible[:numFeasible], feasibleIdx[:numFeasible], nil
}

// statusBuffers recycles the per-node status slices of findNodesThatPassFilters.
var statusBuffers sync.Pool

func getStatusBuffer(n int) []*framework.Status {
	if bp, ok := statusBuffers.Get().(*[]*framework.Status); ok && cap(*bp) >= n {
		return (*bp)[:n]
	}
	return make([]*framework.Status, n)
}

func putStatusBuffer(b []*framework.Status) {
	clear(b)
	statusBuffers.Put(&b)
}

// numFeasibleNodesToFind is kube-scheduler's adaptive sample: all nodes in
// small clusters, otherwise a percentage that shrinks with the cluster
// (50% minus 1% per 125 nodes, at least 5%), but at least 100 nodes.
func (s *Scheduler) numFeasibleNodesToFind(profilePct *int32, numAll int) int {
	if numAll < minFeasibleNodesToFind {
		return numAll
	}
	pct := s.percentageOfNodesToScore
	if profilePct != nil {
		pct = *profilePct
	}
	if pct == 0 {
		pct = int32(50 - numAll/125)
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	if pct >= 100 {
		return numAll
	}
	n := numAll * int(pct) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

func (s *Scheduler) prioritizeNodes(ctx context.Context, prof *profile.Profile, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, idx []int) ([]profile.NodeScores, error) {
	if !prof.HasScorePlugins() {
		out := make([]profile.NodeScores, len(nodes))
		for i, n := range nodes {
			out[i] = profile.NodeScores{Name: n.Node().Name, TotalScore: 1}
		}
		return out, nil
	}
	if st := prof.RunPreScorePlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		return nil, st.AsError()
	}
	var memo profile.ScoreMemo
	if s.memo.scores && idx != nil {
		memo = scoreView{m: &s.memo, nodes: nodes, idx: idx}
	}
	scores, st := prof.RunScorePluginsMemo(ctx, state, pod, nodes, memo)
	if !st.IsSuccess() {
		return nil, st.AsError()
	}
	return scores, nil
}

// selectHost picks the highest total score, choosing uniformly at random
// among ties (reservoir sampling) so equal nodes share the load.
func selectHost(scores []profile.NodeScores) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].TotalScore > scores[best].TotalScore:
			best, ties = i, 1
		case scores[i].TotalScore == scores[best].TotalScore:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
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
