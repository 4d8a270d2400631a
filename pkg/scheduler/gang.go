package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins/nodeaffinity"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// resultWaiting labels group attempts that found fewer members than the
// group's minimum.
const resultWaiting = "waiting"

// Group states of berth_pod_groups.
const (
	groupStateWaiting       = "waiting"
	groupStateUnschedulable = "unschedulable"
	groupStateBinding       = "binding"
	groupStateScheduled     = "scheduled"
)

// groupPruneInterval is how often groups without members are dropped from
// the berth_pod_groups gauge.
const groupPruneInterval = 30 * time.Second

// domain is a set of nodes a gang is confined to: one value of its
// topology key. A nil domain is the whole cluster.
type domain struct {
	key, value string
	nodes      sets.Set[string]
	// free is the domain's unrequested CPU and memory, to try roomy
	// domains first.
	freeMilliCPU, freeMemory int64
	// allocatable is the domain's nodes' allocatable summed.
	allocatable *framework.Resource
}

func (d *domain) nodeSet() sets.Set[string] {
	if d == nil {
		return nil
	}
	return d.nodes
}

func (d *domain) reason() string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("node(s) outside the pod group's topology domain %s=%s", d.key, d.value)
}

func (d *domain) String() string {
	if d == nil {
		return "the cluster"
	}
	return fmt.Sprintf("domain %s=%s", d.key, d.value)
}

// gangMember is one member's part in a group attempt.
type gangMember struct {
	qpi     *framework.QueuedPodInfo
	state   *framework.CycleState
	assumed *v1.Pod
	node    string
	// status is why the member was not placed (nil when it was).
	status *framework.Status
}

// groupTracker keeps the last state of each group for berth_pod_groups.
type groupTracker struct {
	mu        sync.Mutex
	states    map[string]string
	lastPrune time.Time
}

func (t *groupTracker) set(m *metrics.Metrics, gp framework.GroupPlugin, key, state string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.states == nil {
		t.states = map[string]string{}
	}
	t.states[key] = state
	if now.Sub(t.lastPrune) > groupPruneInterval {
		t.lastPrune = now
		for k := range t.states {
			if len(gp.Members(k)) == 0 {
				delete(t.states, k)
			}
		}
	}
	counts := map[string]int{groupStateWaiting: 0, groupStateUnschedulable: 0, groupStateBinding: 0, groupStateScheduled: 0}
	for _, st := range t.states {
		counts[st]++
	}
	for st, n := range counts {
		m.PodGroups.WithLabelValues(st).Set(float64(n))
	}
}

