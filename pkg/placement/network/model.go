package network

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// RackLabel is the node label berth's default levels read for racks.
// Kubernetes defines none; clusters that know their racks label nodes
// with it (or configure their own key).
const RackLabel = "topology.berth.io/rack"

// Level is one boundary of the network that traffic may cross.
type Level struct {
	// Key is the node label whose values are the level's domains.
	Key string
	// Cost is what traffic between two nodes costs when they differ at
	// this level but not at any broader one. The broadest level's cost is
	// therefore the cost of nodes with nothing in common.
	Cost int64
	// Pairs overrides Cost between two named domains of this level. An
	// entry serves both directions unless the other direction has an
	// entry of its own.
	Pairs map[Pair]int64
}

// Pair names two domains of a level, traffic going From one To the
// other.
type Pair struct{ From, To string }

// DefaultLevels is the model berth uses unless configured otherwise: the
// same node costs 0, other nodes of a rack 1, other racks of a zone 2,
// other zones of a region 10, other regions 100.
func DefaultLevels() []Level {
	return []Level{
		{Key: v1.LabelHostname, Cost: 1},
		{Key: RackLabel, Cost: 2},
		{Key: v1.LabelTopologyZone, Cost: 10},
		{Key: v1.LabelTopologyRegion, Cost: 100},
	}
}

// Model prices traffic between nodes. It is immutable once built and
// safe for concurrent use.
type Model struct {
	levels []Level
	names  []string
}

// NewModel builds a model over levels, narrowest first. The caller
// validates costs (the plugin's args do, with field paths); NewModel
// refuses only what would make the model meaningless.
func NewModel(levels []Level) (*Model, error) {
	if len(levels) == 0 {
		return nil, fmt.Errorf("a network model needs at least one level")
	}
	m := &Model{levels: make([]Level, len(levels)), names: make([]string, len(levels))}
	seen := map[string]bool{}
	for i, l := range levels {
		if l.Key == "" || seen[l.Key] {
			return nil, fmt.Errorf("level %d: key %q is empty or repeated", i, l.Key)
		}
		seen[l.Key] = true
		m.levels[i] = Level{Key: l.Key, Cost: l.Cost, Pairs: copyPairs(l.Pairs)}
		m.names[i] = LevelName(l.Key)
	}
	return m, nil
}

func copyPairs(p map[Pair]int64) map[Pair]int64 {
	if len(p) == 0 {
		return nil
	}
	out := make(map[Pair]int64, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// WithPairs returns a model whose levels have extra's pair costs (per
// level key) on top of their own; extra's entries win. Keys of extra
// that name no level are returned as unused, sorted, so the caller can
// say they were ignored.
func (m *Model) WithPairs(extra map[string]map[Pair]int64) (*Model, []string) {
	out := &Model{levels: make([]Level, len(m.levels)), names: m.names}
	used := map[string]bool{}
	for i, l := range m.levels {
		out.levels[i] = l
		add := extra[l.Key]
		if len(add) == 0 {
			continue
		}
		used[l.Key] = true
		pairs := copyPairs(l.Pairs)
		if pairs == nil {
			pairs = make(map[Pair]int64, len(add))
		}
		for k, v := range add {
			pairs[k] = v
		}
		out.levels[i].Pairs = pairs
	}
	var unused []string
	for k := range extra {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	slices.Sort(unused)
	return out, unused
}

// Levels returns the model's levels, narrowest first; callers must not
// modify them.
func (m *Model) Levels() []Level { return m.levels }

// LevelName is how explanations name a level: the label key's name part
// ("zone" for topology.kubernetes.io/zone), "node" for the hostname
// label.
func LevelName(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	if name == "hostname" {
		return "node"
	}
	return name
}

// absent stands for a label the node does not have. Label values cannot
// hold control characters, so it never equals a real value.
const absent = "\x00"

// Location is where one node sits in the model: computed once per node
// (Locate) and compared many times.
type Location struct {
	// Node is the node's name; two locations with the same name are the
	// same node whatever their labels.
	Node string
	// values are the node's label values per level (absent where it has
	// none).
	values []string
	// keys[i] identifies the node's domain at level i together with its
	// domains at every broader level, so that equal keys mean "agree at
	// level i and above" (rack r1 of zone a is not rack r1 of zone b).
	keys []string
}

// Locate finds node in the model.
func (m *Model) Locate(node *v1.Node) Location {
	return m.LocateLabels(node.Name, node.Labels)
}

// LocateLabels finds a node given by name and labels.
func (m *Model) LocateLabels(name string, labels map[string]string) Location {
	n := len(m.levels)
	loc := Location{Node: name, values: make([]string, n), keys: make([]string, n)}
	suffix := ""
	for i := n - 1; i >= 0; i-- {
		v, ok := labels[m.levels[i].Key]
		if !ok {
			v = absent
		}
		loc.values[i] = v
		if i == n-1 {
			suffix = v
		} else {
			suffix = v + "\x1f" + suffix
		}
		loc.keys[i] = suffix
	}
	return loc
}

// Cost is what traffic between two nodes costs: 0 on the same node, else
// the cost of the broadest level at which they differ (a pair override of
// that level if one names their two domains), else — different nodes
// that agree on every label — the narrowest level's cost.
func (m *Model) Cost(a, b Location) int64 {
	if a.Node == b.Node && a.Node != "" {
		return 0
	}
	for i := len(m.levels) - 1; i >= 0; i-- {
		if a.values[i] != b.values[i] {
			return m.crossing(i, a.values[i], b.values[i])
		}
	}
	return m.levels[0].Cost
}

// crossing is the cost of crossing level i from domain from to domain to.
func (m *Model) crossing(i int, from, to string) int64 {
	l := &m.levels[i]
	if l.Pairs != nil && from != absent && to != absent {
		if c, ok := l.Pairs[Pair{From: from, To: to}]; ok {
			return c
		}
		if c, ok := l.Pairs[Pair{From: to, To: from}]; ok {
			return c
		}
	}
	return l.Cost
}

// formatCost prints a cost without trailing zeros (2, 7.5).
func formatCost(c float64) string { return strconv.FormatFloat(c, 'f', -1, 64) }
