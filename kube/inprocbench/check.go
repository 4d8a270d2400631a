package inprocbench

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Check verifies a scheduler's placement of the cluster's pending pods
// (pod name → node name): every pending pod is bound to a node of the
// cluster, and the workload's constraint holds over existing and bound
// pods together.
func (c *Cluster) Check(placed map[string]string) error {
	nodes := make(map[string]bool, len(c.Nodes))
	for _, n := range c.Nodes {
		nodes[n.Name] = true
	}
	for _, p := range c.Pending {
		n, ok := placed[p.Name]
		if !ok {
			return fmt.Errorf("pod %s was not bound", p.Name)
		}
		if !nodes[n] {
			return fmt.Errorf("pod %s was bound to unknown node %q", p.Name, n)
		}
	}
	if len(placed) != len(c.Pending) {
		return fmt.Errorf("%d binds for %d pending pods", len(placed), len(c.Pending))
	}
	return c.Workload.check(c, placed)
}

// placement is every pod of the cluster with the node it runs on.
func (c *Cluster) placement(placed map[string]string) map[*v1.Pod]string {
	all := make(map[*v1.Pod]string, len(c.Existing)+len(c.Pending))
	for _, p := range c.Existing {
		all[p] = p.Spec.NodeName
	}
	for _, p := range c.Pending {
		all[p] = placed[p.Name]
	}
	return all
}

// checkResources verifies no node holds more pods, CPU or memory than it
// has.
func checkResources(c *Cluster, placed map[string]string) error {
	type use struct {
		pods     int64
		cpu, mem resource.Quantity
	}
	used := map[string]*use{}
	for p, n := range c.placement(placed) {
		u := used[n]
		if u == nil {
			u = &use{}
			used[n] = u
		}
		u.pods++
		for _, ctr := range p.Spec.Containers {
			u.cpu.Add(ctr.Resources.Requests[v1.ResourceCPU])
			u.mem.Add(ctr.Resources.Requests[v1.ResourceMemory])
		}
	}
	for _, n := range c.Nodes {
		u := used[n.Name]
		if u == nil {
			continue
		}
		a := n.Status.Allocatable
		if u.pods > a.Pods().Value() || u.cpu.Cmp(*a.Cpu()) > 0 || u.mem.Cmp(*a.Memory()) > 0 {
			return fmt.Errorf("node %s overcommitted: %d pods, cpu %s, memory %s", n.Name, u.pods, u.cpu.String(), u.mem.String())
		}
	}
	return nil
}

// checkAntiAffinity verifies no two pods of one color group share a node.
func checkAntiAffinity(c *Cluster, placed map[string]string) error {
	seen := map[[2]string]string{}
	for p, n := range c.placement(placed) {
		k := [2]string{p.Labels["color"], n}
		if other, ok := seen[k]; ok {
			return fmt.Errorf("pods %s and %s of %s share node %s", other, p.Name, k[0], n)
		}
		seen[k] = p.Name
	}
	return checkResources(c, placed)
}

// checkAffinity verifies every pending pod landed in zone-0, the only zone
// with blue pods.
func checkAffinity(c *Cluster, placed map[string]string) error {
	zone := c.zones()
	for _, p := range c.Pending {
		if z := zone[placed[p.Name]]; z != "zone-0" {
			return fmt.Errorf("pod %s bound to %s in %s, away from every blue pod", p.Name, placed[p.Name], z)
		}
	}
	return checkResources(c, placed)
}

// checkSpread verifies the blue pods' counts per zone differ by at most
// one (maxSkew 1, every zone eligible, so each placement kept it).
func checkSpread(c *Cluster, placed map[string]string) error {
	zone := c.zones()
	count := map[string]int{}
	for i := range Zones {
		count[fmt.Sprintf("zone-%d", i)] = 0
	}
	for _, p := range c.Pending {
		count[zone[placed[p.Name]]]++
	}
	lo, hi := len(c.Pending), 0
	for _, n := range count {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		return fmt.Errorf("blue pods per zone %v: skew %d > 1", count, hi-lo)
	}
	return checkResources(c, placed)
}

func (c *Cluster) zones() map[string]string {
	z := make(map[string]string, len(c.Nodes))
	for _, n := range c.Nodes {
		z[n.Name] = n.Labels[v1.LabelTopologyZone]
	}
	return z
}