// scheduleGroup places a gang: the popped pod and every queued member of
// its group, on one snapshot in one step of the loop, so members see each
// other's reservations and no other pod slips in between. Either at least
// the group's minimum (less the members already bound or binding) are
// reserved, or none are: nothing is held while waiting for siblings that
// cannot come, which is what makes two gangs unable to deadlock each other.
// With a topology key the group is tried one domain at a time, roomiest
// first. It returns false when the pod turns out to be scheduled alone (no
// gang policy), for the caller's single-pod path.
func (s *Scheduler) scheduleGroup(ctx context.Context, prof *profile.Profile, gp framework.GroupPlugin, key string, first *framework.QueuedPodInfo, cycle int64, start time.Time) bool {
	logger := klog.FromContext(ctx)
	group, st := gp.PodGroup(first.Pod)
	if !st.IsSuccess() {
		s.metrics.GroupAttempts.WithLabelValues(resultWaiting).Inc()
		s.handleFailure(ctx, prof, first, st.WithPlugin(gp.Name()), cycle, start)
		s.queue.Done(first.Pod.UID)
		return true
	}
	if group == nil || group.MinMember <= 1 && group.TopologyKey == "" {
		return false
	}
	logger = klog.LoggerWithValues(logger, "podGroup", group.Key)
	ctx = klog.NewContext(ctx, logger)

	members := []*gangMember{{qpi: first}}
	for _, q := range s.queue.TakeMatching(logger, func(p *v1.Pod) bool {
		return p.Namespace == first.Pod.Namespace && p.UID != first.Pod.UID && gp.GroupKey(p) == key
	}) {
		if s.skipPodSchedule(logger, prof, q.Pod) {
			s.queue.Done(q.Pod.UID)
			continue
		}
		members = append(members, &gangMember{qpi: q})
	}
	// Members are placed in queue order (priority, then arrival), not
	// starting from the one popped: that one is often the member that
	// completed the quorum, the last to arrive.
	qpis := make([]*framework.QueuedPodInfo, len(members))
	for i, m := range members {
		qpis[i] = m.qpi
	}
	s.queue.SortLikeActive(qpis)
	for i := range members {
		members[i] = &gangMember{qpi: qpis[i]}
	}
	taken := sets.New[string]()
	for _, m := range members {
		taken.Insert(string(m.qpi.Pod.UID))
	}
	scheduled := 0
	// placedOn are the nodes of members already bound or binding: a group
	// confined to one topology domain stays in theirs.
	var placedOn []string
	for _, p := range gp.Members(key) {
		if taken.Has(string(p.UID)) {
			continue
		}
		if p.Spec.NodeName != "" {
			scheduled++
			placedOn = append(placedOn, p.Spec.NodeName)
		} else if cached, err := s.cache.GetPod(p); err == nil && cached.Spec.NodeName != "" {
			scheduled++
			placedOn = append(placedOn, cached.Spec.NodeName)
		}
	}
	need := group.MinMember - scheduled
	logger.V(3).Info("Attempting to place pod group", "members", len(members), "scheduled", scheduled, "minMember", group.MinMember)

	if need > len(members) && first.Attempts <= maxQuietAttempts && scheduled+s.arriving(gp, key, first.Pod, taken) >= group.MinMember {
		// Enough members exist, but some have not reached the queue yet
		// (the informer's index runs ahead of the queue's handler): no
		// failure to report; each arriving member's event brings these
		// back.
		logger.V(3).Info("Pod group members still arriving in the queue", "queued", len(members), "scheduled", scheduled)
		for _, m := range members {
			m.qpi.UnschedulablePlugins = sets.New(gp.Name())
			if err := s.queue.AddUnschedulableIfNotPresent(logger, m.qpi, cycle); err != nil {
				logger.Error(err, "Requeueing pod failed", "pod", klog.KObj(m.qpi.Pod))
			}
		}
		return true
	}
	if need > len(members) {
		msg := fmt.Sprintf("pod group %s/%s: %d of %d members exist (%d scheduled, %d pending here); waiting for the rest",
			group.Namespace, group.Name, scheduled+len(members), group.MinMember, scheduled, len(members))
		s.failGroup(ctx, prof, gp, group, members, framework.NewStatus(framework.Unschedulable, msg).WithPlugin(gp.Name()), framework.GroupWaiting, scheduled, cycle, start)
		return true
	}
	if err := s.cache.UpdateSnapshot(logger, s.snapshot); err != nil {
		s.failGroup(ctx, prof, gp, group, members, framework.AsStatus(err), framework.GroupError, scheduled, cycle, start)
		return true
	}
	dem := groupDemand(group, members, need)
	if msg := s.groupNeverFits(group, dem); msg != "" {
		st := framework.NewStatus(framework.UnschedulableAndUnresolvable, msg).WithPlugin(gp.Name())
		s.failGroup(ctx, prof, gp, group, members, st, framework.GroupUnschedulable, scheduled, cycle, start)
		return true
	}

	domains, msg := s.groupDomains(group, placedOn)
	if msg == "" {
		msg = domainsNeverFit(group, dem, domains)
	}
	if msg != "" {
		st := framework.NewStatus(framework.UnschedulableAndUnresolvable, msg).WithPlugin(gp.Name())
		s.failGroup(ctx, prof, gp, group, members, st, framework.GroupUnschedulable, scheduled, cycle, start)
		return true
	}
	// With the minimum already bound or binding, further members are
	// placed as they fit; at least one must, or the attempt failed.
	need = max(need, 1)
	var best []*gangMember
	bestPlaced, bestDomain := -1, (*domain)(nil)
	for _, dom := range domains {
		placed := s.placeMembers(ctx, prof, members, dom, need)
		if placed >= need {
			s.commitGroup(ctx, prof, gp, group, members, dom, scheduled, placed, cycle, start)
			return true
		}
		if placed > bestPlaced {
			best, bestPlaced, bestDomain = snapshotStatuses(members), placed, dom
		}
		s.rollback(ctx, prof, members)
	}
	// Not placeable: report the attempt that came closest.
	for i, m := range members {
		m.status = best[i].status
	}
	where := ""
	if group.TopologyKey != "" {
		where = fmt.Sprintf(" in any one %s domain (closest: %s)", group.TopologyKey, bestDomain)
	}
	summary := fmt.Sprintf("pod group %s/%s: %d of %d needed members fit%s", group.Namespace, group.Name, bestPlaced, need, where)
	if scheduled >= group.MinMember {
		summary = fmt.Sprintf("pod group %s/%s has its minimum of %d scheduled; no further member fits%s", group.Namespace, group.Name, group.MinMember, where)
	} else if msg := s.preemptForGroup(ctx, prof, group, members, need); msg != "" {
		summary += "; " + msg
	}
	s.failGroupMembers(ctx, prof, gp, group, members, summary, scheduled, cycle, start)
	return true
}

