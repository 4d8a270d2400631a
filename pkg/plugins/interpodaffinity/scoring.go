package interpodaffinity

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// scoreMap is topology key → value → summed weight.
type scoreMap map[string]map[string]int64

// addValue adds weight at key=value; like kube-scheduler, it records the
// pair even when the weight is zero, which decides whether NormalizeScore
// scales at all.
func (m scoreMap) addValue(key, value string, weight int64) {
	values := m[key]
	if values == nil {
		values = make(map[string]int64)
		m[key] = values
	}
	values[value] += weight
}

// preScoreState is read by Score and NormalizeScore; never modified.
type preScoreState struct {
	topologyScore scoreMap
}

// Clone returns the state itself: it is read-only.
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore sums, per topology pair, the weights of every term relating the
// pod and an existing pod: the pod's preferred terms matched by existing
// pods, and existing pods' required affinity (weighted by
// hardPodAffinityWeight) and preferred terms matched by the pod. Anti
// terms subtract. Without preferred terms of its own the pod needs only
// the nodes with pods that have affinity.
func (pl *InterPodAffinity) PreScore(ctx context.Context, cycleState *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	a := pod.Spec.Affinity
	hasConstraints := a != nil && ((a.PodAffinity != nil && len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
	if pl.ignorePreferredTermsOfExistingPods && !hasConstraints {
		return framework.NewStatus(framework.Skip)
	}
	lister := pl.handle.SnapshotSharedLister().NodeInfos()
	var withAffinity []*framework.NodeInfo
	if !hasConstraints {
		withAffinity = lister.HavePodsWithAffinityList()
		if len(withAffinity) == 0 {
			// No term on either side: every sum would be empty.
			return framework.NewStatus(framework.Skip)
		}
	}
	pt := pl.terms.get(pod)
	if pt.err != nil {
		return framework.AsStatus(fmt.Errorf("failed to parse pod: %w", pt.err))
	}
	r := resolver{lister: pl.nsLister}
	preferred, err := r.resolveWeighted(pt.preferredAffinity)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("updating PreferredAffinityTerms: %w", err))
	}
	preferredAnti, err := r.resolveWeighted(pt.preferredAnti)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("updating PreferredAntiAffinityTerms: %w", err))
	}
	memo := matchMemo{pod: pod, nsLabels: namespaceLabels(klog.FromContext(ctx), pl.nsLister, pod.Namespace)}
	count := func(ni *framework.NodeInfo, out []scoreContribution) []scoreContribution {
		return pl.nodeScoreContributions(&memo, hasConstraints, preferred, preferredAnti, ni, out)
	}

	var scores scoreMap
	all := lister.List()
	if pl.scores != nil && (hasConstraints || len(withAffinity) >= len(all)/incrementalShare) {
		// Every node of the list, not only those with affinity pods: the
		// full list is the same slice from cycle to cycle, so the entry's
		// per-node parts line up, and a node without such pods adds
		// nothing when the pod has no preferred terms.
		scores = pl.scores.fill(scoreSignature(pod, memo.nsLabels, hasConstraints, preferred, preferredAnti), all, count)
	} else {
		nodes := all
		if !hasConstraints {
			nodes = withAffinity
		}
		scores = scoreMap{}
		var buf []scoreContribution
		for _, ni := range nodes {
			buf = count(ni, buf[:0])
			for _, ct := range buf {
				scores.addValue(ct.key, ct.value, ct.weight)
			}
		}
	}
	if len(scores) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cycleState.Write(preScoreStateKey, &preScoreState{topologyScore: scores})
	return nil
}

// incrementalShare: when fewer than 1/incrementalShare of the nodes have
// pods with affinity and the pod has no preferred terms, summing over those
// nodes afresh is cheaper than checking every node's generation.
const incrementalShare = 16

