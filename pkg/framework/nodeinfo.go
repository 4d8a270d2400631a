package framework

import (
	"fmt"
	"maps"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/storage/ephemeral"
)

// PodInfo is a pod plus what the scheduler derives from it once, so the hot
// path never recomputes requests or re-parses affinity terms.
type PodInfo struct {
	Pod *v1.Pod
	// Requests is what the pod takes from a node (PodRequests).
	Requests *Resource
	// NonZeroRequests is the scorer's view (PodNonZeroRequests).
	NonZeroRequests *Resource
}

// NewPodInfo derives a PodInfo.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	requests := resourcehelper.PodRequests(pod, requestOptions)
	return &PodInfo{Pod: pod, Requests: NewResource(requests), NonZeroRequests: podNonZeroRequests(pod, requests)}
}

// HasAffinity reports whether the pod declares any pod affinity or
// anti-affinity, required or preferred.
func (p *PodInfo) HasAffinity() bool {
	a := p.Pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

// HasRequiredAntiAffinity reports whether the pod has required pod
// anti-affinity terms, which every incoming pod must respect (symmetry).
func (p *PodInfo) HasRequiredAntiAffinity() bool {
	a := p.Pod.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
}

// ImageStateSummary describes a container image present on a node: its size
// and on how many nodes of the cluster it is present (filled in by the
// snapshot, used by ImageLocality to favour images that are rare).
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// NodeInfo is the scheduler's aggregated view of one node: the node, the pods
// on it (bound and assumed), and the sums plugins check against.
//
// A NodeInfo in a snapshot is read-only for plugins. The cache bumps
// Generation on every change so UpdateSnapshot copies only what changed.
type NodeInfo struct {
	node *v1.Node

	// Pods on the node, bound or assumed.
	Pods []*PodInfo
	// PodsWithAffinity is the subset with any pod (anti-)affinity.
	PodsWithAffinity []*PodInfo
	// PodsWithRequiredAntiAffinity is the subset with required anti-affinity.
	PodsWithRequiredAntiAffinity []*PodInfo
	// UsedPorts are the host ports taken by the pods.
	UsedPorts HostPortInfo
	// Requested is the sum of the pods' requests.
	Requested *Resource
	// NonZeroRequested is the sum of the pods' non-zero requests.
	NonZeroRequested *Resource
	// Allocatable is the node's allocatable.
	Allocatable *Resource
	// ImageStates maps every image name (all its names/tags) on the node.
	ImageStates map[string]*ImageStateSummary
	// PVCRefCounts counts, per "namespace/claim", the pods on the node that
	// use the claim (generic ephemeral volumes included), so volume plugins
	// can tell whether a claim is in use without scanning every pod. It is
	// nil until a pod with a claim is added: most nodes never need one, and
	// the snapshot clones NodeInfos on the hot path.
	PVCRefCounts map[string]int
	// Generation increases on every change to this NodeInfo.
	Generation int64

	// derived holds what plugins computed from this NodeInfo (Derived).
	derived map[string]any
}

// Derived returns what a plugin stored under key with SetDerived, or nil.
// Plugins use it to compute something from a node's pods once per change
// of the node instead of once per pod and node (GPUShare's card state).
// Every change through this type (pods added or removed, the node set)
// drops it, Clone does not copy it, and the snapshot replaces a changed
// node's NodeInfo contents, so a value is never stale. Like the rest of a
// NodeInfo it is not safe for concurrent use: the engine evaluates one
// node on one goroutine at a time.
func (n *NodeInfo) Derived(key string) any { return n.derived[key] }

// SetDerived stores v under key until the NodeInfo next changes.
func (n *NodeInfo) SetDerived(key string, v any) {
	if n.derived == nil {
		n.derived = make(map[string]any, 1)
	}
	n.derived[key] = v
}

// NewNodeInfo returns a NodeInfo holding pods (no node set yet).
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{
		Requested:        &Resource{},
		NonZeroRequested: &Resource{},
		Allocatable:      &Resource{},
		UsedPorts:        make(HostPortInfo),
		ImageStates:      make(map[string]*ImageStateSummary),
	}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node returns the node; nil when the node was deleted but pods remain.
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and recomputes allocatable and image states.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.derived = nil
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.ImageStates = make(map[string]*ImageStateSummary, len(node.Status.Images))
	for _, img := range node.Status.Images {
		s := &ImageStateSummary{Size: img.SizeBytes}
		for _, name := range img.Names {
			n.ImageStates[name] = s
		}
	}
}

