package interpodaffinity

import (
	"maps"

	v1 "k8s.io/api/core/v1"
)

// topologyCounts counts pods per topology pair, as key → value → count.
// Entries that drop to zero are removed (and keys without values), so an
// empty map means "no pod counted anywhere", which the first-pod exception
// relies on. Grouping by key lets Filter look up only the keys present
// instead of every label of the node.
type topologyCounts map[string]map[string]int64

// add adds delta for the node's value of key; a node without the key
// counts nowhere.
func (m topologyCounts) add(node *v1.Node, key string, delta int64) {
	if node == nil {
		return
	}
	if value, ok := node.Labels[key]; ok {
		m.addValue(key, value, delta)
	}
}

// addValue adds delta at key=value.
func (m topologyCounts) addValue(key, value string, delta int64) {
	values := m[key]
	if values == nil {
		values = make(map[string]int64)
		m[key] = values
	}
	n := values[value] + delta
	if n == 0 {
		delete(values, value)
		if len(values) == 0 {
			delete(m, key)
		}
		return
	}
	values[value] = n
}

// get returns the count at key=value.
func (m topologyCounts) get(key, value string) int64 { return m[key][value] }

func (m topologyCounts) clone() topologyCounts {
	out := make(topologyCounts, len(m))
	for k, values := range m {
		// maps.Clone copies the table as it is, without rehashing.
		out[k] = maps.Clone(values)
	}
	return out
}