// preemptForGroup asks the profile's group preemptor to make room for the
// members the group needs, evicting whole gangs of lower priority, and
// records the nominations it made. It returns what happened, for the
// members' status ("" when nothing was tried). A group whose members
// already hold nominations waits for those victims to go instead of
// preempting again.
func (s *Scheduler) preemptForGroup(ctx context.Context, prof *profile.Profile, group *framework.PodGroup, members []*gangMember, need int) string {
	gpre := prof.GroupPreemptor()
	if gpre == nil {
		return ""
	}
	logger := klog.FromContext(ctx)
	if err := s.cache.UpdateSnapshot(logger, s.snapshot); err != nil {
		return "preemption not tried: " + err.Error()
	}
	pods := make([]*v1.Pod, 0, len(members))
	for _, m := range members {
		node := s.nominator.NominatedNodeName(m.qpi.Pod.UID)
		if node == "" {
			node = m.qpi.Pod.Status.NominatedNodeName
		}
		if node != "" && s.lowerPriorityTerminating(node, m.qpi.Pod) {
			// As kube-scheduler does for a single pod: victims of an
			// earlier preemption are still going; preempting again would
			// evict more than needed.
			return "waiting for the pods an earlier preemption evicts to go"
		}
		pods = append(pods, m.qpi.Pod)
	}
	nominated, st := gpre.PreemptGroup(ctx, group, pods, need, func(pod *v1.Pod) (*framework.CycleState, *framework.Status) {
		state := framework.NewCycleState()
		_, _, st := prof.RunPreFilterPlugins(ctx, state, pod, s.snapshot.List())
		return state, st
	})
	if !st.IsSuccess() {
		return st.Message()
	}
	for _, p := range pods {
		if node := nominated[string(p.UID)]; node != "" {
			s.nominator.AddNominatedPod(logger, p, node)
		}
	}
	return fmt.Sprintf("preempting lower-priority pods to make room for %d members", len(nominated))
}

// lowerPriorityTerminating reports whether a pod of lower priority than
// pod is being deleted on node.
func (s *Scheduler) lowerPriorityTerminating(node string, pod *v1.Pod) bool {
	ni, err := s.snapshot.Get(node)
	if err != nil {
		return false
	}
	prio := corev1helpers.PodPriority(pod)
	for _, pi := range ni.Pods {
		if pi.Pod.DeletionTimestamp != nil && corev1helpers.PodPriority(pi.Pod) < prio {
			return true
		}
	}
	return false
}

// maxQuietAttempts bounds the attempts after which a group still short of
// queued members is reported as waiting even though enough members exist.
const maxQuietAttempts = 3

// arriving counts the group's pods that are not bound or binding and
// would reach this profile's queue: the pending members, whether or not
// the queue has them yet.
func (s *Scheduler) arriving(gp framework.GroupPlugin, key string, pod *v1.Pod, taken sets.Set[string]) int {
	n := len(taken)
	for _, p := range gp.Members(key) {
		if taken.Has(string(p.UID)) || p.Spec.NodeName != "" || p.Spec.SchedulerName != pod.Spec.SchedulerName || len(p.Spec.SchedulingGates) > 0 {
			continue
		}
		if assumed, _ := s.cache.IsAssumedPod(p); !assumed {
			n++
		}
	}
	return n
}

// snapshotStatuses copies the members' per-attempt verdicts.
func snapshotStatuses(members []*gangMember) []*gangMember {
	out := make([]*gangMember, len(members))
	for i, m := range members {
		out[i] = &gangMember{status: m.status}
	}
	return out
}

