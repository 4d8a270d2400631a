package explain

import (
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// preemptionCandidate is a node where evicting victims lets the pod fit.
type preemptionCandidate struct {
	node    string
	victims []*framework.PodInfo
	// protected[i] tells whether evicting victims[i] breaks a
	// PodDisruptionBudget.
	protected []bool
}

func (c preemptionCandidate) violations() int {
	n := 0
	for _, p := range c.protected {
		if p {
			n++
		}
	}
	return n
}

// highest is the priority of the most important victim.
func (c preemptionCandidate) highest() int32 {
	return corev1helpers.PodPriority(c.victims[0].Pod)
}

func (c preemptionCandidate) prioritySum() int64 {
	var s int64
	for _, v := range c.victims {
		s += int64(corev1helpers.PodPriority(v.Pod))
	}
	return s
}

// suggestResources looks for nodes where evicting lower-priority pods lets
// the pod pass every filter, and says what the closest nodes lack. Only
// nodes rejected with a resolvable code (Unschedulable) are tried, as
// preemption does.
func (a *analysis) suggestResources() ([]Suggestion, error) {
	var out []Suggestion
	cands, err := a.preemptionCandidates()
	if err != nil {
		return nil, err
	}
	prof := a.profile()
	never := a.pod.Spec.PreemptionPolicy != nil && *a.pod.Spec.PreemptionPolicy == v1.PreemptNever
	for i, c := range cands {
		if i == a.opts.MaxSuggestions {
			break
		}
		s := Suggestion{Cause: CausePreemption, Verified: true, FitNodes: 1, Nodes: []string{c.node}}
		var names []string
		for i, v := range c.victims {
			s.Victims = append(s.Victims, Victim{Namespace: v.Pod.Namespace, Name: v.Pod.Name, Priority: corev1helpers.PodPriority(v.Pod), ViolatesPDB: c.protected[i]})
			names = append(names, v.Pod.Namespace+"/"+v.Pod.Name)
		}
		lead := fmt.Sprintf("%s rejects it (%s)", c.node, a.rejected[c.node].Message())
		if a.rejected[c.node].Plugin() == noderesources.Name {
			if sf := a.shortfall(c.node); len(sf) > 0 {
				s.Shortfall = sf
				lead = fmt.Sprintf("%s lacks %s", c.node, shortfallString(sf))
			}
		}
		s.Change = "evict " + strings.Join(names, ", ")
		prios := victimPriorities(c.victims)
		if n := c.violations(); n > 0 {
			prios += fmt.Sprintf("; %d of them protected by a PodDisruptionBudget", n)
		}
		switch {
		case never:
			s.Message = fmt.Sprintf("%s; preempting %s (%s) would free it, but the pod's preemptionPolicy is Never, so berth will not preempt for it", lead, strings.Join(names, ", "), prios)
		case !prof.HasPostFilter():
			s.Message = fmt.Sprintf("%s; evicting %s (%s) would free it, but profile %s runs no preemption (PostFilter) plugin", lead, strings.Join(names, ", "), prios, prof.Name())
		default:
			s.Message = fmt.Sprintf("%s; preempting %s (%s) would free it", lead, strings.Join(names, ", "), prios)
		}
		out = append(out, s)
	}
	if len(cands) > 0 {
		return out, nil
	}
	// No preemption helps: say how far the nearest nodes are.
	fit := a.rejectedBy(noderesources.Name)
	if len(fit) == 0 {
		return out, nil
	}
	if s, ok := a.tooBigForEveryNode(); ok {
		return append(out, s), nil
	}
	type near struct {
		node string
		gap  float64
		sf   map[string]string
	}
	req := framework.NewPodInfo(a.pod).Requests
	var nears []near
	for _, n := range fit {
		ni, err := a.eval.Snapshot.Get(n)
		if err != nil {
			continue
		}
		nears = append(nears, near{n, relativeGap(req, ni), a.shortfall(n)})
	}
	sort.SliceStable(nears, func(i, j int) bool { return nears[i].gap < nears[j].gap })
	why := "no lower-priority pods whose eviction would make room"
	if never {
		why = "its preemptionPolicy is Never"
	}
	for i, n := range nears {
		if i == a.opts.MaxSuggestions {
			break
		}
		if len(n.sf) == 0 {
			continue
		}
		why := why
		if a.rejected[n.node].Code() == framework.UnschedulableAndUnresolvable {
			why = "the request exceeds the node's allocatable"
		}
		out = append(out, Suggestion{
			Cause:     CauseResources,
			Message:   fmt.Sprintf("%s lacks %s for this pod (%s); preemption cannot help: %s", n.node, shortfallString(n.sf), whyNoPreemption(len(fit)), why),
			Nodes:     []string{n.node},
			Shortfall: n.sf,
		})
	}
	return out, nil
}

func whyNoPreemption(n int) string {
	return fmt.Sprintf("closest of the %d nodes short of resources", n)
}

// preemptionCandidates tries every node rejected with a resolvable status:
// all lower-priority pods are removed from a clone of the node (the
// PreFilter RemovePod extensions keep the cycle state in step); if the pod
// then passes every filter, the victims are put back one by one, most
// important first, and stay only where the pod no longer fits with them.
// Pods a PodDisruptionBudget protects are put back first. Candidates are
// ordered by the number of budget violations, then the priority of their
// most important victim, then the number of victims, then the sum of their
// priorities, then name.
func (a *analysis) preemptionCandidates() ([]preemptionCandidate, error) {
	prio := corev1helpers.PodPriority(a.pod)
	var names []string
	for name, st := range a.rejected {
		if st.Code() == framework.Unschedulable {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	// The base state is shared read-only by the workers below.
	if _, err := a.baseState(); err != nil {
		return nil, err
	}
	found := make([]*preemptionCandidate, len(names))
	errs := make([]error, len(names))
	profile.Parallelize(a.ctx, runtime.GOMAXPROCS(0), len(names), func(i int) {
		found[i], errs[i] = a.victimsOn(names[i], prio)
	})
	var out []preemptionCandidate
	for i, c := range found {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.violations() != b.violations() {
			return a.violations() < b.violations()
		}
		if a.highest() != b.highest() {
			return a.highest() < b.highest()
		}
		if len(a.victims) != len(b.victims) {
			return len(a.victims) < len(b.victims)
		}
		return a.prioritySum() < b.prioritySum()
	})
	return out, nil
}

// victimsOn is the what-if of preemptionCandidates for one node: nil when
// evicting every lower-priority pod would not make room.
func (a *analysis) victimsOn(name string, prio int32) (*preemptionCandidate, error) {
	ni, err := a.eval.Snapshot.Get(name)
	if err != nil {
		return nil, err
	}
	var lower []*framework.PodInfo
	for _, pi := range ni.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio {
			lower = append(lower, pi)
		}
	}
	if len(lower) == 0 {
		return nil, nil
	}
	sort.SliceStable(lower, func(i, j int) bool { return moreImportant(lower[i].Pod, lower[j].Pod) })
	// Pods a budget protects are spared first, as berth's preemption
	// does; each group keeps the importance order.
	var spareFirst, rest []*framework.PodInfo
	for i, prot := range a.budgets.protected(lower) {
		if prot {
			spareFirst = append(spareFirst, lower[i])
		} else {
			rest = append(rest, lower[i])
		}
	}
	order := append(spareFirst, rest...)
	var victims []*framework.PodInfo
	st, err := a.tryNode(name, func(state *framework.CycleState, ni *framework.NodeInfo) error {
		prof := a.profile()
		for _, pi := range lower {
			if err := ni.RemovePod(pi.Pod); err != nil {
				return err
			}
			if st := prof.RunPreFilterExtensionRemovePod(a.ctx, state, a.pod, pi, ni); !st.IsSuccess() {
				return st.AsError()
			}
		}
		// Reprieve: with every candidate gone the pod must fit
		// (checked by tryNode's final run); put back whatever it can
		// live with, in order (protected, then most important, first).
		if !a.fitsOn(state, ni) {
			victims = lower
			return nil
		}
		for _, pi := range order {
			ni.AddPodInfo(pi)
			if st := prof.RunPreFilterExtensionAddPod(a.ctx, state, a.pod, pi, ni); !st.IsSuccess() {
				return st.AsError()
			}
			if a.fitsOn(state, ni) {
				continue
			}
			if err := ni.RemovePod(pi.Pod); err != nil {
				return err
			}
			if st := prof.RunPreFilterExtensionRemovePod(a.ctx, state, a.pod, pi, ni); !st.IsSuccess() {
				return st.AsError()
			}
			victims = append(victims, pi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !st.IsSuccess() || len(victims) == 0 {
		return nil, nil
	}
	sort.SliceStable(victims, func(i, j int) bool { return moreImportant(victims[i].Pod, victims[j].Pod) })
	return &preemptionCandidate{node: name, victims: victims, protected: a.budgets.protected(victims)}, nil
}

func (a *analysis) fitsOn(state *framework.CycleState, ni *framework.NodeInfo) bool {
	return core.FilterNode(a.ctx, a.profile(), a.nom, state, a.pod, ni).IsSuccess()
}

// moreImportant orders pods by priority, then by age (older first), the
// order in which preemption tries to spare them.
func moreImportant(p, q *v1.Pod) bool {
	pp, qp := corev1helpers.PodPriority(p), corev1helpers.PodPriority(q)
	if pp != qp {
		return pp > qp
	}
	pt, qt := p.CreationTimestamp, q.CreationTimestamp
	if p.Status.StartTime != nil {
		pt = *p.Status.StartTime
	}
	if q.Status.StartTime != nil {
		qt = *q.Status.StartTime
	}
	if !pt.Equal(&qt) {
		return pt.Before(&qt)
	}
	return p.Namespace+"/"+p.Name < q.Namespace+"/"+q.Name
}

func victimPriorities(victims []*framework.PodInfo) string {
	seen := map[int32]bool{}
	var ps []int
	for _, v := range victims {
		p := corev1helpers.PodPriority(v.Pod)
		if !seen[p] {
			seen[p] = true
			ps = append(ps, int(p))
		}
	}
	sort.Ints(ps)
	strs := make([]string, len(ps))
	for i, p := range ps {
		strs[i] = strconv.Itoa(p)
	}
	if len(strs) == 1 {
		return "priority " + strs[0]
	}
	return "priorities " + strings.Join(strs, ", ")
}
