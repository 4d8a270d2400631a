package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

const preScoreStateKey framework.StateKey = "PreScore" + Name

// preScoreState is what Score and NormalizeScore read.
type preScoreState struct {
	constraints []constraint
	ns          string
	requireAll  bool
	// ignored holds the feasible nodes lacking a topology key when all keys
	// are required: they score 0 after normalisation. Nil when none.
	ignored map[string]struct{}
	lay     *layout
	// totals[i][d] is the number of matching pods in domain d over the
	// nodes that take part in constraint i; nil for the hostname key,
	// whose count is the node's own and taken in Score.
	totals [][]int32
	// weights[i] is log(domains+2) over the feasible nodes, so that a
	// topology with few domains is not drowned by one with many.
	weights []float64
}

// Clone returns the state itself: nothing changes it after PreScore.
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore brings the tally for the pod's ScheduleAnyway constraints up to
// date over all nodes and weighs each topology by its number of domains
// among the feasible nodes. Pods without such constraints skip Score.
func (pl *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, feasible []*framework.NodeInfo) *framework.Status {
	allNodes := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if len(allNodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs, err := pl.getConstraints(pod, v1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	// The system defaults tolerate nodes without a zone label (they spread
	// by host only there); explicit or listed constraints do not.
	requireAll := len(pod.Spec.TopologySpreadConstraints) > 0 || !pl.systemDefaulted
	s := &preScoreState{
		constraints: cs,
		ns:          pod.Namespace,
		requireAll:  requireAll,
		totals:      make([][]int32, len(cs)),
		weights:     make([]float64, len(cs)),
	}

	pl.tallies.mu.Lock()
	t := pl.tallies.syncedTally(klog.FromContext(ctx), pod, cs, requireAll, allNodes)
	s.lay = t.publish()
	for i := range cs {
		if cs[i].TopologyKey != v1.LabelHostname {
			s.totals[i] = append([]int32(nil), t.domTotals[i]...)
		}
	}
	pl.tallies.mu.Unlock()

	// Count the distinct domains of each topology among the feasible nodes
	// that are scored.
	seen := make([][]bool, len(cs))
	extra := make([]map[string]struct{}, len(cs))
	sizes := make([]int, len(cs))
	for i := range cs {
		seen[i] = make([]bool, len(s.totals[i]))
	}
	for _, ni := range feasible {
		node := ni.Node()
		if requireAll && !hasAllKeys(node.Labels, cs) {
			if s.ignored == nil {
				s.ignored = map[string]struct{}{}
			}
			s.ignored[node.Name] = struct{}{}
			continue
		}
		for i := range cs {
			if cs[i].TopologyKey == v1.LabelHostname {
				continue
			}
			d, _ := s.lay.domainOfNode(node, i, cs[i].TopologyKey, requireAll)
			switch {
			case d >= 0 && !seen[i][d]:
				seen[i][d] = true
				sizes[i]++
			case d < 0:
				// Not in the layout: a node the tally has not seen.
				if extra[i] == nil {
					extra[i] = map[string]struct{}{}
				}
				val := node.Labels[cs[i].TopologyKey]
				if _, dup := extra[i][val]; !dup {
					extra[i][val] = struct{}{}
					sizes[i]++
				}
			}
		}
	}
	for i := range cs {
		size := sizes[i]
		if cs[i].TopologyKey == v1.LabelHostname {
			size = len(feasible) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(size + 2))
	}
	state.Write(preScoreStateKey, s)
	return nil
}

func getPreScoreState(state *framework.CycleState) (*preScoreState, error) {
	return framework.ReadState[*preScoreState](state, preScoreStateKey)
}

// Score sums, over the constraints whose key the node has, the matching
// pods of the node's domain times the topology's weight, plus maxSkew-1 (a
// larger maxSkew flattens the differences). Lower is better; NormalizeScore
// inverts it.
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	s, err := getPreScoreState(state)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	node := nodeInfo.Node()
	if _, ignored := s.ignored[node.Name]; ignored {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		if _, ok := node.Labels[c.TopologyKey]; !ok {
			continue
		}
		var n int
		if c.TopologyKey == v1.LabelHostname {
			n = countMatching(nodeInfo.Pods, c.Selector, s.ns)
		} else if d, _ := s.lay.domainOfNode(node, i, c.TopologyKey, s.requireAll); d >= 0 {
			n = int(s.totals[i][d])
		}
		score += float64(n)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions returns the plugin.
func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps raw scores onto [0, MaxNodeScore], the lowest raw
// score getting the maximum: MaxNodeScore*(max+min-score)/max. Ignored
// nodes get 0; when every raw score is 0 all scored nodes get the maximum.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	s, err := getPreScoreState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	lowest, highest := int64(math.MaxInt64), int64(0)
	for _, sc := range scores {
		if _, ignored := s.ignored[sc.Name]; ignored {
			continue
		}
		lowest = min(lowest, sc.Score)
		highest = max(highest, sc.Score)
	}
	for i := range scores {
		if _, ignored := s.ignored[scores[i].Name]; ignored {
			scores[i].Score = 0
			continue
		}
		if highest == 0 {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = framework.MaxNodeScore * (highest + lowest - scores[i].Score) / highest
	}
	return nil
}
