package conformance

import (
	"fmt"
	"math/rand/v2"

	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// GangCase is one case of the gang family: a small cluster (nodes and the
// pods bound to them, some of which may already be members of the group)
// and one Kubernetes PodGroup (scheduling.k8s.io/v1beta1, gang policy)
// with its pending members, in the order they are created.
type GangCase struct {
	Seed    uint64
	Cluster *Cluster
	Group   *schedv1beta1.PodGroup
	Pending []*v1.Pod
	// TAS runs kube-scheduler with its alpha TopologyAwareWorkloadScheduling
	// gate on (placement algorithm). Always true when the group has a
	// topology constraint: with the gate off, the API server drops
	// spec.schedulingConstraints on create.
	TAS bool
}

// GangGenOptions bounds the size of generated gang cases.
type GangGenOptions struct {
	MaxNodes     int // nodes per cluster, at least 1
	MaxBoundPods int // unrelated pods bound per node
	MaxMembers   int // pending members of the group, at least 1
	// Topology is the chance that the group has a topology constraint
	// (spec.schedulingConstraints.topology[0].key).
	Topology float64
	// BoundMembers is the chance that some members are already bound
	// (a group that was placed before and gained members).
	BoundMembers float64
	// ScatteredMembers is the chance that members bound before a group
	// with a topology constraint are on any nodes, not in one domain.
	ScatteredMembers float64
	// Basic is the chance that the group has the Basic policy (no gang).
	Basic float64
}

// DefaultGangGenOptions keeps a case small: a handful of nodes, so that
// whether the group fits is often a close call.
var DefaultGangGenOptions = GangGenOptions{MaxNodes: 6, MaxBoundPods: 3, MaxMembers: 6, Topology: 0.4, BoundMembers: 0.2, ScatteredMembers: 0.2, Basic: 0.1}

// Gang family label keys and names.
const (
	rackKey      = "example.com/rack"
	gangName     = "gang"
	memberPrefix = "member-"
)

// GenerateGang returns the gang case for seed, from a random stream of its
// own (the plugin family's Generate draws nothing from it).
func GenerateGang(seed uint64, opts GangGenOptions) *GangCase {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x67616e67))}
	c := &GangCase{Seed: seed, Cluster: &Cluster{}}
	ns := pick(g, namespaces...).name

	n := 1 + g.r.IntN(opts.MaxNodes)
	gpus := false
	for i := range n {
		node := g.gangNode(i)
		if _, ok := node.Status.Allocatable[gpuName]; ok {
			gpus = true
		}
		c.Cluster.Nodes = append(c.Cluster.Nodes, node)
	}
	for _, node := range c.Cluster.Nodes {
		for range g.r.IntN(opts.MaxBoundPods + 1) {
			c.Cluster.Pods = append(c.Cluster.Pods, g.gangBoundPod(node, gpus))
		}
	}

	pg := &schedv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: gangName, Namespace: ns, UID: g.uid()}}
	if g.chance(opts.Topology) {
		// Sometimes a key no node has: no placement at all.
		key := pick(g, zoneKey, zoneKey, rackKey, rackKey, hostnameKey, "example.com/absent")
		pg.Spec.SchedulingConstraints = &schedv1beta1.PodGroupSchedulingConstraints{Topology: []schedv1beta1.TopologyConstraint{{Key: key}}}
		c.TAS = true
	} else {
		c.TAS = g.chance(0.5)
	}
	c.Group = pg

	// Members: identical (the usual gang: replicas of one template) or each
	// its own size.
	members := 1 + g.r.IntN(opts.MaxMembers)
	same := g.chance(0.6)
	var shape v1.ResourceList
	for i := range members {
		if i == 0 || !same {
			shape = g.gangRequests(gpus)
		}
		p := g.gangMember(ns, fmt.Sprintf("%s%d", memberPrefix, i), shape)
		c.Pending = append(c.Pending, p)
	}

	// Members already bound, on nodes of one topology domain when the
	// group has a key (as a scheduler that honours it left them), or now
	// and then anywhere: on nodes without the label or in two domains (a
	// member created with spec.nodeName set, say).
	bound := 0
	if g.chance(opts.BoundMembers) {
		hosts := c.Cluster.Nodes
		if key := gangTopologyKey(pg); key != "" && !g.chance(opts.ScatteredMembers) {
			hosts = nil
			var value string
			for _, node := range g.r.Perm(len(c.Cluster.Nodes)) {
				if v, ok := c.Cluster.Nodes[node].Labels[key]; ok {
					value = v
					break
				}
			}
			for _, node := range c.Cluster.Nodes {
				if v, ok := node.Labels[key]; ok && v == value {
					hosts = append(hosts, node)
				}
			}
		}
		if len(hosts) > 0 {
			bound = 1 + g.r.IntN(2)
			for i := range bound {
				p := g.gangMember(ns, fmt.Sprintf("%sbound-%d", memberPrefix, i), pick(g, shape, g.gangRequests(gpus)))
				p.Spec.NodeName = pick(g, hosts...).Name
				p.Status.Phase = v1.PodRunning
				c.Cluster.Pods = append(c.Cluster.Pods, p)
			}
		}
	}
	if g.chance(opts.Basic) {
		// No gang policy: kube-scheduler still runs the members as one pod
		// group (minimum 1); berth schedules them one by one, or as a
		// group of minimum 1 when they must share a domain.
		pg.Spec.SchedulingPolicy.Basic = &schedv1beta1.BasicSchedulingPolicy{}
	} else {
		pg.Spec.SchedulingPolicy.Gang = &schedv1beta1.GangSchedulingPolicy{MinCount: int32(1 + g.r.IntN(members+bound))}
	}
	return c
}

