package defaultpreemption

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

var _ framework.GroupPreemptor = (*DefaultPreemption)(nil)

// expandGangs adds to victims every other bound member of each victim's
// gang (a gang is evicted whole or not at all). It fails when a member
// that would have to go is not of lower priority than prio: that gang
// cannot be broken, so the candidate is not usable.
func expandGangs(pre framework.Preemption, victims []*v1.Pod, prio int32) ([]*v1.Pod, bool) {
	seen := map[types.UID]bool{}
	for _, v := range victims {
		seen[v.UID] = true
	}
	out := victims
	for _, v := range victims {
		for _, m := range pre.GangOf(v) {
			if seen[m.UID] {
				continue
			}
			if corev1helpers.PodPriority(m) >= prio {
				return nil, false
			}
			seen[m.UID] = true
			out = append(out, m)
		}
	}
	return out, true
}

// anyLowerPriority reports whether some node runs a pod of lower priority
// than the group's highest, the only pods preemption may evict: without
// one, the dry run is skipped.
func anyLowerPriority(nodes []*framework.NodeInfo, pods []*v1.Pod) bool {
	var top int32
	for i, p := range pods {
		if pr := corev1helpers.PodPriority(p); i == 0 || pr > top {
			top = pr
		}
	}
	for _, ni := range nodes {
		for _, pi := range ni.Pods {
			if corev1helpers.PodPriority(pi.Pod) < top {
				return true
			}
		}
	}
	return false
}

// simNode is a node as the group simulation changed it: a clone with
// victims removed and members added.
type simNode struct {
	ni      *framework.NodeInfo
	removed []*framework.PodInfo
	added   []*framework.PodInfo
}

// groupSim is one gang preemption simulation.
type groupSim struct {
	pl    *DefaultPreemption
	pre   framework.Preemption
	fr    framework.FilterRunner
	nodes map[string]*simNode
	// victims in the order chosen, and where each runs.
	victims    []*v1.Pod
	victimNode map[types.UID]string
	// members are the pods of the group placed so far.
	members map[types.UID]bool
}

func (g *groupSim) hasMember(pods []*v1.Pod) bool {
	for _, p := range pods {
		if g.members[p.UID] {
			return true
		}
	}
	return false
}

func (g *groupSim) node(ni *framework.NodeInfo) *simNode {
	name := ni.Node().Name
	if sn := g.nodes[name]; sn != nil {
		return sn
	}
	sn := &simNode{ni: ni.Clone()}
	g.nodes[name] = sn
	return sn
}

// current is the node as the simulation sees it (not cloned when
// untouched: filters only read).
func (g *groupSim) current(ni *framework.NodeInfo) *framework.NodeInfo {
	if sn := g.nodes[ni.Node().Name]; sn != nil {
		return sn.ni
	}
	return ni
}

// baseState replays every change of the simulation into a copy of the
// member's PreFilter state, so that cross-node plugins (spread, affinity)
// count the victims gone and the earlier members placed.
func (g *groupSim) baseState(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.CycleState, error) {
	st := state.Clone()
	for _, sn := range g.nodes {
		for _, pi := range sn.removed {
			if s := g.fr.RunPreFilterExtensionRemovePod(ctx, st, pod, pi, sn.ni); !s.IsSuccess() {
				return nil, s.AsError()
			}
		}
		for _, pi := range sn.added {
			if s := g.fr.RunPreFilterExtensionAddPod(ctx, st, pod, pi, sn.ni); !s.IsSuccess() {
				return nil, s.AsError()
			}
		}
	}
	return st, nil
}

// evictInSim removes victims from their nodes in the simulation.
func (g *groupSim) evictInSim(lister framework.NodeInfoLister, victims []*v1.Pod) error {
	for _, v := range victims {
		if _, done := g.victimNode[v.UID]; done {
			continue
		}
		ni, err := lister.Get(v.Spec.NodeName)
		if err != nil {
			return err
		}
		sn := g.node(ni)
		if err := sn.ni.RemovePod(v); err != nil {
			return err
		}
		sn.removed = append(sn.removed, framework.NewPodInfo(v))
		g.victims = append(g.victims, v)
		g.victimNode[v.UID] = v.Spec.NodeName
	}
	return nil
}

