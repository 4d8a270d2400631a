package cache

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// Snapshot is the cluster state one scheduling cycle reads: a NodeInfo per
// node that exists, taken from the Cache by UpdateSnapshot.
//
// A Snapshot belongs to the scheduling loop. It is read concurrently by
// plugins during a cycle but must not be read while UpdateSnapshot runs,
// which updates its NodeInfos in place; nothing may keep a NodeInfo from it
// across UpdateSnapshot calls.
type Snapshot struct {
	nodeInfoMap  map[string]*framework.NodeInfo
	nodeInfoList []*framework.NodeInfo
	// affinityList and antiAffinityList are the nodes of nodeInfoList with
	// pods with any pod (anti-)affinity, and with required anti-affinity.
	affinityList     []*framework.NodeInfo
	antiAffinityList []*framework.NodeInfo

	// generation is the cache generation this snapshot reflects.
	generation int64
	// listGen is the cache's listGen when nodeInfoList was last built.
	listGen int64
	// images holds one summary per image name, shared by every NodeInfo of
	// this snapshot that has the image, so a change in how many nodes have
	// an image is one write here rather than a copy of every such node.
	images    map[string]*framework.ImageStateSummary
	imagesGen int64
}

var (
	_ framework.SharedLister   = (*Snapshot)(nil)
	_ framework.NodeInfoLister = (*Snapshot)(nil)
)

// NewEmptySnapshot returns a snapshot for UpdateSnapshot to fill.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{
		nodeInfoMap: make(map[string]*framework.NodeInfo),
		images:      make(map[string]*framework.ImageStateSummary),
		listGen:     -1,
	}
}

// NewSnapshot builds a snapshot directly from objects, without a Cache, for
// tests and simulations. Pods are placed on spec.nodeName; pods whose node
// is not listed, unassigned pods and terminal pods are left out.
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	s := NewEmptySnapshot()
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		s.nodeInfoMap[n.Name] = ni
		forEachImageName(n, func(name string, size int64) {
			sum, ok := s.images[name]
			if !ok {
				sum = &framework.ImageStateSummary{Size: size}
				s.images[name] = sum
			}
			sum.NumNodes++
		})
	}
	for _, ni := range s.nodeInfoMap {
		ni.ImageStates = s.imageStatesFor(ni.ImageStates)
	}
	for _, p := range pods {
		if p.Spec.NodeName == "" || isTerminal(p) {
			continue
		}
		if ni, ok := s.nodeInfoMap[p.Spec.NodeName]; ok {
			ni.AddPod(p)
		}
	}
	for _, name := range nodeOrder(nodes) {
		s.nodeInfoList = append(s.nodeInfoList, s.nodeInfoMap[name])
	}
	s.rebuildAffinityLists()
	return s
}

// NodeInfos implements framework.SharedLister.
func (s *Snapshot) NodeInfos() framework.NodeInfoLister { return s }

// List implements framework.NodeInfoLister. Nodes are ordered by name
// within a zone, with the zones interleaved.
func (s *Snapshot) List() []*framework.NodeInfo { return s.nodeInfoList }

// HavePodsWithAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo { return s.affinityList }

// HavePodsWithRequiredAntiAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo {
	return s.antiAffinityList
}

// Get implements framework.NodeInfoLister.
func (s *Snapshot) Get(nodeName string) (*framework.NodeInfo, error) {
	if ni, ok := s.nodeInfoMap[nodeName]; ok {
		return ni, nil
	}
	return nil, fmt.Errorf("node %q not found in the snapshot", nodeName)
}

// NumNodes returns the number of nodes in the snapshot.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }

// AddPodForWhatIf adds pod to its node (pod.Spec.NodeName) in this
// snapshot only, so that the next evaluation on it sees the pod placed: a
// gang's members evaluated one after the other, each seeing the room the
// previous ones took. The snapshot then no longer matches the cache, so
// the next UpdateSnapshot copies every node again. Never use it on the
// scheduling loop's snapshot.
func (s *Snapshot) AddPodForWhatIf(pod *v1.Pod) error {
	ni, ok := s.nodeInfoMap[pod.Spec.NodeName]
	if !ok {
		return fmt.Errorf("node %q not found in the snapshot", pod.Spec.NodeName)
	}
	ni.AddPod(pod)
	s.generation, s.listGen = -1, -1
	s.rebuildAffinityLists()
	return nil
}

// Generation returns the cache generation the snapshot reflects; it only
// grows (AddPodForWhatIf resets it, to force a full copy).
func (s *Snapshot) Generation() int64 { return s.generation }

