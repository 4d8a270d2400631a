package podtopologyspread

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// A tally keeps, for one set of counting parameters (see tallyKey), how
// many matching pods each node holds per constraint and the sum per
// topology domain over the nodes that take part. It is brought up to date
// by sync, which revisits only nodes whose NodeInfo (pointer or
// Generation) changed since the last sync. A Generation of 0 means
// "untracked" (hand-built NodeInfos in tests) and is always recounted.
//
// Nodes live in stable slots; domains are numbered per constraint in the
// order they are first seen. Readers get the layout (node -> slot ->
// domain), which is immutable once published: sync copies it before
// changing a published one, which happens only when nodes come, go or
// change a topology label.
type tally struct {
	nc          int
	keys        []string
	constraints []constraint
	ns          string
	// requireAll: a node lacking any topology key takes part in no
	// constraint. Always so for Filter; scoring drops it for the system
	// default constraints, where a missing key reads as the value "".
	requireAll               bool
	needAffinity, needTaints bool

	// pod is the pod being scheduled: its affinity and tolerations are the
	// same for every pod sharing the tally (they are part of the key).
	pod         *v1.Pod
	affinity    nodeaffinity.RequiredNodeAffinity
	affinitySet bool

	lay       *layout
	layShared bool

	// Per slot.
	nodes []*framework.NodeInfo
	gens  []int64
	names []string
	seen  []uint64
	free  []int32
	inUse int
	// Per slot*nc+i.
	eligible []bool
	counts   []int32

	// Per constraint, per domain: eligible nodes and their matching pods.
	domNodes  [][]int32
	domTotals [][]int32

	// The node list of the last sync and the slot of each entry, so an
	// unchanged list is matched by position without map lookups.
	lastList  []*framework.NodeInfo
	lastSlots []int32
	// slotOfInfo maps the NodeInfos of lastList to their slots: a pointer
	// lookup is cheaper than hashing the node name in every Filter call.
	// It is replaced, never modified, so readers may keep it.
	slotOfInfo map[*framework.NodeInfo]int32
	scratch    []int32
	epoch      uint64
	lastUse    uint64
}

// layout maps nodes to their topology domains.
type layout struct {
	nc     int
	slotOf map[string]int32
	// dom[slot*nc+i] is the node's domain for constraint i; -1 when the
	// node lacks the key and a missing key excludes the node.
	dom []int32
	// missing[slot*nc+i]: the node has no label for constraint i's key.
	missing []bool
	// domainOf[i] numbers the values of constraint i's key.
	domainOf []map[string]int32
}

func (l *layout) clone() *layout {
	out := &layout{
		nc:       l.nc,
		slotOf:   maps.Clone(l.slotOf),
		dom:      slices.Clone(l.dom),
		missing:  slices.Clone(l.missing),
		domainOf: make([]map[string]int32, len(l.domainOf)),
	}
	for i, m := range l.domainOf {
		out.domainOf[i] = maps.Clone(m)
	}
	return out
}

// domainOfNode returns the node's domain for constraint i and whether the
// node lacks the key, from the slot when the node was synced, otherwise
// from its labels.
func (l *layout) domainOfNode(node *v1.Node, i int, key string, requireAll bool) (dom int32, missing bool) {
	if s, ok := l.slotOf[node.Name]; ok {
		j := int(s)*l.nc + i
		return l.dom[j], l.missing[j]
	}
	val, ok := node.Labels[key]
	if !ok && requireAll {
		return -1, true
	}
	if d, found := l.domainOf[i][val]; found {
		return d, !ok
	}
	return -1, !ok
}

func newTally(ns string, cs []constraint, requireAll bool) *tally {
	t := &tally{
		nc:          len(cs),
		constraints: cs,
		ns:          ns,
		requireAll:  requireAll,
		lay:         &layout{nc: len(cs), slotOf: map[string]int32{}, domainOf: make([]map[string]int32, len(cs))},
		domNodes:    make([][]int32, len(cs)),
		domTotals:   make([][]int32, len(cs)),
	}
	t.needAffinity, t.needTaints = policyNeeds(cs)
	for i := range cs {
		t.keys = append(t.keys, cs[i].TopologyKey)
		t.lay.domainOf[i] = map[string]int32{}
	}
	return t
}

