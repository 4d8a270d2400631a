package interpodaffinity

import (
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/pkg/framework"
)

// Incremental PreScore.
//
// PreScore's sums, like PreFilter's counts, are a function of the snapshot
// and of the incoming pod's scoring signature: its namespace, labels,
// namespace labels and (interned) preferred terms with their resolved
// namespaces. Each node's part is kept with the NodeInfo.Generation it was
// computed at, so a replica of the previous pod recomputes only the nodes
// that changed since. The sums are handed to the cycle state read-only and
// copied before the next change, as PreFilter's counts are.

// scoreContribution is one weight a node adds at key=value. A zero weight
// still counts: it makes the pair present, which decides whether
// NormalizeScore scales at all.
type scoreContribution struct {
	key, value string
	weight     int64
}

type nodeScore struct {
	info     *framework.NodeInfo
	gen      int64
	valid    bool
	contribs []scoreContribution
}

// scoreEntry holds one signature's sums and per-node contributions,
// indexed like the node list it was built from.
type scoreEntry struct {
	list  []*framework.NodeInfo
	nodes []nodeScore
	sums  scoreMap
	// refs counts the contributions per pair; a pair is in sums while its
	// count is positive.
	refs   map[string]map[string]int32
	shared bool
	// lastUsed is the cache tick of the last fill.
	lastUsed uint64
}

// scoreCache maps scoring signatures to entries, keeping the most
// recently used.
type scoreCache struct {
	mu      sync.Mutex
	entries map[string]*scoreEntry
	tick    uint64
}

func newScoreCache() *scoreCache { return &scoreCache{entries: map[string]*scoreEntry{}} }

// fill returns the sums for nodes (read-only), updating the entry for sig.
// count computes one node's contributions.
func (c *scoreCache) fill(sig string, nodes []*framework.NodeInfo, count func(*framework.NodeInfo, []scoreContribution) []scoreContribution) scoreMap {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	e := c.entries[sig]
	if e == nil {
		if len(c.entries) >= maxEntries {
			c.evictOldest()
		}
		e = &scoreEntry{}
		c.entries[sig] = e
	}
	e.lastUsed = c.tick
	if !sameList(e.list, nodes) {
		e.list = nodes
		e.nodes = make([]nodeScore, len(nodes))
		e.sums, e.refs = scoreMap{}, map[string]map[string]int32{}
		e.shared = false
	}
	for i, ni := range nodes {
		ns := &e.nodes[i]
		if ns.valid && ns.info == ni && ns.gen == ni.Generation && ni.Generation != 0 {
			continue
		}
		if e.shared {
			e.sums = e.sums.clone()
			e.shared = false
		}
		for _, ct := range ns.contribs {
			e.add(ct, -1)
		}
		ns.contribs = count(ni, ns.contribs[:0])
		for _, ct := range ns.contribs {
			e.add(ct, 1)
		}
		if len(ns.contribs) == 0 {
			ns.contribs = nil
		}
		ns.info, ns.gen, ns.valid = ni, ni.Generation, true
	}
	e.shared = true
	return e.sums
}

// add adds (sign 1) or withdraws (-1) one contribution.
func (e *scoreEntry) add(ct scoreContribution, sign int64) {
	refs := e.refs[ct.key]
	if refs == nil {
		refs = map[string]int32{}
		e.refs[ct.key] = refs
	}
	values := e.sums[ct.key]
	if values == nil {
		values = map[string]int64{}
		e.sums[ct.key] = values
	}
	n := refs[ct.value] + int32(sign)
	if n == 0 {
		delete(refs, ct.value)
		delete(values, ct.value)
		if len(refs) == 0 {
			delete(e.refs, ct.key)
			delete(e.sums, ct.key)
		}
		return
	}
	refs[ct.value] = n
	values[ct.value] += sign * ct.weight
}

func (c *scoreCache) evictOldest() {
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

func (m scoreMap) clone() scoreMap {
	out := make(scoreMap, len(m))
	for k, values := range m {
		// maps.Clone copies the table as it is, without rehashing.
		out[k] = maps.Clone(values)
	}
	return out
}

// scoreSignature identifies everything PreScore's sums depend on besides
// the snapshot and the plugin's arguments.
func scoreSignature(pod *v1.Pod, nsLabels map[string]string, allPods bool, preferred, preferredAnti []resolvedWeighted) string {
	var b strings.Builder
	b.WriteString(pod.Namespace)
	b.WriteByte(0)
	writeSortedMap(&b, pod.Labels)
	b.WriteByte(0)
	writeSortedMap(&b, nsLabels)
	if allPods {
		b.WriteByte('a')
	}
	for _, list := range [][]resolvedWeighted{preferred, preferredAnti} {
		b.WriteByte(1)
		for i := range list {
			r := &list[i]
			b.WriteString(strconv.FormatUint(r.term.id, 36))
			b.WriteByte(':')
			b.WriteString(strconv.FormatInt(int64(r.weight), 10))
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