// rebuildAffinityLists allocates new lists rather than reusing the old
// arrays, in case a reader of the previous cycle still holds them.
func (s *Snapshot) rebuildAffinityLists() {
	s.affinityList, s.antiAffinityList = nil, nil
	for _, ni := range s.nodeInfoList {
		if len(ni.PodsWithAffinity) > 0 {
			s.affinityList = append(s.affinityList, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.antiAffinityList = append(s.antiAffinityList, ni)
		}
	}
}

// imageStatesFor maps the image names of a node (the keys of the cache's
// per-node map) to this snapshot's shared summaries.
func (s *Snapshot) imageStatesFor(src map[string]*framework.ImageStateSummary) map[string]*framework.ImageStateSummary {
	out := make(map[string]*framework.ImageStateSummary, len(src))
	for name, own := range src {
		sum, ok := s.images[name]
		if !ok {
			// Not counted by the cache: cannot happen while the cache's
			// bookkeeping is right; count the node itself.
			sum = &framework.ImageStateSummary{Size: own.Size, NumNodes: 1}
			s.images[name] = sum
		}
		out[name] = sum
	}
	return out
}

// syncImages brings the shared image summaries in line with the cache's
// counts. Summaries are updated in place so NodeInfos that were not copied
// this time still see the right NumNodes.
func (s *Snapshot) syncImages(images map[string]*imageCount) {
	for name, ic := range images {
		sum, ok := s.images[name]
		if !ok {
			sum = &framework.ImageStateSummary{}
			s.images[name] = sum
		}
		sum.Size, sum.NumNodes = ic.size, ic.numNodes
	}
	for name := range s.images {
		if _, ok := images[name]; !ok {
			delete(s.images, name)
		}
	}
}

// UpdateSnapshot brings s up to date with the cache, copying only the
// NodeInfos that changed since s was last updated. Call it once at the start
// of every scheduling cycle, never concurrently with readers of s. An error
// means the snapshot was found inconsistent; it is rebuilt in full on the
// next call.
func (c *Cache) UpdateSnapshot(logger klog.Logger, s *Snapshot) error {
	c.mu.Lock()
	defer c.mu.Unlock()

	snapGen := s.generation
	if s.imagesGen != c.imagesGen {
		s.syncImages(c.images)
		s.imagesGen = c.imagesGen
	}
	rebuildAll := s.listGen != c.listGen
	rebuildAffinity := false
	for item := c.head; item != nil && item.info.Generation > snapGen; item = item.next {
		existing, inSnapshot := s.nodeInfoMap[item.name]
		if item.info.Node() == nil {
			if inSnapshot {
				delete(s.nodeInfoMap, item.name)
				rebuildAll = true
			}
			continue
		}
		if !inSnapshot {
			existing = &framework.NodeInfo{}
			s.nodeInfoMap[item.name] = existing
			rebuildAll = true
		}
		clone := item.info.Clone()
		if inSnapshot && item.imageGen <= snapGen {
			clone.ImageStates = existing.ImageStates
		} else {
			clone.ImageStates = s.imageStatesFor(item.info.ImageStates)
		}
		if (len(existing.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) ||
			(len(existing.PodsWithRequiredAntiAffinity) > 0) != (len(clone.PodsWithRequiredAntiAffinity) > 0) {
			rebuildAffinity = true
		}
		// The lists hold pointers to existing, so update it in place.
		*existing = *clone
	}
	s.generation = c.generation

	if rebuildAll {
		c.rebuildNodeList(logger, s)
	} else if rebuildAffinity {
		s.rebuildAffinityLists()
	}
	if len(s.nodeInfoList) != c.numNodes || len(s.nodeInfoMap) != c.numNodes {
		err := fmt.Errorf("snapshot is inconsistent: %d nodes listed, %d mapped, %d in the cache",
			len(s.nodeInfoList), len(s.nodeInfoMap), c.numNodes)
		logger.Error(err, "Rebuilding the snapshot on the next update")
		s.generation, s.listGen, s.imagesGen = 0, -1, -1
		return err
	}
	return nil
}

// rebuildNodeList drops NodeInfos of nodes that are gone and rebuilds the
// node list and its sub-lists in the cache's node order.
func (c *Cache) rebuildNodeList(logger klog.Logger, s *Snapshot) {
	for name := range s.nodeInfoMap {
		if item, ok := c.nodes[name]; !ok || item.info.Node() == nil {
			delete(s.nodeInfoMap, name)
		}
	}
	order := c.orderedNodeNames()
	s.nodeInfoList = make([]*framework.NodeInfo, 0, len(order))
	for _, name := range order {
		ni, ok := s.nodeInfoMap[name]
		if !ok {
			logger.Error(nil, "Node in the cache is missing from the snapshot", "node", klog.KRef("", name))
			continue
		}
		s.nodeInfoList = append(s.nodeInfoList, ni)
	}
	s.rebuildAffinityLists()
	s.listGen = c.listGen
}
