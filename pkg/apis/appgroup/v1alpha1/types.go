package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod labels that put a pod into an AppGroup. They are upstream's
// (appgroup-api's AppGroupLabel and AppGroupSelectorLabel), not berth's
// own, so that pods labelled for scheduler-plugins' network-aware plugins
// are understood by berth unchanged.
const (
	// AppGroupLabel is the pod label whose value names the pod's
	// AppGroup.
	AppGroupLabel = GroupName
	// AppGroupSelectorLabel is the pod label whose value is the pod's
	// workload within its AppGroup: it equals the selector of one of the
	// AppGroup's workloads (AppGroupWorkloadInfo.Selector).
	AppGroupSelectorLabel = AppGroupLabel + ".workload"
)

// AppGroup is one application as a set of workloads and the dependencies
// between them (which workload sends requests to which), the input a
// network-aware scheduler needs to place talking pods near each other.
type AppGroup struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the AppGroup's name (the value of AppGroupLabel on
	// its pods), namespace and the rest of its standard metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the application's description. Upstream's status (a
	// topological order computed by its controller) is not read by berth
	// and not modelled here.
	Spec AppGroupSpec `json:"spec,omitempty"`
}

// AppGroupSpec lists the application's workloads. Upstream's numMembers
// and topologySortingAlgorithm are required by the CRD but play no part
// in berth's placement, so they are not modelled.
type AppGroupSpec struct {
	// Workloads are the application's workloads with their dependencies.
	Workloads []AppGroupWorkload `json:"workloads,omitempty"`
}

// AppGroupWorkload is one workload and the workloads it depends on.
type AppGroupWorkload struct {
	// Workload identifies the workload; its Selector is what its pods
	// carry in AppGroupSelectorLabel.
	Workload AppGroupWorkloadInfo `json:"workload"`
	// Dependencies are the workloads this one sends requests to.
	Dependencies []DependenciesInfo `json:"dependencies,omitempty"`
}

// AppGroupWorkloadInfo identifies a workload within an AppGroup.
type AppGroupWorkloadInfo struct {
	// Kind is the workload's kind (Deployment, StatefulSet…), shown in
	// explanations only.
	Kind string `json:"kind,omitempty"`
	// Name is the workload object's name, shown in explanations only.
	Name string `json:"name,omitempty"`
	// Selector is the value of AppGroupSelectorLabel on the workload's
	// pods: the key by which dependencies name workloads.
	Selector string `json:"selector"`
	// Namespace is where the workload's pods run; empty means the
	// namespace of the pod being placed.
	Namespace string `json:"namespace,omitempty"`
}

// DependenciesInfo is one edge of the application's graph: the workload
// depended on and what the edge may cost.
type DependenciesInfo struct {
	// Workload is the workload depended on.
	Workload AppGroupWorkloadInfo `json:"workload"`
	// MaxNetworkCost bounds the network cost of the edge (0 to 10000 in
	// the CRD); 0, the default, sets no bound in berth. berth applies it
	// to the expected cost of placing a pod of the depending workload
	// (docs/network-aware.md). Upstream's minBandwidth is not read.
	MaxNetworkCost int64 `json:"maxNetworkCost,omitempty"`
}

// AppGroupList is what listing appgroups returns; informers and the
// dynamic client's List need it.
type AppGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta carries the resourceVersion to watch from.
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the AppGroups listed.
	Items []AppGroup `json:"items"`
}