// placeMembers evaluates and reserves the members one after the other on
// the loop's snapshot (each assume is in the next member's snapshot). It
// stops early once the rest cannot reach need. It returns how many were
// reserved; their assumed pods are in the members.
func (s *Scheduler) placeMembers(ctx context.Context, prof *profile.Profile, members []*gangMember, dom *domain, need int) int {
	placed := 0
	for i, m := range members {
		m.state, m.assumed, m.node, m.status = nil, nil, "", nil
		if placed+len(members)-i < need {
			m.status = framework.NewStatus(framework.Unschedulable, "not tried: the members before it left too few to reach the minimum")
			continue
		}
		pod := m.qpi.Pod
		state := framework.NewCycleState()
		res, err := s.schedulePodIn(ctx, prof, state, pod, dom)
		if err != nil {
			var fitErr *core.FitError
			switch {
			case errors.As(err, &fitErr):
				m.status = framework.NewStatus(framework.Unschedulable, fitErr.Error()).WithError(fitErr)
			case errors.Is(err, core.ErrNoNodesAvailable):
				m.status = framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error()).WithError(err)
			default:
				m.status = framework.AsStatus(err)
			}
			continue
		}
		assumed, st := s.assumeAndReserve(ctx, prof, state, pod, res.SuggestedHost)
		if !st.IsSuccess() {
			m.status = st
			continue
		}
		m.state, m.assumed, m.node = state, assumed, res.SuggestedHost
		placed++
	}
	return placed
}

// rollback undoes every reservation of the attempt.
func (s *Scheduler) rollback(ctx context.Context, prof *profile.Profile, members []*gangMember) {
	for _, m := range members {
		if m.assumed != nil {
			s.unreserveAndForget(ctx, prof, m.state, m.assumed, m.node)
			m.assumed = nil
		}
	}
}

// commitGroup starts the binding cycles of the reserved members, tied by a
// barrier after PreBind, and requeues the members that did not fit (the
// group reached its minimum without them; they are retried alone).
func (s *Scheduler) commitGroup(ctx context.Context, prof *profile.Profile, gp framework.GroupPlugin, group *framework.PodGroup, members []*gangMember, dom *domain, scheduled, placed int, cycle int64, start time.Time) {
	logger := klog.FromContext(ctx)
	now := s.clock.Now()
	logger.V(2).Info("Placed pod group", "placed", placed, "scheduled", scheduled, "minMember", group.MinMember, "where", dom.String())
	s.metrics.GroupAttempts.WithLabelValues(metrics.ResultScheduled).Inc()
	s.groups.set(s.metrics, gp, group.Key, groupStateBinding, now)
	gb := &groupBind{group: group, gp: gp, pending: placed, remaining: placed, placed: placed, ready: make(chan struct{}), scheduledBefore: scheduled, start: now}
	msg := fmt.Sprintf("%d members placed in %s; binding", placed, dom)
	gp.ReportGroup(ctx, framework.GroupReport{Group: group, Outcome: framework.GroupPlaced, Placed: placed, Scheduled: scheduled + placed, Message: msg})
	for _, m := range members {
		pod := m.qpi.Pod
		if m.assumed == nil {
			s.requeueFailed(ctx, prof, m.qpi, memberStatus(group, m.status, msg), nil, cycle, start)
			continue
		}
		if t := m.qpi.InitialAttemptTimestamp; t != nil && t.Before(gb.start) {
			gb.start = *t
		}
		s.nominator.DeleteNominatedPodIfExists(pod)
		s.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled, prof.Name()).Inc()
		s.metrics.SchedulingAttemptDuration.WithLabelValues(metrics.ResultScheduled, prof.Name()).Observe(s.clock.Since(start).Seconds())
		s.queue.Done(pod.UID)
	}
	for _, m := range members {
		if m.assumed == nil {
			continue
		}
		// No slot is held until Bind: members wait for each other after
		// PreBind, and a gang larger than the bind concurrency must not
		// hold every slot while it waits.
		slot := &bindSlot{sem: s.bindSem}
		m := m
		s.bindWG.Add(1)
		go func() {
			defer s.bindWG.Done()
			defer slot.release()
			mctx := klog.NewContext(ctx, klog.LoggerWithValues(logger, "pod", klog.KObj(m.assumed)))
			s.bindingCycle(mctx, slot, prof, m.state, m.qpi, m.assumed, m.node, cycle, start, gb)
		}()
	}
}