// hasScoringTerms reports whether an existing pod declares terms PreScore
// reads: preferred (anti-)affinity, or required affinity when it weighs
// (hard). Pods with only required anti-affinity, the common case, are so
// passed over without looking up their parsed terms; a list that is empty
// in the spec parses to an empty list, so nothing is lost.
func hasScoringTerms(p *v1.Pod, hard bool) bool {
	a := p.Spec.Affinity
	if a == nil {
		return false
	}
	if pa := a.PodAffinity; pa != nil && (len(pa.PreferredDuringSchedulingIgnoredDuringExecution) > 0 ||
		(hard && len(pa.RequiredDuringSchedulingIgnoredDuringExecution) > 0)) {
		return true
	}
	pa := a.PodAntiAffinity
	return pa != nil && len(pa.PreferredDuringSchedulingIgnoredDuringExecution) > 0
}

// nodeScoreContributions lists what one node adds to the sums: for each of
// its pods (only those with affinity unless allPods), the pod's preferred
// terms it matches and the terms of its own that the incoming pod matches,
// at the node's value of each term's key.
func (pl *InterPodAffinity) nodeScoreContributions(memo *matchMemo, allPods bool, preferred, preferredAnti []resolvedWeighted, ni *framework.NodeInfo, out []scoreContribution) []scoreContribution {
	node := ni.Node()
	if node == nil || len(node.Labels) == 0 {
		return out
	}
	add := func(key string, weight int64) {
		if value, ok := node.Labels[key]; ok {
			out = append(out, scoreContribution{key: key, value: value, weight: weight})
		}
	}
	hard := int64(pl.hardPodAffinityWeight)
	pods := ni.PodsWithAffinity
	if allPods {
		pods = ni.Pods
	}
	for _, pi := range pods {
		existing := pi.Pod
		for i := range preferred {
			if preferred[i].matches(existing) {
				add(preferred[i].topologyKey, int64(preferred[i].weight))
			}
		}
		for i := range preferredAnti {
			if preferredAnti[i].matches(existing) {
				add(preferredAnti[i].topologyKey, -int64(preferredAnti[i].weight))
			}
		}
		if !hasScoringTerms(existing, hard > 0) {
			continue
		}
		et := pl.terms.get(existing)
		if hard > 0 {
			for _, t := range et.requiredAffinity {
				if memo.matches(t) {
					add(t.topologyKey, hard)
				}
			}
		}
		for _, t := range et.preferredAffinity {
			if memo.matches(t.term) {
				add(t.topologyKey, int64(t.weight))
			}
		}
		for _, t := range et.preferredAnti {
			if memo.matches(t.term) {
				add(t.topologyKey, -int64(t.weight))
			}
		}
	}
	return out
}

func getPreScoreState(cycleState *framework.CycleState) (*preScoreState, error) {
	return framework.ReadState[*preScoreState](cycleState, preScoreStateKey)
}

// Score sums the weights recorded for the node's topology pairs; it is
// negative where anti-affinity dominates and is normalised afterwards.
func (pl *InterPodAffinity) Score(_ context.Context, cycleState *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	s, err := getPreScoreState(cycleState)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	node := nodeInfo.Node()
	var score int64
	for key, values := range s.topologyScore {
		if v, ok := node.Labels[key]; ok {
			score += values[v]
		}
	}
	return score, nil
}

// ScoreExtensions returns the plugin, which normalises its scores.
func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps [min, max] of the raw scores linearly onto
// [0, MaxNodeScore], in float64 and truncated, as kube-scheduler does, so
// that the results agree to the unit.
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, cycleState *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(cycleState)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(s.topologyScore) == 0 {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sc := range scores {
		lo = min(lo, sc.Score)
		hi = max(hi, sc.Score)
	}
	diff := hi - lo
	for i := range scores {
		var f float64
		if diff > 0 {
			f = float64(framework.MaxNodeScore) * (float64(scores[i].Score-lo) / float64(diff))
		}
		scores[i].Score = int64(f)
	}
	return nil
}
