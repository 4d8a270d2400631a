package pluginutil

import "github.com/berthsched/berth/pkg/framework"

// NormalizeScores scales raw scores, assumed non-negative, linearly so that
// the highest becomes maxScore (integer division, as kube-scheduler does, so
// normalised values agree exactly). With reverse, each result is subtracted
// from maxScore, so the node with the lowest raw score ranks first. When no
// raw score is above 0 the scores are left as they are, or all become
// maxScore when reversed: no node is worse than another.
func NormalizeScores(maxScore int64, reverse bool, scores framework.NodeScoreList) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s.Score)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxScore
			}
		}
		return
	}
	for i := range scores {
		v := maxScore * scores[i].Score / highest
		if reverse {
			v = maxScore - v
		}
		scores[i].Score = v
	}
}