// gangMinCount is the group's minimum: minCount, or 1 without a gang
// policy.
func gangMinCount(pg *schedv1beta1.PodGroup) int {
	if gp := pg.Spec.SchedulingPolicy.Gang; gp != nil {
		return int(gp.MinCount)
	}
	return 1
}

// gangTopologyKey is the group's topology key, or "".
func gangTopologyKey(pg *schedv1beta1.PodGroup) string {
	if c := pg.Spec.SchedulingConstraints; c != nil && len(c.Topology) > 0 {
		return c.Topology[0].Key
	}
	return ""
}

// gangNode is a node with random CPU, memory, pod and GPU capacity, zone
// and rack labels (each sometimes missing), and now and then cordoned.
func (g *gen) gangNode(i int) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), UID: g.uid(),
		Labels: map[string]string{hostnameKey: fmt.Sprintf("node-%d", i)}}}
	if g.chance(0.85) {
		n.Labels[zoneKey] = pick(g, "zone-a", "zone-b")
	}
	if g.chance(0.7) {
		n.Labels[rackKey] = pick(g, "rack-1", "rack-2", "rack-3")
	}
	alloc := v1.ResourceList{
		v1.ResourceCPU:    milli(pick[int64](g, 1000, 2000, 2000, 4000, 4000, 8000)),
		v1.ResourceMemory: mebi(pick[int64](g, 2048, 4096, 4096, 8192, 16384)),
		v1.ResourcePods:   count(pick[int64](g, 2, 4, 110, 110, 110, 110)),
	}
	if g.chance(0.4) {
		alloc[gpuName] = count(int64(g.r.IntN(5)))
	}
	n.Status.Capacity, n.Status.Allocatable = alloc.DeepCopy(), alloc
	if g.chance(0.1) {
		n.Spec.Unschedulable = true
		n.Spec.Taints = []v1.Taint{{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}}
	}
	return n
}

// gangRequests is one member's requests: CPU and memory, sometimes GPUs
// when some node has them.
func (g *gen) gangRequests(gpus bool) v1.ResourceList {
	r := v1.ResourceList{
		v1.ResourceCPU:    milli(pick[int64](g, 100, 250, 500, 500, 1000, 1000, 1500, 2000, 3000)),
		v1.ResourceMemory: mebi(pick[int64](g, 128, 256, 512, 1024, 1024, 2048, 3072)),
	}
	if gpus && g.chance(0.3) {
		r[gpuName] = count(int64(1 + g.r.IntN(2)))
	}
	return r
}

// gangMember is a member of the case's group, named name, with requests
// (limits equal for the GPU, as extended resources require).
func (g *gen) gangMember(ns, name string, req v1.ResourceList) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: g.uid(), Labels: map[string]string{"app": "gang"}}}
	p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: ptr.To(gangName)}
	p.Spec.Containers = []v1.Container{{Name: "c", Image: "registry.example/trainer:v1", Resources: requirements(req)}}
	return p
}

// gangBoundPod is an unrelated running pod on node.
func (g *gen) gangBoundPod(node *v1.Node, gpus bool) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bound-%d", g.seq+1), Namespace: pick(g, namespaces...).name, UID: g.uid()}}
	p.Spec.NodeName = node.Name
	p.Status.Phase = v1.PodRunning
	req := g.gangRequests(gpus)
	if _, ok := node.Status.Allocatable[gpuName]; !ok {
		delete(req, gpuName)
	}
	p.Spec.Containers = []v1.Container{{Name: "c", Image: "registry.example/app:v1", Resources: requirements(req)}}
	return p
}

// requirements sets requests, and limits equal to them for extended
// resources (which may not be overcommitted).
func requirements(req v1.ResourceList) v1.ResourceRequirements {
	out := v1.ResourceRequirements{Requests: req.DeepCopy()}
	if q, ok := req[gpuName]; ok {
		out.Limits = v1.ResourceList{gpuName: q.DeepCopy()}
	}
	return out
}
