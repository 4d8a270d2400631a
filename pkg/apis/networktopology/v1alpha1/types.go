package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UserDefinedWeights is the name upstream gives to hand-written costs
// (spec.weights[].name), the default set scheduler-plugins reads; its
// netperf component writes a set named NetperfCosts.
const UserDefinedWeights = "UserDefined"

// NetworkTopology is the cluster's network cost between regions and
// between zones, in one or more named sets (hand-written, measured).
type NetworkTopology struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the object's name, namespace and the rest of its
	// standard metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the costs. Upstream's configmapName (where its netperf
	// component reads measurements) and status are not read by berth.
	Spec NetworkTopologySpec `json:"spec,omitempty"`
}

// NetworkTopologySpec holds the named cost sets.
type NetworkTopologySpec struct {
	// Weights are the cost sets, one per way of computing them.
	Weights []WeightInfo `json:"weights,omitempty"`
}

// WeightInfo is one named set of costs.
type WeightInfo struct {
	// Name names the set (UserDefined, NetperfCosts…); a scheduler reads
	// the one its configuration names.
	Name string `json:"name"`
	// TopologyList holds the set's costs per node label.
	TopologyList []TopologyInfo `json:"topologyList,omitempty"`
}

// TopologyInfo holds the costs between the domains of one node label
// (topology.kubernetes.io/region, topology.kubernetes.io/zone…).
type TopologyInfo struct {
	// TopologyKey is the node label whose values the origins and
	// destinations are.
	TopologyKey string `json:"topologyKey"`
	// OriginList holds the costs from each origin.
	OriginList []OriginInfo `json:"originList,omitempty"`
}

// OriginInfo holds the costs from one domain to others.
type OriginInfo struct {
	// Origin is a value of the topology key (a region or zone name).
	Origin string `json:"origin"`
	// CostList holds the cost to each destination.
	CostList []CostInfo `json:"costList,omitempty"`
}

// CostInfo is the cost from an origin to one destination.
type CostInfo struct {
	// Destination is another value of the topology key.
	Destination string `json:"destination"`
	// NetworkCost is the cost of traffic from the origin to the
	// destination (non-negative in the CRD). Upstream's bandwidth fields
	// and isAllowed are not read by berth.
	NetworkCost int64 `json:"networkCost"`
}

// NetworkTopologyList is what listing networktopologies returns;
// informers and the dynamic client's List need it.
type NetworkTopologyList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion to watch from.
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the objects listed.
	Items []NetworkTopology `json:"items"`
}
