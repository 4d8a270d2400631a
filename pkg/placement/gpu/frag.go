package gpu

import (
	"slices"
	"sync"
)

// Frag is a node's fragmentation under the typical workload d, in
// milli-GPU: for each typical shape, the free GPU capacity on the node
// that a pod of that shape could not use, weighted by how often the
// shape arrives. A shape the node cannot host at all (wrong model, too
// few fitting cards, too little CPU, or no GPU need) makes all the node's
// free GPU capacity a fragment for it; a shape it can host leaves only
// the cards too small for it as fragments. Host memory counts like CPU
// when the node's is known: the paper's FGD weighs only CPU and GPU, but
// in production traces nodes strand GPUs for lack of memory as often as
// for lack of CPU.
func Frag(n *Node, d *Distribution) float64 {
	free := n.FreeMilli()
	if free == 0 || d == nil {
		return 0
	}
	var f float64
	for i := range d.Shapes {
		t := &d.Shapes[i]
		f += t.P * float64(fragFor(n, &t.Request, free))
	}
	return f
}

// fragFor is the fragment of free that one shape sees on n.
func fragFor(n *Node, r *Request, free int64) int64 {
	if !r.IsGPU() || !n.ModelAllowed(*r) {
		return free
	}
	fitting := 0
	var small int64
	for _, c := range n.Cards {
		if cf := c.FreeMilli(); cf >= r.MilliPerCard {
			fitting++
		} else {
			small += cf
		}
	}
	if fitting < r.Count || n.CPUFreeMilli < r.CPUMilli || (n.MemFreeMiB >= 0 && n.MemFreeMiB < r.HostMemMiB) {
		return free
	}
	return small
}

// maxCachedCards bounds the nodes whose fragmentation FragCache keeps;
// larger ones are computed every time.
const maxCachedCards = 16

// fragKey is everything Frag depends on, canonicalized: nodes of one
// model whose free CPU reaches the same typical requests and whose cards
// have the same free shares (in any order) have the same fragmentation.
type fragKey struct {
	model   string
	cpuRank int32
	memRank int32
	cards   uint8
	free    [maxCachedCards]int16
}

// FragCache memoizes Frag across nodes and pods for one distribution at a
// time. In a cluster most nodes are in one of few states (empty nodes of
// each type, above all), so scoring a pod against every node costs a
// handful of real computations. It is safe for concurrent use.
type FragCache struct {
	mu      sync.RWMutex
	version uint64
	m       map[fragKey]float64
	// scores memoizes FGD's score for a node state and a GPU request
	// shape (Env.ScoreOnly), under the same version.
	scores map[scoreKey]int64
}

// scoreKey is a node's canonical state, where the request's CPU and
// memory leave it, and the request's GPU shape.
type scoreKey struct {
	node             fragKey
	cpuAfter, memAft int32
	milli            int64
	count            int
	models           string
}

// maxFragEntries bounds the cache; it is emptied when full.
const maxFragEntries = 1 << 18

// NewFragCache returns an empty cache.
func NewFragCache() *FragCache {
	return &FragCache{m: map[fragKey]float64{}, scores: map[scoreKey]int64{}}
}

// key canonicalizes a view under d.
func (v *view) key(d *Distribution) fragKey {
	k := fragKey{model: v.model, cpuRank: int32(rank(d.cpuCuts, v.cpu)), memRank: -1, cards: uint8(v.n)}
	if v.mem >= 0 {
		k.memRank = int32(rank(d.memCuts, v.mem))
	}
	for i, f := range v.free[:v.n] {
		k.free[i] = int16(f)
	}
	slices.Sort(k.free[:v.n])
	return k
}

// score returns a memoized score for k under d.
func (c *FragCache) score(k *scoreKey, d *Distribution) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.scores[*k]
	return s, ok && c.version == d.Version
}

// storeScore memoizes a score for k under d.
func (c *FragCache) storeScore(k *scoreKey, d *Distribution, s int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != d.Version || len(c.scores) >= maxFragEntries {
		if d.Version < c.version {
			return
		}
		if c.version != d.Version {
			c.m = make(map[fragKey]float64, len(c.m)/2+1)
		}
		c.version = d.Version
		c.scores = make(map[scoreKey]int64, len(c.scores)/2+1)
	}
	c.scores[*k] = s
}

// view is the part of a node's state fragmentation depends on, held by
// value so that scoring can try placements without allocating.
type view struct {
	model    string
	cpu, mem int64
	n        int
	free     [maxCachedCards]int64
}

// viewOf returns n's view; false when n has more cards than a view holds.
func viewOf(n *Node) (view, bool) {
	v := view{model: n.Model, cpu: n.CPUFreeMilli, mem: n.MemFreeMiB, n: len(n.Cards)}
	if v.n > maxCachedCards {
		return v, false
	}
	for i, c := range n.Cards {
		v.free[i] = c.FreeMilli()
	}
	return v, true
}

// fragView is Frag over a view.
func fragView(v *view, d *Distribution) float64 {
	var free int64
	for _, f := range v.free[:v.n] {
		free += f
	}
	if free == 0 || d == nil {
		return 0
	}
	var total float64
	for i := range d.Shapes {
		t := &d.Shapes[i]
		r := &t.Request
		frag := free
		if r.IsGPU() && modelAllowed(v.model, r.Models) && v.cpu >= r.CPUMilli && (v.mem < 0 || v.mem >= r.HostMemMiB) {
			fitting := 0
			var small int64
			for _, f := range v.free[:v.n] {
				if f >= r.MilliPerCard {
					fitting++
				} else {
					small += f
				}
			}
			if fitting >= r.Count {
				frag = small
			}
		}
		total += t.P * float64(frag)
	}
	return total
}

func modelAllowed(model string, models []string) bool {
	if len(models) == 0 {
		return true
	}
	for _, m := range models {
		if m == model && m != "" {
			return true
		}
	}
	return false
}

// Frag is Frag(n, d), from the cache when n's state was seen before.
func (c *FragCache) Frag(n *Node, d *Distribution) float64 {
	v, ok := viewOf(n)
	if !ok || d == nil {
		return Frag(n, d)
	}
	return c.fragView(&v, d)
}

// fragView is fragView(v, d) through the cache.
func (c *FragCache) fragView(v *view, d *Distribution) float64 {
	if c == nil {
		return fragView(v, d)
	}
	k := v.key(d)
	c.mu.RLock()
	val, ok := c.m[k]
	fresh := c.version == d.Version
	c.mu.RUnlock()
	if ok && fresh {
		return val
	}
	val = fragView(v, d)
	c.mu.Lock()
	if c.version != d.Version || len(c.m) >= maxFragEntries {
		if d.Version < c.version {
			c.mu.Unlock()
			return val
		}
		if c.version != d.Version {
			c.scores = make(map[scoreKey]int64, len(c.scores)/2+1)
		}
		c.version = d.Version
		c.m = make(map[fragKey]float64, len(c.m)/2+1)
	}
	c.m[k] = val
	c.mu.Unlock()
	return val
}