// PreemptGroup implements framework.GroupPreemptor. Each member, in order,
// takes a node where it fits as the simulation stands, else the node whose
// victims cost least (the single-pod criteria); victims that belong to a
// gang take their whole gang with them. Only if need members fit does it
// evict and nominate; otherwise nothing happens.
func (pl *DefaultPreemption) PreemptGroup(ctx context.Context, group *framework.PodGroup, pods []*v1.Pod, need int, preFilter func(pod *v1.Pod) (*framework.CycleState, *framework.Status)) (map[string]string, *framework.Status) {
	logger := klog.FromContext(ctx)
	pre, st := pl.begin()
	if st != nil {
		return nil, st
	}
	if _, ok := pl.running.Load(group.Key); ok {
		// As for a single pod: the group's last evictions are still
		// running; the members keep their nominations.
		return nil, framework.NewStatus(framework.Unschedulable, ReasonPreemptionRunning)
	}
	lister := pl.h.SnapshotSharedLister().NodeInfos()
	all := lister.List()
	if len(all) == 0 {
		return nil, framework.NewStatus(framework.Error, "no nodes available")
	}
	if !anyLowerPriority(all, pods) {
		return nil, framework.NewStatus(framework.Unschedulable, "preemption cannot help: no pod of lower priority than the group's runs on any node")
	}
	pdbs, err := listPDBs(pl.pdbLister)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	g := &groupSim{pl: pl, pre: pre, fr: pre.FilterRunner(), nodes: map[string]*simNode{}, victimNode: map[types.UID]string{}, members: map[types.UID]bool{}}
	nominated := map[string]string{}
	var lastWhy string
	for _, pod := range pods {
		if len(nominated) >= need {
			break
		}
		never := pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever
		state, st := preFilter(pod)
		if !st.IsSuccess() {
			lastWhy = fmt.Sprintf("member %s: %s", pod.Name, st.Message())
			continue
		}
		base, err := g.baseState(ctx, state, pod)
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		node, victims, why := g.placeMember(ctx, base, pod, all, pdbs, !never)
		if node == "" {
			lastWhy = fmt.Sprintf("member %s: %s", pod.Name, why)
			continue
		}
		if err := g.evictInSim(lister, victims); err != nil {
			return nil, framework.AsStatus(err)
		}
		ni, err := lister.Get(node)
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		sn := g.node(ni)
		pi := framework.NewPodInfo(pod)
		sn.ni.AddPodInfo(pi)
		sn.added = append(sn.added, pi)
		nominated[string(pod.UID)] = node
		g.members[pod.UID] = true
	}
	if len(nominated) < need {
		msg := fmt.Sprintf("preemption cannot help: %d of %d needed members would fit even after evicting lower-priority pods", len(nominated), need)
		if lastWhy != "" {
			msg += "; " + lastWhy
		}
		logger.V(2).Info("Gang preemption not helpful", "podGroup", group.Key, "fit", len(nominated), "need", need)
		return nil, framework.NewStatus(framework.Unschedulable, msg)
	}
	if len(g.victims) == 0 {
		// Everyone fits without evicting: the cluster changed since the
		// attempt; the retry will place the group.
		return nominated, nil
	}
	if m := pre.PreemptionMetrics(); m != nil {
		m.Victims(len(g.victims))
	}
	logger.V(2).Info("Gang preemption: evicting", "podGroup", group.Key, "victims", len(g.victims), "members", len(nominated))
	byUID := map[string]*v1.Pod{}
	for _, p := range pods {
		byUID[string(p.UID)] = p
	}
	actx := klog.NewContext(context.WithoutCancel(ctx), logger)
	victims, victimNode := g.victims, g.victimNode
	pl.inflight.Add(1)
	pl.running.Store(group.Key, struct{}{})
	pl.async(func() {
		defer pl.inflight.Done()
		defer pl.running.Delete(group.Key)
		pl.executeGroup(actx, group, byUID, nominated, victims, victimNode)
	})
	return nominated, nil
}

