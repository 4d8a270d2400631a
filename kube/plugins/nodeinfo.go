package plugins

import (
	"sync"

	fwk "k8s.io/kube-scheduler/framework"

	"github.com/berthsched/berth/pkg/framework"
)

// nodeInfos translates kube-scheduler's NodeInfos into berth's, once per
// node state. kube-scheduler bumps a NodeInfo's generation from one
// process-wide counter on every change (and keeps it when it copies a
// NodeInfo into the snapshot), so a name and a generation identify one
// node state: the translation is reused until the node changes, and so
// is everything berth's plugins derived from it (NodeInfo.Derived, where
// GPUShare keeps a node's card state). What-if copies that preemption or
// nominated pods make have generations of their own and get their own
// translations.
type nodeInfos struct {
	mu     sync.Mutex
	byName map[string]translated
}

type translated struct {
	gen int64
	ni  *framework.NodeInfo
}

// sweepSlack is how many more cached nodes than listed ones are
// tolerated before a full list drops the nodes that left.
const sweepSlack = 64

func newNodeInfos() *nodeInfos { return &nodeInfos{byName: map[string]translated{}} }

// get returns berth's NodeInfo for kni, nil for nil. Like kube-scheduler's
// own, one node's NodeInfo is evaluated by one goroutine at a time.
func (c *nodeInfos) get(kni fwk.NodeInfo) *framework.NodeInfo {
	if kni == nil {
		return nil
	}
	node := kni.Node()
	if node == nil {
		// A deleted node whose pods remain: rare and never scheduled to.
		return translate(kni)
	}
	gen := kni.GetGeneration()
	c.mu.Lock()
	t, ok := c.byName[node.Name]
	c.mu.Unlock()
	if ok && t.gen == gen {
		return t.ni
	}
	ni := translate(kni)
	c.mu.Lock()
	c.byName[node.Name] = translated{gen: gen, ni: ni}
	c.mu.Unlock()
	return ni
}

// list translates a list of nodes. When the list is every node of the
// snapshot (full), cached nodes that are no longer in it are dropped once
// they pile up; a partial list (PreScore's feasible nodes) never drops
// anything, or the next cycle would translate the other nodes again.
func (c *nodeInfos) list(knis []fwk.NodeInfo, full bool) []*framework.NodeInfo {
	out := make([]*framework.NodeInfo, 0, len(knis))
	for _, kni := range knis {
		out = append(out, c.get(kni))
	}
	if !full {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byName) > len(knis)+sweepSlack {
		keep := make(map[string]translated, len(knis))
		for _, ni := range out {
			if n := ni.Node(); n != nil {
				if t, ok := c.byName[n.Name]; ok {
					keep[n.Name] = t
				}
			}
		}
		c.byName = keep
	}
	return out
}

// translate builds berth's NodeInfo from the node and its pods (bound and
// assumed), carrying the images' cluster-wide spread over.
func translate(kni fwk.NodeInfo) *framework.NodeInfo {
	ni := framework.NewNodeInfo()
	if node := kni.Node(); node != nil {
		ni.SetNode(node)
	}
	for _, pi := range kni.GetPods() {
		ni.AddPod(pi.GetPod())
	}
	for name, s := range kni.GetImageStates() {
		if b := ni.ImageStates[name]; b != nil && s != nil {
			b.NumNodes = s.NumNodes
		}
	}
	ni.Generation = kni.GetGeneration()
	return ni
}

// lister is berth's view of kube-scheduler's snapshot. There is one per
// snapshot (Bridge.lister), shared by every profile, so berth plugins
// that key shared state by their handle's lister (GPUShare's card
// reservations) share it across profiles as they do in berth.
type lister struct {
	kube  fwk.SharedLister
	nodes *nodeInfos
}

var (
	_ framework.SharedLister   = (*lister)(nil)
	_ framework.NodeInfoLister = (*lister)(nil)
)

// NodeInfos returns the node lister.
func (l *lister) NodeInfos() framework.NodeInfoLister { return l }

// List returns every node of the snapshot; nil if kube-scheduler cannot
// list them.
func (l *lister) List() []*framework.NodeInfo {
	knis, err := l.kube.NodeInfos().List()
	if err != nil {
		return nil
	}
	return l.nodes.list(knis, true)
}

// HavePodsWithAffinityList returns the nodes with pods with pod
// (anti-)affinity.
func (l *lister) HavePodsWithAffinityList() []*framework.NodeInfo {
	knis, err := l.kube.NodeInfos().HavePodsWithAffinityList()
	if err != nil {
		return nil
	}
	return l.some(knis)
}

// HavePodsWithRequiredAntiAffinityList returns the nodes with pods with
// required pod anti-affinity.
func (l *lister) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo {
	knis, err := l.kube.NodeInfos().HavePodsWithRequiredAntiAffinityList()
	if err != nil {
		return nil
	}
	return l.some(knis)
}

func (l *lister) some(knis []fwk.NodeInfo) []*framework.NodeInfo {
	out := make([]*framework.NodeInfo, len(knis))
	for i, kni := range knis {
		out[i] = l.nodes.get(kni)
	}
	return out
}

// Get returns one node of the snapshot.
func (l *lister) Get(name string) (*framework.NodeInfo, error) {
	kni, err := l.kube.NodeInfos().Get(name)
	if err != nil {
		return nil, err
	}
	return l.nodes.get(kni), nil
}
