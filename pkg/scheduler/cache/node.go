package cache

import (
	"errors"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// imageCount is the cluster-wide state of one image name.
type imageCount struct {
	size     int64
	numNodes int
}

// AddNode handles an informer add of a node (an add for a node the cache
// already has updates it). It returns a copy of the node's NodeInfo.
func (c *Cache) AddNode(logger klog.Logger, node *v1.Node) *framework.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	item := c.setNodeLocked(node)
	logger.V(5).Info("Added node", "node", klog.KObj(node))
	return item.info.Clone()
}

// UpdateNode handles an informer update of a node; oldNode is not used, the
// cache compares newNode with the object it holds. It returns a copy of the
// node's NodeInfo.
func (c *Cache) UpdateNode(logger klog.Logger, oldNode, newNode *v1.Node) *framework.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	item := c.setNodeLocked(newNode)
	logger.V(5).Info("Updated node", "node", klog.KObj(newNode))
	return item.info.Clone()
}

// RemoveNode handles an informer delete of a node. The node's pods stay in
// the cache (without a node, so out of every snapshot) until their own
// delete events arrive. Removing an unknown node is not an error.
func (c *Cache) RemoveNode(logger klog.Logger, node *v1.Node) error {
	if node == nil || node.Name == "" {
		return errors.New("RemoveNode: node without a name")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.removeNodeLocked(node.Name) {
		logger.V(4).Info("Node to remove is not in the cache", "node", klog.KObj(node))
	}
	return nil
}

// setNodeLocked makes node the Node object of its NodeInfo.
func (c *Cache) setNodeLocked(node *v1.Node) *nodeItem {
	item := c.itemFor(node.Name)
	prev := item.info.Node()
	switch {
	case prev == nil:
		c.numNodes++
		c.listGen++
	case zoneKey(prev) != zoneKey(node):
		c.listGen++
	}
	imagesChanged := prev == nil || !sameImages(prev, node)
	if imagesChanged {
		c.removeImages(prev)
		c.addImages(node)
	}
	item.info.SetNode(node)
	c.touch(item)
	if imagesChanged {
		item.imageGen = item.info.Generation
		c.imagesGen = item.info.Generation
	}
	return item
}

// removeNodeLocked clears the Node object of a NodeInfo, dropping the
// NodeInfo if it holds no pods. It reports whether the node was known.
func (c *Cache) removeNodeLocked(name string) bool {
	item, ok := c.nodes[name]
	if !ok || item.info.Node() == nil {
		return false
	}
	c.removeImages(item.info.Node())
	item.info.RemoveNode()
	c.numNodes--
	c.listGen++
	if len(item.info.Pods) == 0 {
		c.dropItem(item)
	} else {
		c.touch(item)
	}
	c.generation++
	c.imagesGen = c.generation
	return true
}

// itemFor returns the NodeInfo of name, creating an empty one.
func (c *Cache) itemFor(name string) *nodeItem {
	item, ok := c.nodes[name]
	if !ok {
		item = &nodeItem{name: name, info: framework.NewNodeInfo()}
		c.nodes[name] = item
	}
	return item
}

// touch stamps item with a new generation and moves it to the head of the
// recency list, which is what makes UpdateSnapshot see the change.
func (c *Cache) touch(item *nodeItem) {
	c.generation++
	item.info.Generation = c.generation
	if c.head == item {
		return
	}
	c.unlink(item)
	item.next = c.head
	if c.head != nil {
		c.head.prev = item
	}
	c.head = item
}

func (c *Cache) unlink(item *nodeItem) {
	if item.prev != nil {
		item.prev.next = item.next
	}
	if item.next != nil {
		item.next.prev = item.prev
	}
	if c.head == item {
		c.head = item.next
	}
	item.prev, item.next = nil, nil
}

// dropItem removes a NodeInfo that has neither node nor pods.
func (c *Cache) dropItem(item *nodeItem) {
	c.unlink(item)
	delete(c.nodes, item.name)
}

func (c *Cache) addImages(node *v1.Node) {
	forEachImageName(node, func(name string, size int64) {
		ic, ok := c.images[name]
		if !ok {
			ic = &imageCount{size: size}
			c.images[name] = ic
		}
		ic.numNodes++
	})
}

func (c *Cache) removeImages(node *v1.Node) {
	if node == nil {
		return
	}
	forEachImageName(node, func(name string, _ int64) {
		if ic, ok := c.images[name]; ok {
			if ic.numNodes--; ic.numNodes <= 0 {
				delete(c.images, name)
			}
		}
	})
}

// forEachImageName calls f once per distinct image name of node, with the
// size of the first image listing it (a node counts once per name).
func forEachImageName(node *v1.Node, f func(name string, size int64)) {
	seen := make(map[string]struct{}, 2*len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if _, dup := seen[name]; dup {
				continue
			}
			seen[name] = struct{}{}
			f(name, img.SizeBytes)
		}
	}
}

func sameImages(a, b *v1.Node) bool {
	ai, bi := a.Status.Images, b.Status.Images
	if len(ai) != len(bi) {
		return false
	}
	for i := range ai {
		if ai[i].SizeBytes != bi[i].SizeBytes || len(ai[i].Names) != len(bi[i].Names) {
			return false
		}
		for j := range ai[i].Names {
			if ai[i].Names[j] != bi[i].Names[j] {
				return false
			}
		}
	}
	return true
}

// zoneKey identifies a node's failure domain (region and zone).
func zoneKey(node *v1.Node) string {
	l := node.Labels
	region, zone := l[v1.LabelTopologyRegion], l[v1.LabelTopologyZone]
	if region == "" {
		region = l[v1.LabelFailureDomainBetaRegion]
	}
	if zone == "" {
		zone = l[v1.LabelFailureDomainBetaZone]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

// orderedNodeNames returns the snapshot order of the nodes that have a Node
// object, recomputing it only when the node set changed.
func (c *Cache) orderedNodeNames() []string {
	if c.orderGen == c.listGen {
		return c.order
	}
	nodes := make([]*v1.Node, 0, c.numNodes)
	for _, item := range c.nodes {
		if n := item.info.Node(); n != nil {
			nodes = append(nodes, n)
		}
	}
	c.order = nodeOrder(nodes)
	c.orderGen = c.listGen
	return c.order
}

// nodeOrder sorts nodes by name within each zone, then interleaves the
// zones, so any prefix of the list (what node sampling evaluates) spreads
// across zones, and the order is deterministic.
func nodeOrder(nodes []*v1.Node) []string {
	byZone := make(map[string][]string)
	for _, n := range nodes {
		z := zoneKey(n)
		byZone[z] = append(byZone[z], n.Name)
	}
	zones := make([]string, 0, len(byZone))
	for z, names := range byZone {
		sort.Strings(names)
		zones = append(zones, z)
	}
	sort.Strings(zones)
	out := make([]string, 0, len(nodes))
	for i := 0; len(out) < len(nodes); i++ {
		for _, z := range zones {
			if names := byZone[z]; i < len(names) {
				out = append(out, names[i])
			}
		}
	}
	return out
}
