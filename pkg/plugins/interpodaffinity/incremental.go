package interpodaffinity

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// Incremental counts.
//
// Everything PreFilter counts is a function of the snapshot and of the
// incoming pod's signature: its namespace, labels, namespace labels and
// (interned) required terms with their resolved namespaces. Replicas of one
// workload share a signature, so the counts of the previous replica are
// reused: only nodes whose NodeInfo.Generation moved since are counted
// again, their old contribution subtracted and the new one added.
//
// The counts maps are handed to the cycle state read-only (shared); the
// next change, by the next cycle here or by AddPod/RemovePod in the state,
// copies them first. So Filter, which reads them concurrently, never sees
// a write.

// contribution is what one node adds to one of the three count maps.
type contribution struct {
	which int8 // affinityIdx, antiIdx or existingIdx
	key   string
	value string
	n     int64
}

const (
	affinityIdx = iota
	antiIdx
	existingIdx
)

type nodeCounts struct {
	info     *framework.NodeInfo
	gen      int64
	valid    bool
	contribs []contribution
}

// countsEntry holds one signature's counts and per-node contributions,
// indexed like the node list it was built from.
type countsEntry struct {
	list   []*framework.NodeInfo
	nodes  []nodeCounts
	counts [3]topologyCounts
	// shared is set once the maps were handed to a cycle state.
	shared   bool
	lastUsed uint64
}

// countsCache maps signatures to entries, keeping the most recently used.
type countsCache struct {
	mu      sync.Mutex
	entries map[string]*countsEntry
	tick    uint64
}

// maxEntries bounds the cache: each entry is a few words per node.
const maxEntries = 32

func newCountsCache() *countsCache { return &countsCache{entries: map[string]*countsEntry{}} }

func sameList(a, b []*framework.NodeInfo) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// fill sets s's three count maps for nodes, reusing and updating the entry
// for sig. count computes one node's contributions.
func (c *countsCache) fill(sig string, s *preFilterState, nodes []*framework.NodeInfo, count func(*framework.NodeInfo, []contribution) []contribution) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	e := c.entries[sig]
	if e == nil {
		if len(c.entries) >= maxEntries {
			c.evictOldest()
		}
		e = &countsEntry{}
		c.entries[sig] = e
	}
	e.lastUsed = c.tick
	if !sameList(e.list, nodes) {
		e.list = nodes
		e.nodes = make([]nodeCounts, len(nodes))
		e.counts = [3]topologyCounts{{}, {}, {}}
		e.shared = false
	}
	for i, ni := range nodes {
		nc := &e.nodes[i]
		if nc.valid && nc.info == ni && nc.gen == ni.Generation {
			continue
		}
		if e.shared {
			for j := range e.counts {
				e.counts[j] = e.counts[j].clone()
			}
			e.shared = false
		}
		for _, ct := range nc.contribs {
			e.counts[ct.which].addValue(ct.key, ct.value, -ct.n)
		}
		nc.contribs = count(ni, nc.contribs[:0])
		for _, ct := range nc.contribs {
			e.counts[ct.which].addValue(ct.key, ct.value, ct.n)
		}
		if len(nc.contribs) == 0 {
			nc.contribs = nil
		}
		nc.info, nc.gen, nc.valid = ni, ni.Generation, true
	}
	e.shared = true
	s.affinityCounts = e.counts[affinityIdx]
	s.antiAffinityCounts = e.counts[antiIdx]
	s.existingAntiAffinityCounts = e.counts[existingIdx]
	s.shared = true
}

func (c *countsCache) evictOldest() {
	var oldest string
	var at uint64
	first := true
	for sig, e := range c.entries {
		if first || e.lastUsed < at {
			oldest, at, first = sig, e.lastUsed, false
		}
	}
	delete(c.entries, oldest)
}

// nodeContributions counts one node for the incoming pod of s: existing
// pods' anti-affinity terms that match it, and its own terms matched by the
// node's pods.
func (pl *InterPodAffinity) nodeContributions(s *preFilterState, memo *matchMemo, anti []int64, ni *framework.NodeInfo, out []contribution) []contribution {
	node := ni.Node()
	if node == nil {
		return out
	}
	for _, pi := range ni.PodsWithRequiredAntiAffinity {
		for _, t := range pl.terms.get(pi.Pod).requiredAntiAffinity {
			if memo.matches(t) {
				if v, ok := node.Labels[t.topologyKey]; ok {
					out = append(out, contribution{which: existingIdx, key: t.topologyKey, value: v, n: 1})
				}
			}
		}
	}
	if len(s.affinity) == 0 && len(s.antiAffinity) == 0 {
		return out
	}
	aff := s.matchNodePods(ni, anti)
	if aff > 0 {
		for i := range s.affinity {
			if v, ok := node.Labels[s.affinity[i].topologyKey]; ok {
				out = append(out, contribution{which: affinityIdx, key: s.affinity[i].topologyKey, value: v, n: aff})
			}
		}
	}
	for i, n := range anti {
		if n > 0 {
			if v, ok := node.Labels[s.antiAffinity[i].topologyKey]; ok {
				out = append(out, contribution{which: antiIdx, key: s.antiAffinity[i].topologyKey, value: v, n: n})
			}
		}
	}
	return out
}

// signature identifies everything the counts depend on besides the
// snapshot. Terms are interned, so their ids stand for their specs.
func signature(pod *v1.Pod, s *preFilterState) string {
	var b strings.Builder
	b.WriteString(pod.Namespace)
	b.WriteByte(0)
	writeSortedMap(&b, pod.Labels)
	b.WriteByte(0)
	writeSortedMap(&b, s.nsLabels)
	for _, list := range [][]resolvedTerm{s.affinity, s.antiAffinity} {
		b.WriteByte(1)
		for i := range list {
			r := &list[i]
			b.WriteString(strconv.FormatUint(r.term.id, 36))
			if r.allNamespaces {
				b.WriteString("*")
			} else if r.term.nsSelectorSet {
				ns := r.namespaces.UnsortedList()
				sort.Strings(ns)
				b.WriteString(strings.Join(ns, ","))
			}
			b.WriteByte(2)
		}
	}
	return b.String()
}

func writeSortedMap(b *strings.Builder, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
		b.WriteByte(3)
	}
}