// memberStatus is the status a member that was not kept gets: its own
// failure, prefixed with the group's summary.
func memberStatus(group *framework.PodGroup, st *framework.Status, summary string) *framework.Status {
	code := framework.Unschedulable
	reason := "it fit, but was rolled back with the group"
	if st != nil {
		code = st.Code()
		if code == framework.Success || code == framework.Skip {
			code = framework.Unschedulable
		}
		reason = st.Message()
	}
	out := framework.NewStatus(code, fmt.Sprintf("%s; this member: %s", summary, reason))
	if st != nil {
		out = out.WithError(st.AsError())
		if st.Plugin() != "" {
			out = out.WithPlugin(st.Plugin())
		}
	}
	return out
}

// failGroupMembers requeues every member of an attempt that placed too
// few, each with its own reason under the group's summary. Every member
// waits for the events that could help any of them: whichever wakes
// first takes the others from the queue.
func (s *Scheduler) failGroupMembers(ctx context.Context, prof *profile.Profile, gp framework.GroupPlugin, group *framework.PodGroup, members []*gangMember, summary string, scheduled int, cycle int64, start time.Time) {
	logger := klog.FromContext(ctx)
	plugins := sets.New(gp.Name())
	var firstFailure string
	for _, m := range members {
		if m.status == nil {
			continue
		}
		var fitErr *core.FitError
		if errors.As(m.status.AsError(), &fitErr) {
			plugins = plugins.Union(fitErr.Diagnosis.UnschedulablePlugins)
		} else if m.status.Plugin() != "" {
			plugins.Insert(m.status.Plugin())
		}
		if firstFailure == "" && !strings.HasPrefix(m.status.Message(), "not tried") {
			firstFailure = fmt.Sprintf("member %s/%s has no node: %s", m.qpi.Pod.Namespace, m.qpi.Pod.Name, m.status.Message())
		}
	}
	full := summary
	if firstFailure != "" {
		full += "; " + firstFailure
	}
	logger.V(2).Info("Pod group cannot be placed whole; none of its members is kept", "reason", full)
	s.metrics.GroupAttempts.WithLabelValues(metrics.ResultUnschedulable).Inc()
	s.groups.set(s.metrics, gp, group.Key, groupStateUnschedulable, s.clock.Now())
	gp.ReportGroup(ctx, framework.GroupReport{Group: group, Outcome: framework.GroupUnschedulable, Scheduled: scheduled, Message: full})
	for _, m := range members {
		s.requeueFailed(ctx, prof, m.qpi, memberStatus(group, m.status, summary), plugins, cycle, start)
	}
}

// failGroup requeues every member with one status (the group is waiting
// for members, can never fit, or hit an error).
func (s *Scheduler) failGroup(ctx context.Context, prof *profile.Profile, gp framework.GroupPlugin, group *framework.PodGroup, members []*gangMember, st *framework.Status, outcome framework.GroupOutcome, scheduled int, cycle int64, start time.Time) {
	result, state := metrics.ResultUnschedulable, groupStateUnschedulable
	switch outcome {
	case framework.GroupWaiting:
		result, state = resultWaiting, groupStateWaiting
	case framework.GroupError:
		result = metrics.ResultError
	}
	klog.FromContext(ctx).V(2).Info("Pod group not placed", "outcome", outcome, "reason", st.Message())
	s.metrics.GroupAttempts.WithLabelValues(result).Inc()
	s.groups.set(s.metrics, gp, group.Key, state, s.clock.Now())
	gp.ReportGroup(ctx, framework.GroupReport{Group: group, Outcome: outcome, Scheduled: scheduled, Message: st.Message()})
	var plugins sets.Set[string]
	if outcome == framework.GroupUnschedulable {
		// The cluster (or every topology domain) is too small for the
		// group: new or bigger nodes (NodeResourcesFit's events) or
		// relabelled ones (NodeAffinity's) may change that, as may the
		// group.
		plugins = sets.New(gp.Name(), noderesources.Name, nodeaffinity.Name)
	}
	for _, m := range members {
		s.requeueFailed(ctx, prof, m.qpi, st, plugins, cycle, start)
	}
}

// demand is the least a group needs: its minResources, or the requests
// of all its queued members when all of them are needed.
type demand struct {
	want  *framework.Resource
	names []v1.ResourceName
	what  string
}

