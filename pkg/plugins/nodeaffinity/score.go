package nodeaffinity

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// preScoreState is the pod's parsed preferred terms (nil when it has none).
type preScoreState struct {
	preferred *nodeaffinity.PreferredSchedulingTerms
}

// Clone returns the state itself; it is never modified after PreScore.
func (s *preScoreState) Clone() framework.StateData { return s }

// podPreferredTerms parses the pod's preferred node affinity; nil when the
// pod has none.
func podPreferredTerms(pod *v1.Pod) (*nodeaffinity.PreferredSchedulingTerms, error) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution == nil {
		return nil, nil
	}
	return nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
}

// PreScore parses the pod's preferred terms once. It returns Skip when
// neither the pod nor addedAffinity has preferred terms.
func (pl *NodeAffinity) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	preferred, err := podPreferredTerms(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if preferred == nil && pl.addedPreferred == nil {
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preScoreStateKey, &preScoreState{preferred: preferred})
	return nil
}

// Score sums the weights of the preferred terms, the pod's and the
// scheduler's added ones, that the node matches.
func (pl *NodeAffinity) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	node := nodeInfo.Node()
	var score int64
	if pl.addedPreferred != nil {
		score += pl.addedPreferred.Score(node)
	}
	var preferred *nodeaffinity.PreferredSchedulingTerms
	if s, err := readState[*preScoreState](state, preScoreStateKey); err == nil {
		preferred = s.preferred
	} else {
		// PreScore may be disabled in the profile; parse here instead.
		if preferred, err = podPreferredTerms(pod); err != nil {
			return 0, framework.AsStatus(err)
		}
	}
	if preferred != nil {
		score += preferred.Score(node)
	}
	return score, nil
}

// ScoreExtensions returns the plugin: raw scores are weight sums and must
// be scaled into [0, MaxNodeScore].
func (pl *NodeAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore scales the scores so the best node gets MaxNodeScore.
func (*NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	pluginutil.NormalizeScores(framework.MaxNodeScore, false, scores)
	return nil
}

// readState reads key from the cycle state as a T.
func readState[T framework.StateData](state *framework.CycleState, key framework.StateKey) (T, error) {
	var zero T
	data, err := state.Read(key)
	if err != nil {
		return zero, fmt.Errorf("reading %q from cycle state: %w", key, err)
	}
	v, ok := data.(T)
	if !ok {
		return zero, fmt.Errorf("cycle state %q has type %T, want %T", key, data, zero)
	}
	return v, nil
}
