package defaultpreemption

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	policylisters "k8s.io/client-go/listers/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in the configuration.
const Name = "DefaultPreemption"

// Argument defaults, as kube-scheduler's.
const (
	DefaultMinCandidateNodesPercentage int32 = 10
	DefaultMinCandidateNodesAbsolute   int32 = 100
)

// Reasons the plugin gives when preemption cannot help.
const (
	ReasonPreemptNever      = "not eligible due to preemptionPolicy=Never."
	ReasonTerminatingVictim = "not eligible due to a terminating pod on the nominated node."
	// ReasonPreemptionRunning: the pod's previous preemption is still
	// evicting; preempting again would evict on a second node for the
	// same pod (kube-scheduler gates such a pod in PreEnqueue).
	ReasonPreemptionRunning    = "not eligible while the evictions of this pod's previous preemption are still running."
	ReasonNoVictims            = "No preemption victims found for incoming pod"
	ReasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	// ReasonNoPreemption is returned where the engine evaluates pods
	// without side effects (its Handle has no Preemption).
	ReasonNoPreemption = "not available: this evaluation does not preempt"
	// ReasonGangNotBreakable: the victims include a gang member, and the
	// gang, which goes whole or not at all, has a member of equal or
	// higher priority.
	ReasonGangNotBreakable = "preemption would evict part of a gang that has a member of equal or higher priority"
)

// DefaultPreemption is the plugin. Build it with New.
type DefaultPreemption struct {
	h framework.Handle
	// preemption is h.Preemption(), read on first use: the profile it
	// runs filters of is complete only after every plugin was built.
	preemption func() framework.Preemption
	pct        int32
	abs        int32
	pdbLister  policylisters.PodDisruptionBudgetLister

	// randIntn picks the offset of the candidate search; tests pin it.
	randIntn func(n int) int
	// now stands in for the start time of pods that have none.
	now func() time.Time
	// async runs the API side effects off the scheduling loop.
	async func(func())
	// inflight tracks the side effects still running.
	inflight sync.WaitGroup
	// running holds the UIDs of the preemptors (and the keys of the
	// gangs) whose side effects are still running: until their victims
	// are gone, the preemptor's node still looks full, and a retry must
	// not pick a second node to empty.
	running sync.Map
}

var _ framework.PostFilterPlugin = (*DefaultPreemption)(nil)

// SetDefaultArgs fills unset fields with kube-scheduler's defaults.
func SetDefaultArgs(args *configv1.DefaultPreemptionArgs) {
	if args.MinCandidateNodesPercentage == nil {
		v := DefaultMinCandidateNodesPercentage
		args.MinCandidateNodesPercentage = &v
	}
	if args.MinCandidateNodesAbsolute == nil {
		v := DefaultMinCandidateNodesAbsolute
		args.MinCandidateNodesAbsolute = &v
	}
}

// ValidateArgs checks the percentage is in [0, 100], the absolute count is
// not negative and not both are zero.
func ValidateArgs(args *configv1.DefaultPreemptionArgs, path *field.Path) field.ErrorList {
	if args == nil {
		return nil
	}
	var errs field.ErrorList
	pct, abs := args.MinCandidateNodesPercentage, args.MinCandidateNodesAbsolute
	if pct != nil && (*pct < 0 || *pct > 100) {
		errs = append(errs, field.Invalid(path.Child("minCandidateNodesPercentage"), *pct, "not in valid range [0, 100]"))
	}
	if abs != nil && *abs < 0 {
		errs = append(errs, field.Invalid(path.Child("minCandidateNodesAbsolute"), *abs, "not in valid range [0, inf)"))
	}
	if pct != nil && abs != nil && *pct == 0 && *abs == 0 {
		errs = append(errs, field.Invalid(path.Child("minCandidateNodesPercentage"), *pct,
			"cannot be zero at the same time as minCandidateNodesAbsolute"))
	}
	return errs
}

// New builds the plugin from *configv1.DefaultPreemptionArgs (nil means
// the defaults). The handle must be a framework.PreemptionHandle. It
// registers a PodDisruptionBudget informer with the handle's factory.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, nil)
	if err != nil {
		return nil, err
	}
	pl := &DefaultPreemption{
		h:          h,
		preemption: sync.OnceValue(h.Preemption),
		pct:        *args.MinCandidateNodesPercentage,
		abs:        *args.MinCandidateNodesAbsolute,
		pdbLister:  h.SharedInformerFactory().Policy().V1().PodDisruptionBudgets().Lister(),
		randIntn:   rand.IntN,
		now:        time.Now,
	}
	pl.async = func(f func()) { go f() }
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *DefaultPreemption) Name() string { return Name }

// WaitForPreemptions blocks until the API side effects of every
// preemption started so far are done (tests and shutdown).
func (pl *DefaultPreemption) WaitForPreemptions() { pl.inflight.Wait() }

// PostFilter implements framework.PostFilterPlugin. It nominates the best
// node for pod and starts evicting its victims, or explains why
// preemption cannot help.
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatusReader) (*framework.PostFilterResult, *framework.Status) {
	res, st := pl.preempt(ctx, state, pod, statuses)
	// Like kube-scheduler, say which step the message comes from; it is
	// appended to the pod's "0/N nodes are available" message.
	if msg := st.Message(); msg != "" {
		st = framework.NewStatus(st.Code(), "preemption: "+msg).WithError(st.AsError())
	}
	return res, st
}