// placeMember finds where one member goes in the simulation: the first
// node where it fits as things stand, else the cheapest preemption
// candidate whose victims' gangs may all go.
func (g *groupSim) placeMember(ctx context.Context, base *framework.CycleState, pod *v1.Pod, all []*framework.NodeInfo, pdbs []*policy.PodDisruptionBudget, mayEvict bool) (string, []*v1.Pod, string) {
	for _, ni := range all {
		if g.fr.RunFilterPluginsWithNominatedPods(ctx, base, pod, g.current(ni)).IsSuccess() {
			return ni.Node().Name, nil, ""
		}
	}
	if !mayEvict {
		// A member that must not preempt still counts where it fits as
		// the simulation stands (room its siblings' victims free).
		return "", nil, ReasonPreemptNever
	}
	prio := corev1helpers.PodPriority(pod)
	var cands []*candidate
	_, num := g.pl.offsetAndNumCandidates(len(all))
	reasons := map[string]int{}
	for _, ni := range all {
		if len(cands) >= num {
			break
		}
		cur := g.current(ni).Clone()
		st := base.Clone()
		victims, violations, s := g.pl.selectVictimsOnNode(ctx, g.fr, st, pod, cur, pdbs)
		if !s.IsSuccess() {
			reasons[s.Message()]++
			continue
		}
		if g.hasMember(victims) {
			// A member placed earlier in the simulation (of lower
			// priority than this one) must not make room for it.
			reasons["only by evicting a member of the same group"]++
			continue
		}
		expanded, ok := expandGangs(g.pre, victims, prio)
		if !ok {
			reasons["a victim's gang has a member of equal or higher priority"]++
			continue
		}
		cands = append(cands, &candidate{node: ni.Node().Name, victims: expanded, pdbViolations: violations, seq: len(cands)})
	}
	if len(cands) == 0 {
		var parts []string
		for r, n := range reasons {
			parts = append(parts, fmt.Sprintf("%d node(s): %s", n, r))
		}
		return "", nil, "no node has room even after evicting lower-priority pods (" + strings.Join(parts, "; ") + ")"
	}
	best := g.pl.pickCandidate(cands)
	return best.node, best.victims, ""
}

// executeGroup carries out a gang preemption off the scheduling loop:
// nominate each member's node, then evict the victims.
func (pl *DefaultPreemption) executeGroup(ctx context.Context, group *framework.PodGroup, pods map[string]*v1.Pod, nominated map[string]string, victims []*v1.Pod, victimNode map[types.UID]string) {
	logger := klog.FromContext(ctx)
	cs := pl.h.ClientSet()
	var preemptor *v1.Pod
	for uid, node := range nominated {
		p := pods[uid]
		if preemptor == nil || p.Name < preemptor.Name {
			preemptor = p
		}
		if p.Status.NominatedNodeName != node {
			if err := patchNominatedNodeName(ctx, cs.CoreV1().Pods(p.Namespace), p, node); err != nil {
				logger.Error(err, "Setting a gang member's nominatedNodeName", "pod", klog.KObj(p), "node", node)
			}
		}
	}
	var failed []string
	for _, v := range victims {
		if err := pl.evict(ctx, preemptor, v, victimNode[v.UID]); err != nil {
			logger.Error(err, "Preempting victim for a gang", "podGroup", group.Key, "victim", klog.KObj(v))
			failed = append(failed, klog.KObj(v).String())
		}
	}
	if rec := pl.h.EventRecorder(); rec != nil {
		if len(failed) > 0 {
			rec.Eventf(preemptor, nil, v1.EventTypeWarning, EventReasonFailedPreemption, eventActionPreempting,
				"Could not preempt %d of %d victim(s) for pod group %s/%s: %s", len(failed), len(victims), group.Namespace, group.Name, strings.Join(failed, ", "))
		} else {
			rec.Eventf(preemptor, nil, v1.EventTypeNormal, EventReasonPreempting, eventActionPreempting,
				"Preempting %d pod(s) to place pod group %s/%s (%d members nominated)", len(victims), group.Namespace, group.Name, len(nominated))
		}
	}
	logger.V(2).Info("Gang preemption done", "podGroup", group.Key, "victims", len(victims), "failed", len(failed))
}
