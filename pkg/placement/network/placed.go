package network

// Placed is where the pods of one dependency run, counted per domain per
// level rather than kept per pod, so that the expected cost of a node is
// O(levels) map look-ups however many pods there are. Build one per
// dependency per scheduling cycle with Add; it is then read-only and safe
// for concurrent reads.
type Placed struct {
	m      *Model
	n      int
	byNode map[string]int
	// byKey[i] counts pods by Location.keys[i]: the pods that agree with
	// a node at level i and above.
	byKey []map[string]int
	// children[i], for levels with pair costs only, counts pods by their
	// domain at level i within their domain at level i+1 (keys[i+1], ""
	// above the broadest level), so that a pair cost can be applied to
	// each domain crossed into.
	children []map[string]map[string]int
}

// NewPlaced returns an empty aggregate over m.
func (m *Model) NewPlaced() *Placed {
	p := &Placed{m: m, byNode: map[string]int{}, byKey: make([]map[string]int, len(m.levels)),
		children: make([]map[string]map[string]int, len(m.levels))}
	for i, l := range m.levels {
		p.byKey[i] = map[string]int{}
		if len(l.Pairs) > 0 {
			p.children[i] = map[string]map[string]int{}
		}
	}
	return p
}

// Add counts one pod running at loc.
func (p *Placed) Add(loc Location) { p.AddN(loc, 1) }

// AddN counts n pods running at loc, so a caller that counted a node's
// pods already adds them at once.
func (p *Placed) AddN(loc Location, n int) {
	if n <= 0 {
		return
	}
	p.n += n
	p.byNode[loc.Node] += n
	for i := range p.byKey {
		p.byKey[i][loc.keys[i]] += n
		if p.children[i] != nil {
			parent := p.parentKey(loc, i)
			c := p.children[i][parent]
			if c == nil {
				c = map[string]int{}
				p.children[i][parent] = c
			}
			c[loc.values[i]] += n
		}
	}
}

func (p *Placed) parentKey(loc Location, i int) string {
	if i+1 < len(loc.keys) {
		return loc.keys[i+1]
	}
	return ""
}

// Count is the number of pods added.
func (p *Placed) Count() int { return p.n }

// Mean is the expected cost of traffic from loc to one of the pods,
// chosen uniformly (a request reaches a random replica); 0 when there
// are none.
func (p *Placed) Mean(loc Location) float64 {
	if p.n == 0 {
		return 0
	}
	var sum int64
	p.walk(loc, func(_ int, _ int, cost int64) { sum += cost })
	return float64(sum) / float64(p.n)
}

// walk calls fn for every group of pods at loc's distance: level is the
// broadest level crossed (-1 for loc's own node), count the pods, cost
// the sum of their costs. Groups of no pods are skipped. Levels are
// visited broadest first, the same node last.
func (p *Placed) walk(loc Location, fn func(level, count int, cost int64)) {
	levels := p.m.levels
	// agree is how many pods agree with loc at the level above the one
	// being visited (all of them above the broadest).
	agree := p.n
	for i := len(levels) - 1; i >= 0; i-- {
		here := p.byKey[i][loc.keys[i]]
		if crossed := agree - here; crossed > 0 {
			fn(i, crossed, p.crossingCost(loc, i, crossed))
		}
		agree = here
	}
	same := p.byNode[loc.Node]
	if other := agree - same; other > 0 {
		// Other nodes that agree on every label: the narrowest level is
		// crossed all the same.
		fn(0, other, int64(other)*levels[0].Cost)
	}
	if same > 0 {
		fn(-1, same, 0)
	}
}

// crossingCost sums the cost of the crossed pods that differ from loc at
// level i and agree above it.
func (p *Placed) crossingCost(loc Location, i, crossed int) int64 {
	if p.children[i] == nil {
		return int64(crossed) * p.m.levels[i].Cost
	}
	var sum int64
	for v, c := range p.children[i][p.parentKey(loc, i)] {
		if v != loc.values[i] {
			sum += int64(c) * p.m.crossing(i, loc.values[i], v)
		}
	}
	return sum
}

// Group is the placed pods of a dependency at one distance from a node,
// for explanations.
type Group struct {
	// Level is the broadest level crossed, -1 for the node itself.
	Level int
	// Count is how many pods.
	Count int
	// Cost is their mean cost (pair costs may make it differ from the
	// level's).
	Cost float64
}

// Groups returns the placed pods by distance from loc, nearest first.
func (p *Placed) Groups(loc Location) []Group {
	var out []Group
	p.walk(loc, func(level, count int, cost int64) {
		if n := len(out); n > 0 && out[n-1].Level == level {
			// The narrowest level crossed twice: by a label and by the
			// node alone.
			g := &out[n-1]
			g.Cost = (g.Cost*float64(g.Count) + float64(cost)) / float64(g.Count+count)
			g.Count += count
			return
		}
		out = append(out, Group{Level: level, Count: count, Cost: float64(cost) / float64(count)})
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