// RemoveNode clears the node but keeps the pods (they may still be bound to
// it until their own delete events arrive).
func (n *NodeInfo) RemoveNode() { n.node, n.derived = nil, nil }

// AddPod adds a pod and its requests, ports and affinity bookkeeping.
func (n *NodeInfo) AddPod(pod *v1.Pod) { n.AddPodInfo(NewPodInfo(pod)) }

// AddPodInfo adds an already-derived PodInfo.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if pi.HasRequiredAntiAffinity() {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes the pod with the UID of pod. It returns an error when the
// pod is not on this node, which means the caller's bookkeeping is wrong.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	uid := pod.UID
	n.PodsWithAffinity = removeByUID(n.PodsWithAffinity, uid)
	n.PodsWithRequiredAntiAffinity = removeByUID(n.PodsWithRequiredAntiAffinity, uid)
	for i, pi := range n.Pods {
		if pi.Pod.UID == uid {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			n.update(pi, -1)
			return nil
		}
	}
	return fmt.Errorf("no pod %s/%s (uid %s) on node %s", pod.Namespace, pod.Name, uid, n.nodeName())
}

func removeByUID(list []*PodInfo, uid types.UID) []*PodInfo {
	for i, pi := range list {
		if pi.Pod.UID == uid {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last]
		}
	}
	return list
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	n.derived = nil
	if sign > 0 {
		n.Requested.AddResource(pi.Requests)
		n.NonZeroRequested.AddResource(pi.NonZeroRequests)
	} else {
		n.Requested.SubResource(pi.Requests)
		n.NonZeroRequested.SubResource(pi.NonZeroRequests)
	}
	for _, v := range pi.Pod.Spec.Volumes {
		claim := PodVolumeClaimName(pi.Pod, &v)
		if claim == "" {
			continue
		}
		key := pi.Pod.Namespace + "/" + claim
		if n.PVCRefCounts == nil {
			n.PVCRefCounts = map[string]int{}
		}
		if n.PVCRefCounts[key] += int(sign); n.PVCRefCounts[key] <= 0 {
			delete(n.PVCRefCounts, key)
		}
	}
	for _, p := range HostPorts(pi.Pod) {
		if sign > 0 {
			n.UsedPorts.Add(p.HostIP, string(p.Protocol), p.HostPort)
		} else {
			n.UsedPorts.Remove(p.HostIP, string(p.Protocol), p.HostPort)
		}
	}
}

func (n *NodeInfo) nodeName() string {
	if n.node == nil {
		return "<deleted>"
	}
	return n.node.Name
}

// Clone returns a copy that shares the immutable parts (the node object, the
// pods and their PodInfos) and copies the mutable sums, slices and maps.
func (n *NodeInfo) Clone() *NodeInfo {
	out := &NodeInfo{
		node:                         n.node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		UsedPorts:                    n.UsedPorts.Clone(),
		Requested:                    n.Requested.Clone(),
		NonZeroRequested:             n.NonZeroRequested.Clone(),
		Allocatable:                  n.Allocatable.Clone(),
		ImageStates:                  n.ImageStates,
		PVCRefCounts:                 maps.Clone(n.PVCRefCounts),
		Generation:                   n.Generation,
	}
	return out
}

// PodVolumeClaimName returns the name of the PersistentVolumeClaim a pod
// volume uses: the named claim, or for a generic ephemeral volume the
// claim the ephemeral controller creates ("<pod>-<volume>"). It returns ""
// for volumes that use no claim.
func PodVolumeClaimName(pod *v1.Pod, vol *v1.Volume) string {
	switch {
	case vol.PersistentVolumeClaim != nil:
		return vol.PersistentVolumeClaim.ClaimName
	case vol.Ephemeral != nil:
		return ephemeral.VolumeClaimName(pod, vol)
	}
	return ""
}

// PodUsesClaim reports whether one of the pod's volumes uses the claim
// namespace/name (by name, or as its generic ephemeral volume's claim).
func PodUsesClaim(pod *v1.Pod, namespace, name string) bool {
	if pod.Namespace != namespace {
		return false
	}
	for i := range pod.Spec.Volumes {
		if PodVolumeClaimName(pod, &pod.Spec.Volumes[i]) == name {
			return true
		}
	}
	return false
}