// groupDemand returns the group's demand, or nil when neither is known.
func groupDemand(group *framework.PodGroup, members []*gangMember, need int) *demand {
	d := &demand{want: framework.NewResource(group.MinResources), what: "its minResources"}
	names := sets.New[v1.ResourceName]()
	for name := range group.MinResources {
		names.Insert(name)
	}
	if len(group.MinResources) == 0 {
		if need != len(members) {
			return nil
		}
		d.want, d.what = &framework.Resource{}, fmt.Sprintf("its %d members' requests", need)
		for _, m := range members {
			d.want.AddResource(framework.PodRequests(m.qpi.Pod))
		}
		names.Insert(v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage)
		for name := range d.want.ScalarResources {
			names.Insert(name)
		}
	}
	names.Delete(v1.ResourcePods)
	d.names = sets.List(names)
	return d
}

// shortfall returns the first resource of which capacity has less than
// the demand, with both amounts.
func (d *demand) shortfall(capacity *framework.Resource) (v1.ResourceName, int64, int64, bool) {
	for _, name := range d.names {
		if w, have := d.want.Get(name), capacity.Get(name); w > 0 && w > have {
			return name, w, have, true
		}
	}
	return "", 0, 0, false
}

// groupNeverFits says why the group can never run in this cluster, or "":
// its demand exceeds every node's allocatable summed. Preemption cannot
// help then, so the members wait for nodes, not retries.
func (s *Scheduler) groupNeverFits(group *framework.PodGroup, d *demand) string {
	if d == nil {
		return ""
	}
	total := &framework.Resource{}
	for _, ni := range s.snapshot.List() {
		total.AddResource(ni.Allocatable)
	}
	if name, w, have, short := d.shortfall(total); short {
		return fmt.Sprintf("pod group %s/%s can never fit: %s ask for %s of %s, but all %d nodes together have %s allocatable",
			group.Namespace, group.Name, d.what, quantity(name, w), name, s.snapshot.NumNodes(), quantity(name, have))
	}
	return ""
}

// domainsNeverFit is groupNeverFits for a group confined to one topology
// domain: it says why no domain can ever hold it, or "".
func domainsNeverFit(group *framework.PodGroup, d *demand, domains []*domain) string {
	if d == nil || group.TopologyKey == "" || len(domains) == 0 {
		return ""
	}
	var best *domain
	var name v1.ResourceName
	var want, most int64
	for _, dom := range domains {
		n, w, have, short := d.shortfall(dom.allocatable)
		if !short {
			return ""
		}
		if best == nil || have > most {
			best, name, want, most = dom, n, w, have
		}
	}
	return fmt.Sprintf("pod group %s/%s can never fit in one %s domain: %s ask for %s of %s, but the largest domain (%s=%s) has %s allocatable",
		group.Namespace, group.Name, group.TopologyKey, d.what, quantity(name, want), name, best.key, best.value, quantity(name, most))
}

// quantity prints an amount in the resource's usual unit.
func quantity(name v1.ResourceName, v int64) string {
	if name == v1.ResourceCPU {
		return resource.NewMilliQuantity(v, resource.DecimalSI).String()
	}
	if name == v1.ResourceMemory || name == v1.ResourceEphemeralStorage {
		return resource.NewQuantity(v, resource.BinarySI).String()
	}
	return resource.NewQuantity(v, resource.DecimalSI).String()
}

// groupDomains lists where the group may go: the whole cluster, or with a
// topology key each value of it, roomiest first. msg is set when no node
// has the key.
func (s *Scheduler) groupDomains(group *framework.PodGroup, placedOn []string) ([]*domain, string) {
	if group.TopologyKey == "" {
		return []*domain{nil}, ""
	}
	// Members already placed fix the domain; placed members on nodes
	// without the label, or in several domains, leave none (as for
	// kube-scheduler's topology placement: the group is never confined
	// then, so it is not placed).
	fixed := ""
	for _, name := range placedOn {
		ni, err := s.snapshot.Get(name)
		if err != nil {
			continue
		}
		v, ok := ni.Node().Labels[group.TopologyKey]
		if !ok || (fixed != "" && v != fixed) {
			return nil, fmt.Sprintf("pod group %s/%s must be inside one %s domain, but its members already placed are not (node %s has %s)",
				group.Namespace, group.Name, group.TopologyKey, name, labelValue(ni.Node().Labels, group.TopologyKey))
		}
		fixed = v
	}
	byValue := map[string]*domain{}
	for _, ni := range s.snapshot.List() {
		node := ni.Node()
		v, ok := node.Labels[group.TopologyKey]
		if !ok || (fixed != "" && v != fixed) {
			continue
		}
		d := byValue[v]
		if d == nil {
			d = &domain{key: group.TopologyKey, value: v, nodes: sets.New[string](), allocatable: &framework.Resource{}}
			byValue[v] = d
		}
		d.nodes.Insert(node.Name)
		d.allocatable.AddResource(ni.Allocatable)
		d.freeMilliCPU += ni.Allocatable.MilliCPU - ni.Requested.MilliCPU
		d.freeMemory += ni.Allocatable.Memory - ni.Requested.Memory
	}
	if len(byValue) == 0 {
		return nil, fmt.Sprintf("pod group %s/%s must be placed inside one %s domain, but no node has that label", group.Namespace, group.Name, group.TopologyKey)
	}
	out := make([]*domain, 0, len(byValue))
	for _, d := range byValue {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.freeMilliCPU != b.freeMilliCPU {
			return a.freeMilliCPU > b.freeMilliCPU
		}
		if a.freeMemory != b.freeMemory {
			return a.freeMemory > b.freeMemory
		}
		return a.value < b.value
	})
	return out, ""
}