// tallyKey identifies the counting parameters: namespace, whether all keys
// are required, each constraint's key, selector and policies, and the parts
// of the pod the policies read. Two pods with the same key get the same
// counts on every node.
func tallyKey(pod *v1.Pod, cs []constraint, requireAll bool) string {
	var b strings.Builder
	b.WriteString(pod.Namespace)
	b.WriteByte(0)
	if requireAll {
		b.WriteByte('A')
	}
	for i := range cs {
		c := &cs[i]
		b.WriteByte(1)
		b.WriteString(c.TopologyKey)
		b.WriteByte(0)
		// Both the match-everything and the match-nothing selector count
		// no pod, and both print as "".
		b.WriteString(c.Selector.String())
		b.WriteByte(0)
		if c.HonorAffinity {
			b.WriteByte('a')
		}
		if c.HonorTaints {
			b.WriteByte('t')
		}
	}
	needAffinity, needTaints := policyNeeds(cs)
	if needAffinity {
		writeAffinity(&b, pod)
	}
	if needTaints {
		b.WriteByte(2)
		for _, t := range pod.Spec.Tolerations {
			b.WriteString(t.Key)
			b.WriteByte(0)
			b.WriteString(string(t.Operator))
			b.WriteByte(0)
			b.WriteString(t.Value)
			b.WriteByte(0)
			b.WriteString(string(t.Effect))
			b.WriteByte(1)
		}
	}
	return b.String()
}

