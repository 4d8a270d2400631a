package conformance

import (
	v1 "k8s.io/api/core/v1"
)

// KnownDifference is a disagreement that has been traced to its cause and
// is accepted for now. A diff it matches is counted apart and does not fail
// the comparison; remove the entry once the two sides agree.
type KnownDifference struct {
	Plugin string
	// Why names the cause with the upstream and berth file:line.
	Why string
	// Wrong names the side that departs from the intended behaviour.
	Wrong string
	// Match reports whether the diff for pod on cluster c is this difference.
	Match func(d Diff, pod *v1.Pod, c *Cluster) bool
}

// KnownDifferences lists the accepted disagreements.
var KnownDifferences = []KnownDifference{}

// known returns the known difference that explains every diff, or nil.
func known(plugin string, diffs []Diff, pod *v1.Pod, c *Cluster) *KnownDifference {
	for i := range KnownDifferences {
		k := &KnownDifferences[i]
		if k.Plugin != plugin {
			continue
		}
		all := true
		for _, d := range diffs {
			if !k.Match(d, pod, c) {
				all = false
				break
			}
		}
		if all {
			return k
		}
	}
	return nil
}