// labelValue renders a node's value of key for messages.
func labelValue(labels map[string]string, key string) string {
	if v, ok := labels[key]; ok {
		return key + "=" + v
	}
	return "no " + key + " label"
}

// groupBind ties the binding cycles of one group attempt together: each
// member arrives after PreBind (or on failing before Bind) and none binds
// until all have arrived; if any failed, all roll back.
type groupBind struct {
	group *framework.PodGroup
	gp    framework.GroupPlugin

	mu sync.Mutex
	// pending counts members yet to arrive; ready closes when it is 0.
	pending int
	ready   chan struct{}
	failure string
	// remaining counts members whose cycle has not ended; bound those
	// that were bound.
	remaining, bound int
	// placed is how many members the attempt reserved.
	placed          int
	scheduledBefore int
	// start is the earliest first attempt among the members.
	start time.Time
}

// arrive records that a member got past PreBind (st nil) or failed before
// Bind, then waits for the others. Every member arrives exactly once, so
// the wait ends. A non-nil result means the group rolls back.
func (g *groupBind) arrive(pod *v1.Pod, st *framework.Status) *framework.Status {
	g.mu.Lock()
	if st != nil && g.failure == "" {
		g.failure = fmt.Sprintf("member %s/%s failed before binding: %s", pod.Namespace, pod.Name, st.Message())
	}
	g.pending--
	if g.pending == 0 {
		close(g.ready)
	}
	g.mu.Unlock()
	<-g.ready
	if g.failure == "" {
		return nil
	}
	return framework.NewStatus(framework.Unschedulable, fmt.Sprintf("pod group %s/%s rolled back: %s", g.group.Namespace, g.group.Name, g.failure)).WithPlugin(g.gp.Name())
}

// finish records the end of one member's binding cycle; the last one
// reports the group.
func (g *groupBind) finish(ctx context.Context, s *Scheduler, bound bool) {
	g.mu.Lock()
	if bound {
		g.bound++
	}
	g.remaining--
	last := g.remaining == 0
	n, failure := g.bound, g.failure
	g.mu.Unlock()
	if !last {
		return
	}
	now := s.clock.Now()
	switch {
	case n > 0 && failure == "":
		s.metrics.GroupPlacementDuration.Observe(now.Sub(g.start).Seconds())
		s.groups.set(s.metrics, g.gp, g.group.Key, groupStateScheduled, now)
		msg := fmt.Sprintf("%d members bound", n)
		if n < g.placed {
			// A bind failed after every member passed PreBind (the node
			// went away, say): the member is retried on its own, and the
			// group counts the bound ones toward its minimum.
			msg = fmt.Sprintf("%d of %d placed members bound; the rest are retried", n, g.placed)
		}
		g.gp.ReportGroup(ctx, framework.GroupReport{Group: g.group, Outcome: framework.GroupBound, Placed: n, Scheduled: g.scheduledBefore + n, Message: msg})
	default:
		s.groups.set(s.metrics, g.gp, g.group.Key, groupStateUnschedulable, now)
		msg := failure
		if msg == "" {
			msg = "no member could be bound"
		}
		g.gp.ReportGroup(ctx, framework.GroupReport{Group: g.group, Outcome: framework.GroupUnschedulable, Scheduled: g.scheduledBefore + n, Message: msg})
	}
}
