package network

import (
	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
)

// Direction says which side declared an edge.
type Direction int

const (
	// Outgoing edges were declared by the pod being placed (it talks to
	// them).
	Outgoing Direction = iota
	// Incoming edges were declared by the other pods (they talk to it).
	Incoming
)

// WorkloadEdge is an edge of an AppGroup's graph seen from one workload.
type WorkloadEdge struct {
	// Workload is the other end.
	Workload agv1alpha1.AppGroupWorkloadInfo
	// Direction says who depends on whom.
	Direction Direction
	// MaxNetworkCost is the edge's bound (0: none); it applies to
	// outgoing edges only, the side that declared it, as upstream does.
	MaxNetworkCost int64
}

// AppGroupEdges returns the edges of the workload whose selector pods
// carry in AppGroupSelectorLabel: the workloads it depends on, in the
// AppGroup's order, then those that depend on it. found is false when the
// AppGroup names the workload nowhere, neither as a workload nor as a
// dependency. An edge listed twice is returned once.
func AppGroupEdges(ag *agv1alpha1.AppGroup, selector string) (edges []WorkloadEdge, found bool) {
	type key struct {
		sel string
		dir Direction
	}
	seen := map[key]bool{}
	add := func(e WorkloadEdge) {
		k := key{e.Workload.Selector, e.Direction}
		if !seen[k] {
			seen[k] = true
			edges = append(edges, e)
		}
	}
	for _, w := range ag.Spec.Workloads {
		if w.Workload.Selector == selector {
			found = true
			for _, d := range w.Dependencies {
				add(WorkloadEdge{Workload: d.Workload, Direction: Outgoing, MaxNetworkCost: d.MaxNetworkCost})
			}
		}
	}
	for _, w := range ag.Spec.Workloads {
		for _, d := range w.Dependencies {
			if d.Workload.Selector == selector {
				found = true
				add(WorkloadEdge{Workload: w.Workload, Direction: Incoming})
			}
		}
	}
	return edges, found
}

// TopologyPairs reads the cost set named weights of a NetworkTopology as
// pair costs per topology key (origin → destination), the form
// Model.WithPairs takes. found is false when the object has no set of
// that name.
func TopologyPairs(nt *ntv1alpha1.NetworkTopology, weights string) (pairs map[string]map[Pair]int64, found bool) {
	for _, w := range nt.Spec.Weights {
		if w.Name != weights {
			continue
		}
		found = true
		for _, t := range w.TopologyList {
			for _, o := range t.OriginList {
				for _, c := range o.CostList {
					if pairs == nil {
						pairs = map[string]map[Pair]int64{}
					}
					if pairs[t.TopologyKey] == nil {
						pairs[t.TopologyKey] = map[Pair]int64{}
					}
					pairs[t.TopologyKey][Pair{From: o.Origin, To: c.Destination}] = c.NetworkCost
				}
			}
		}
	}
	return pairs, found
}