// writeAffinity writes the pod's nodeSelector and required node affinity,
// the inputs of nodeaffinity.GetRequiredNodeAffinity.
func writeAffinity(b *strings.Builder, pod *v1.Pod) {
	b.WriteByte(3)
	if len(pod.Spec.NodeSelector) > 0 {
		keys := make([]string, 0, len(pod.Spec.NodeSelector))
		for k := range pod.Spec.NodeSelector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(pod.Spec.NodeSelector[k])
			b.WriteByte(0)
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return
	}
	writeReqs := func(tag byte, reqs []v1.NodeSelectorRequirement) {
		for _, r := range reqs {
			b.WriteByte(tag)
			b.WriteString(r.Key)
			b.WriteByte(0)
			b.WriteString(string(r.Operator))
			for _, v := range r.Values {
				b.WriteByte(0)
				b.WriteString(v)
			}
			b.WriteByte(1)
		}
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	b.WriteString(strconv.Itoa(len(terms)))
	for _, t := range terms {
		b.WriteByte(4)
		writeReqs('e', t.MatchExpressions)
		writeReqs('f', t.MatchFields)
	}
}

// sync brings the tally up to date with nodes, the snapshot's node list.
func (t *tally) sync(logger klog.Logger, pod *v1.Pod, nodes []*framework.NodeInfo) {
	t.pod, t.affinitySet = pod, false
	t.epoch++
	listChanged := len(nodes) != len(t.lastList)
	t.scratch = slices.Grow(t.scratch[:0], len(nodes))[:len(nodes)]
	for i, ni := range nodes {
		// Fast path: the same NodeInfo at the same position, unchanged
		// since it was counted (a tracked Generation moves on every
		// change, a new node object or name included), keeps its slot
		// without reading the node.
		if i < len(t.lastList) && t.lastList[i] == ni && ni.Generation != 0 {
			if s := t.lastSlots[i]; s >= 0 && t.nodes[s] == ni && t.gens[s] == ni.Generation {
				t.scratch[i] = s
				t.seen[s] = t.epoch
				continue
			}
		}
		node := ni.Node()
		if node == nil {
			listChanged = true
			t.scratch[i] = -1
			continue
		}
		s := int32(-1)
		if i < len(t.lastList) && t.lastList[i] == ni && t.lastSlots[i] >= 0 && t.names[t.lastSlots[i]] == node.Name {
			s = t.lastSlots[i]
		} else {
			listChanged = true
			s = t.slotFor(node.Name)
		}
		t.scratch[i] = s
		t.seen[s] = t.epoch
		if ni.Generation != 0 && t.nodes[s] == ni && t.gens[s] == ni.Generation {
			continue
		}
		t.refresh(logger, s, ni)
	}
	t.pod = nil
	if !listChanged {
		return
	}
	for s := range t.names {
		if t.names[s] != "" && t.seen[s] != t.epoch {
			t.release(int32(s))
		}
	}
	t.lastList = append(t.lastList[:0], nodes...)
	t.lastSlots, t.scratch = t.scratch, t.lastSlots
	t.slotOfInfo = make(map[*framework.NodeInfo]int32, len(nodes))
	for i, ni := range t.lastList {
		if s := t.lastSlots[i]; s >= 0 {
			t.slotOfInfo[ni] = s
		}
	}
}

// overgrown reports whether domains of vanished nodes have piled up, in
// which case the tally is cheaper to rebuild than to keep.
func (t *tally) overgrown() bool {
	for i := range t.domNodes {
		if len(t.domNodes[i]) > 2*t.inUse+64 {
			return true
		}
	}
	return false
}

// mutableLayout returns the layout, copied first if readers may hold it.
func (t *tally) mutableLayout() *layout {
	if t.layShared {
		t.lay = t.lay.clone()
		t.layShared = false
	}
	return t.lay
}

// publish hands out the layout; it is not modified afterwards.
func (t *tally) publish() *layout {
	t.layShared = true
	return t.lay
}

// slotFor returns the node's slot, allocating an empty one for a new node.
func (t *tally) slotFor(name string) int32 {
	if s, ok := t.lay.slotOf[name]; ok {
		return s
	}
	lay := t.mutableLayout()
	var s int32
	if n := len(t.free); n > 0 {
		s = t.free[n-1]
		t.free = t.free[:n-1]
		t.names[s] = name
	} else {
		s = int32(len(t.names))
		t.nodes = append(t.nodes, nil)
		t.gens = append(t.gens, 0)
		t.names = append(t.names, name)
		t.seen = append(t.seen, 0)
		for range t.nc {
			t.eligible = append(t.eligible, false)
			t.counts = append(t.counts, 0)
			lay.dom = append(lay.dom, -1)
			lay.missing = append(lay.missing, true)
		}
	}
	lay.slotOf[name] = s
	t.inUse++
	return s
}

// release forgets a node that left the list.
func (t *tally) release(s int32) {
	t.withdraw(s)
	delete(t.mutableLayout().slotOf, t.names[s])
	t.names[s], t.nodes[s], t.gens[s] = "", nil, 0
	t.free = append(t.free, s)
	t.inUse--
}

// withdraw takes the slot's pods out of the domain sums.
func (t *tally) withdraw(s int32) {
	base := int(s) * t.nc
	for i := range t.nc {
		j := base + i
		if !t.eligible[j] {
			continue
		}
		d := t.lay.dom[j]
		t.domNodes[i][d]--
		t.domTotals[i][d] -= t.counts[j]
		t.eligible[j], t.counts[j] = false, 0
	}
}

// domainFor returns constraint i's domain number for val, adding it.
func (t *tally) domainFor(i int, val string) int32 {
	if d, ok := t.lay.domainOf[i][val]; ok {
		return d
	}
	d := int32(len(t.domNodes[i]))
	t.mutableLayout().domainOf[i][val] = d
	t.domNodes[i] = append(t.domNodes[i], 0)
	t.domTotals[i] = append(t.domTotals[i], 0)
	return d
}

// refresh recounts one node.
func (t *tally) refresh(logger klog.Logger, s int32, ni *framework.NodeInfo) {
	t.withdraw(s)
	node := ni.Node()
	all := hasAllKeys(node.Labels, t.constraints)
	takesPart := all || !t.requireAll
	var elig nodeEligibility
	if takesPart {
		if t.needAffinity && !t.affinitySet {
			t.affinity = nodeaffinity.GetRequiredNodeAffinity(t.pod)
			t.affinitySet = true
		}
		elig = eligibilityOf(logger, t.pod, node, t.affinity, t.needAffinity, t.needTaints)
	}
	base := int(s) * t.nc
	for i := range t.nc {
		j := base + i
		val, ok := node.Labels[t.keys[i]]
		d := int32(-1)
		if ok || !t.requireAll {
			d = t.domainFor(i, val)
		}
		if t.lay.dom[j] != d || t.lay.missing[j] == ok {
			lay := t.mutableLayout()
			lay.dom[j], lay.missing[j] = d, !ok
		}
		if d < 0 || !takesPart || !t.constraints[i].includes(elig) {
			continue
		}
		n := int32(countMatching(ni.Pods, t.constraints[i].Selector, t.ns))
		t.eligible[j], t.counts[j] = true, n
		t.domNodes[i][d]++
		t.domTotals[i][d] += n
	}
	t.nodes[s], t.gens[s] = ni, ni.Generation
}

// maxTallies bounds the cache: enough for the workloads being scheduled
// side by side, small enough that memory stays a few tallies of the
// cluster's size.
const maxTallies = 16

// tallyCache holds the tallies by key, least recently used evicted.
// The mutex makes PreFilter/PreScore safe to call from several goroutines
// (the engine uses one, but an extender might not).
type tallyCache struct {
	mu    sync.Mutex
	byKey map[string]*tally
	clock uint64
}

// syncedTally returns the tally for the pod's counting parameters, synced
// with nodes. The caller holds c.mu and must publish the layout before
// releasing it if readers keep it.
func (c *tallyCache) syncedTally(logger klog.Logger, pod *v1.Pod, cs []constraint, requireAll bool, nodes []*framework.NodeInfo) *tally {
	key := tallyKey(pod, cs, requireAll)
	c.clock++
	t, ok := c.byKey[key]
	if !ok || t.overgrown() {
		if !ok && len(c.byKey) >= maxTallies {
			c.evictOldest()
		}
		if c.byKey == nil {
			c.byKey = map[string]*tally{}
		}
		t = newTally(pod.Namespace, cs, requireAll)
		c.byKey[key] = t
	}
	t.lastUse = c.clock
	t.sync(logger, pod, nodes)
	return t
}

func (c *tallyCache) evictOldest() {
	var oldestKey string
	var oldest *tally
	for k, t := range c.byKey {
		if oldest == nil || t.lastUse < oldest.lastUse {
			oldestKey, oldest = k, t
		}
	}
	delete(c.byKey, oldestKey)
}
