package inprocbench

import (
	"fmt"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
)

// Namespace holds every generated pod.
const Namespace = "bench"

// Zones is the number of zones nodes are spread over
// (topology.kubernetes.io/zone = zone-0 … zone-2).
const Zones = 3

// Node allocatable follows scheduler_perf's node-default template; pod
// requests follow its pod-default template.
const (
	nodeCPU    = "4"
	nodeMemory = "32Gi"
	nodePods   = "110"
	podCPU     = "100m"
	podMemory  = "500Mi"
)

// Workload is one cluster shape: what the pods already bound look like and
// what the pods to schedule ask for.
type Workload struct {
	// Name identifies the workload in benchmark names
	// (scheduler_perf's test case name).
	Name string
	// existing is how many pods are already bound on a cluster of nodes.
	existing func(nodes int) int
	// pod builds the j-th pod of the cluster (existing pods first, then
	// pending ones); zone is the zone of its node for an existing pod.
	pod func(c shape, j int, zone int) *st.PodWrapper
	// check verifies the workload's constraint on the final placement.
	check func(c *Cluster, placed map[string]string) error
}

// shape is what a pod builder needs to know about its cluster.
type shape struct {
	nodes, existing int
}

// antiAffinityGroup is how many pods share one anti-affinity label group:
// three fifths of the nodes, so a group always fits (scheduler_perf's
// 5,000-node case has 1,000 existing and 2,000 measured pods in one group)
// and a smaller cluster still takes many pods.
func antiAffinityGroup(nodes int) int { return max(1, nodes*3/5) }

// Workloads returns the four side-by-side workloads.
func Workloads() []Workload {
	return []Workload{{
		// SchedulingBasic: plain pods; a fifth as many as there are nodes
		// already run, one per node.
		Name:     "SchedulingBasic",
		existing: func(nodes int) int { return nodes / 5 },
		pod: func(_ shape, j, _ int) *st.PodWrapper {
			return plainPod(j)
		},
		check: checkResources,
	}, {
		// SchedulingPodAntiAffinity: every pod repels, by hostname, the
		// pods of its label group (color=group-<k>); groups of
		// antiAffinityGroup pods, existing pods first.
		Name:     "SchedulingPodAntiAffinity",
		existing: func(nodes int) int { return nodes / 5 },
		pod: func(c shape, j, _ int) *st.PodWrapper {
			g := fmt.Sprintf("group-%d", j/antiAffinityGroup(c.nodes))
			return plainPod(j).Label("color", g).PodAntiAffinity(v1.LabelHostname, st.Labels("color", g))
		},
		check: checkAntiAffinity,
	}, {
		// SchedulingPodAffinity: one existing pod per node; those in
		// zone-0 are color=blue, the others gray. Pending pods are blue
		// and require a blue pod in their zone, so only zone-0 fits.
		Name:     "SchedulingPodAffinity",
		existing: func(nodes int) int { return nodes },
		pod: func(c shape, j, zone int) *st.PodWrapper {
			if j < c.existing {
				color := "gray"
				if zone == 0 {
					color = "blue"
				}
				return plainPod(j).Label("color", color)
			}
			return plainPod(j).Label("color", "blue").PodAffinity(v1.LabelTopologyZone, st.Labels("color", "blue"))
		},
		check: checkAffinity,
	}, {
		// TopologySpreading: a fifth as many plain pods as nodes already
		// run; pending pods (color=blue) spread over zones with maxSkew 1,
		// DoNotSchedule.
		Name:     "TopologySpreading",
		existing: func(nodes int) int { return nodes / 5 },
		pod: func(c shape, j, _ int) *st.PodWrapper {
			if j < c.existing {
				return plainPod(j)
			}
			return plainPod(j).Label("color", "blue").
				SpreadConstraint(1, v1.LabelTopologyZone, v1.DoNotSchedule, st.Labels("color", "blue"), nil, nil, nil, nil)
		},
		check: checkSpread,
	}}
}

func plainPod(j int) *st.PodWrapper {
	return st.MakePod().Namespace(Namespace).Name(fmt.Sprintf("pod-%07d", j)).Req("cpu", podCPU, "memory", podMemory)
}

// Cluster is a generated cluster: the same objects are given to every
// scheduler under test.
type Cluster struct {
	// Workload generated the cluster.
	Workload Workload
	// Nodes are node-00000 …, zone i%Zones, hostname label = name.
	Nodes []*v1.Node
	// Existing pods are bound (spec.nodeName set), the j-th to node j%len(Nodes).
	Existing []*v1.Pod
	// Pending pods are to be scheduled; their schedulerName is set per
	// scheduler by PendingFor.
	Pending []*v1.Pod
}

// Generate builds w's cluster of nodes nodes and pending pods to schedule.
func Generate(w Workload, nodes, pending int) *Cluster {
	c := &Cluster{Workload: w}
	for i := range nodes {
		c.Nodes = append(c.Nodes, st.MakeNode().Name(fmt.Sprintf("node-%05d", i)).
			Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%Zones)).
			Capacity("cpu", nodeCPU, "memory", nodeMemory, "pods", nodePods).Obj())
	}
	s := shape{nodes: nodes, existing: w.existing(nodes)}
	for j := range s.existing {
		n := j % nodes
		c.Existing = append(c.Existing, w.pod(s, j, n%Zones).Node(c.Nodes[n].Name).Obj())
	}
	for i := range pending {
		c.Pending = append(c.Pending, w.pod(s, s.existing+i, -1).Obj())
	}
	return c
}

// Objects returns copies of the cluster's pods for a fake clientset,
// the pending pods naming schedulerName.
func (c *Cluster) Objects(schedulerName string) []*v1.Pod {
	pods := make([]*v1.Pod, 0, len(c.Existing)+len(c.Pending))
	for _, p := range c.Existing {
		pods = append(pods, p.DeepCopy())
	}
	for _, p := range c.Pending {
		p = p.DeepCopy()
		p.Spec.SchedulerName = schedulerName
		pods = append(pods, p)
	}
	return pods
}