// begin returns the engine's preemption abilities and counts the attempt,
// or says that this evaluation does not preempt.
func (pl *DefaultPreemption) begin() (framework.Preemption, *framework.Status) {
	pre := pl.preemption()
	if pre == nil {
		return nil, framework.NewStatus(framework.Unschedulable, ReasonNoPreemption)
	}
	if m := pre.PreemptionMetrics(); m != nil {
		m.PreemptionAttempt()
	}
	return pre, nil
}

func (pl *DefaultPreemption) preempt(ctx context.Context, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatusReader) (*framework.PostFilterResult, *framework.Status) {
	logger := klog.FromContext(ctx)
	if _, st := pl.begin(); st != nil {
		return nil, st
	}
	var nominatedStatus *framework.Status
	if pod.Status.NominatedNodeName != "" {
		nominatedStatus = statuses.Get(pod.Status.NominatedNodeName)
	}
	if ok, msg := pl.eligible(pod, nominatedStatus); !ok {
		logger.V(5).Info("Pod is not eligible for preemption", "reason", msg)
		return nil, framework.NewStatus(framework.Unschedulable, msg)
	}
	if _, ok := pl.running.Load(pod.UID); ok {
		// The nomination stays; the victims' deletions requeue the pod.
		logger.V(4).Info("Pod is not eligible for preemption", "reason", ReasonPreemptionRunning)
		return nil, framework.NewStatus(framework.Unschedulable, ReasonPreemptionRunning)
	}
	lister := pl.h.SnapshotSharedLister().NodeInfos()
	numAll := len(lister.List())
	if numAll == 0 {
		return nil, framework.NewStatus(framework.Error, "no nodes available")
	}
	potential, err := statuses.NodesForStatusCode(lister, framework.Unschedulable)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(potential) == 0 {
		logger.V(3).Info("Preemption will not help schedule pod on any node")
		return &framework.PostFilterResult{}, framework.NewStatus(framework.Unschedulable, notHelpfulMessage(numAll, nil))
	}
	pdbs, err := listPDBs(pl.pdbLister)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	offset, num := pl.offsetAndNumCandidates(len(potential))
	cands, nodeStatuses, err := pl.dryRun(ctx, state, pod, potential, pdbs, offset, num)
	if len(cands) == 0 {
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		logger.V(2).Info("No preemption candidate is found; preemption is not helpful for scheduling")
		return &framework.PostFilterResult{}, framework.NewStatus(framework.Unschedulable, notHelpfulMessage(numAll, nodeStatuses))
	}
	best := pl.pickCandidate(cands)
	logger.V(2).Info("Preemption target node determined", "node", best.node, "victims", len(best.victims))
	pl.actuate(ctx, pod, best)
	return &framework.PostFilterResult{NominatedNodeName: best.node},
		framework.NewStatus(framework.Success, fmt.Sprintf("found a potential placement for pod on node %v, preempting %d victims", best.node, len(best.victims)))
}

// eligible is kube-scheduler's PodEligibleToPreemptOthers: a pod that
// must not preempt, or that already preempted on its nominated node and
// waits for those victims to go, does not preempt (again).
func (pl *DefaultPreemption) eligible(pod *v1.Pod, nominatedStatus *framework.Status) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, ReasonPreemptNever
	}
	node := pod.Status.NominatedNodeName
	if node == "" {
		return true, ""
	}
	// The nominated node cannot take the pod whatever is evicted there:
	// look elsewhere.
	if nominatedStatus.Code() == framework.UnschedulableAndUnresolvable {
		return true, ""
	}
	ni, err := pl.h.SnapshotSharedLister().NodeInfos().Get(node)
	if err != nil || ni == nil {
		return true, ""
	}
	prio := corev1helpers.PodPriority(pod)
	for _, pi := range ni.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio && terminatingByPreemption(pi.Pod) {
			return false, ReasonTerminatingVictim
		}
	}
	return true, ""
}

// terminatingByPreemption reports a pod being deleted because a scheduler
// preempted it (the DisruptionTarget condition the executor sets).
func terminatingByPreemption(p *v1.Pod) bool {
	if p.DeletionTimestamp == nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.DisruptionTarget {
			return c.Status == v1.ConditionTrue && c.Reason == v1.PodReasonPreemptionByScheduler
		}
	}
	return false
}

// offsetAndNumCandidates bounds the dry run: start at a random node and
// stop after max(pct% of the nodes, abs) candidates (all nodes at most).
func (pl *DefaultPreemption) offsetAndNumCandidates(numNodes int) (int, int) {
	n := numNodes * int(pl.pct) / 100
	if n < int(pl.abs) {
		n = int(pl.abs)
	}
	if n > numNodes {
		n = numNodes
	}
	return pl.randIntn(numNodes), n
}

// notHelpfulMessage renders why preemption found no candidate, in the
// "0/N nodes are available: ..." form of the scheduling failure.
func notHelpfulMessage(numAll int, statuses map[string]*framework.Status) string {
	counts := map[string]int{}
	for _, st := range statuses {
		for _, r := range st.Reasons() {
			counts[r]++
		}
	}
	if rest := numAll - len(statuses); rest > 0 {
		counts[ReasonPreemptionNotHelpful] += rest
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", numAll, strings.Join(parts, ", "))
}
