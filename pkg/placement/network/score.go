package network

import "math"

// CostScale is how many raw score units one unit of expected cost is:
// expected costs are means, and the plugin's integer raw scores keep
// them to a thousandth.
const CostScale = 1000

// RawCost turns an expected cost into the integer raw score a plugin
// returns from Score (lower is better until normalised).
func RawCost(cost float64) int64 { return int64(math.Round(cost * CostScale)) }

// Normalized maps a raw cost onto [0, maxScore] across the nodes being
// scored: the cheapest node gets maxScore, the dearest 0, linearly in
// between, so the nearest feasible node wins whatever the absolute
// numbers. Equal costs get equal scores; when every node costs the same
// all get 0, as there is nothing to prefer.
func Normalized(cost, cheapest, dearest, maxScore int64) int64 {
	if dearest <= cheapest {
		return 0
	}
	return maxScore * (dearest - cost) / (dearest - cheapest)
}
