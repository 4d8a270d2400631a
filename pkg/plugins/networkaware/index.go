package networkaware

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/network"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// nodeIndex is what the plugin needs of one node, built once per change
// of its NodeInfo and kept on it (NodeInfo.SetDerived), so that a cycle
// costs a few map look-ups per node instead of a look at every pod.
type nodeIndex struct {
	loc network.Location
	// byNS holds the node's pods that take traffic, by namespace.
	byNS map[string][]*v1.Pod
	// counts memoises how many of byNS's pods each matcher selects (by
	// matcher.key), filled by the first cycle that asks: the replicas of
	// a workload ask the same questions one after the other.
	counts map[string]int
	// talkers holds, per namespace and per term ("key=value"), the pods
	// whose well-formed berth.io/talks-to declares that term.
	talkers map[string]map[string][]talkerTerm
}

// talkerTerm is one term of a placed pod's berth.io/talks-to.
type talkerTerm struct {
	uid    types.UID
	who    string
	weight int64
}

// index returns ni's index, building it on first use. NodeInfos are
// evaluated by one goroutine at a time (framework.NodeInfo.Derived), and
// only PreFilter and PreScore, which run on one goroutine, fill counts.
func (pl *NetworkAware) index(ni *framework.NodeInfo) *nodeIndex {
	if idx, ok := ni.Derived(pl.derivedKey).(*nodeIndex); ok {
		return idx
	}
	idx := &nodeIndex{loc: pl.base.Locate(ni.Node())}
	for _, pi := range ni.Pods {
		p := pi.Pod
		if !network.Eligible(p) {
			continue
		}
		if idx.byNS == nil {
			idx.byNS = map[string][]*v1.Pod{}
		}
		idx.byNS[p.Namespace] = append(idx.byNS[p.Namespace], p)
		if v, ok := p.Annotations[network.TalksToAnnotation]; ok {
			if terms, err := pl.parse(v); err == nil && len(terms) > 0 {
				idx.addTalker(p, terms)
			}
		}
	}
	ni.SetDerived(pl.derivedKey, idx)
	return idx
}

func (idx *nodeIndex) addTalker(p *v1.Pod, terms []network.Term) {
	if idx.talkers == nil {
		idx.talkers = map[string]map[string][]talkerTerm{}
	}
	byTerm := idx.talkers[p.Namespace]
	if byTerm == nil {
		byTerm = map[string][]talkerTerm{}
		idx.talkers[p.Namespace] = byTerm
	}
	who := network.Talker(p)
	for _, t := range terms {
		byTerm[t.String()] = append(byTerm[t.String()], talkerTerm{uid: p.UID, who: who, weight: t.Weight})
	}
}

// count is how many of the node's pods m selects, memoised.
func (idx *nodeIndex) count(m *matcher) int {
	if n, ok := idx.counts[m.key]; ok {
		return n
	}
	n := 0
	for _, p := range idx.byNS[m.ns] {
		if m.match(p.Labels) {
			n++
		}
	}
	if idx.counts == nil {
		idx.counts = map[string]int{}
	}
	idx.counts[m.key] = n
	return n
}

// parsed is one reading of an annotation value.
type parsed struct {
	terms []network.Term
	err   error
}

// maxParsed bounds the parse cache (it is cleared when full).
const maxParsed = 10000

// parse reads a talks-to value, remembering the result: the pods of a
// workload share one value, and indexes of changed nodes are rebuilt
// often.
func (pl *NetworkAware) parse(v string) ([]network.Term, error) {
	pl.parseMu.Lock()
	defer pl.parseMu.Unlock()
	if p, ok := pl.parsed[v]; ok {
		return p.terms, p.err
	}
	terms, err := network.ParseTalksTo(v)
	if len(pl.parsed) >= maxParsed {
		clear(pl.parsed)
	}
	pl.parsed[v] = parsed{terms: terms, err: err}
	return terms, err
}

// talkerCount counts, per namespace, the pods that carry the talks-to
// annotation, from the pod informer: a pod nobody talks to (most pods)
// is then skipped without looking at any node. It over-counts (pending
// pods, malformed values), which only costs a look.
type talkerCount struct {
	mu   sync.Mutex
	byNS map[string]int
	reg  cache.ResourceEventHandlerRegistration
}

func newTalkerCount() *talkerCount { return &talkerCount{byNS: map[string]int{}} }

func (c *talkerCount) handlers() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if p, ok := obj.(*v1.Pod); ok {
				c.add(p, 1)
			}
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			o, n, err := pluginutil.As[*v1.Pod](oldObj, newObj)
			if err == nil {
				c.add(o, -1)
				c.add(n, 1)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if p, _, err := pluginutil.As[*v1.Pod](obj, nil); err == nil {
				c.add(p, -1)
			}
		},
	}
}

func (c *talkerCount) add(p *v1.Pod, delta int) {
	if p == nil {
		return
	}
	if _, ok := p.Annotations[network.TalksToAnnotation]; !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byNS[p.Namespace] += delta
	if c.byNS[p.Namespace] <= 0 {
		delete(c.byNS, p.Namespace)
	}
}

// any reports whether a pod of ns may talk to others. A nil count (no
// informer) does not know, so it says yes.
func (c *talkerCount) any(ns string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byNS[ns] > 0
}

// synced reports whether the count has seen the informer's initial list.
func (c *talkerCount) synced() bool {
	return c == nil || c.reg == nil || c.reg.HasSynced()
}
