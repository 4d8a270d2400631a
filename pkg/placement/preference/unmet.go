package preference

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// maxValuesShown bounds the label values ExplainUnmet lists per
// requirement, so a label with a value per node does not flood an event.
const maxValuesShown = 4

// ExplainUnmet says, for a pod that fits nowhere, how the nodes fare
// against each required rule that some of them do not meet, with the
// values they have instead: "rule set fast-disk requires disk-type In
// [ssd nvme]: 0 of 5 nodes meet it (disk-type=hdd on 3, no disk-type on
// 2)", and whether no node meets them all when each is met somewhere.
// It returns "" when every node meets every required rule.
func (p *Preference) ExplainUnmet(nodes []*v1.Node) string {
	var parts []string
	for i := range p.required {
		r := &p.required[i]
		met := 0
		others := map[string]int{}
		for _, n := range nodes {
			if r.matches(n) {
				met++
			} else {
				others[r.nodeHasShort(n)]++
			}
		}
		if met == len(nodes) {
			continue
		}
		parts = append(parts, fmt.Sprintf("rule set %s requires %s: %d of %d nodes meet it (%s)",
			r.set, r.String(), met, len(nodes), countsString(others)))
	}
	if len(parts) > 1 && !p.anyMeets(nodes) {
		parts = append(parts, "no node meets all of them")
	}
	return strings.Join(parts, "; ")
}

// anyMeets reports whether some node meets every required rule.
func (p *Preference) anyMeets(nodes []*v1.Node) bool {
	for _, n := range nodes {
		if p.Check(n) == nil {
			return true
		}
	}
	return false
}

// nodeHasShort is nodeHas without "node has ": "disk-type=hdd", "no
// disk-type".
func (r *requirement) nodeHasShort(node *v1.Node) string {
	return strings.TrimPrefix(r.nodeHas(node), "node has ")
}

// countsString lists the most frequent entries first: "disk-type=hdd on
// 3, no disk-type on 2, 2 other values on 2".
func countsString(counts map[string]int) string {
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(counts[b]-counts[a], strings.Compare(a, b)) })
	var out []string
	rest, restNodes := 0, 0
	for i, k := range keys {
		if i < maxValuesShown {
			out = append(out, fmt.Sprintf("%s on %d", k, counts[k]))
		} else {
			rest++
			restNodes += counts[k]
		}
	}
	if rest > 0 {
		out = append(out, fmt.Sprintf("%d other values on %d", rest, restNodes))
	}
	return strings.Join(out, ", ")
}
