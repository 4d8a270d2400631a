// Package v1alpha1 holds berth's Go types for the AppGroup of the Diktyo
// project (API group appgroup.diktyo.x-k8s.io, version v1alpha1), the
// CRD that scheduler-plugins' network-aware plugins (NetworkOverhead,
// TopologicalSort) read: an application's workloads and which of them
// talk to which. A pod joins an AppGroup through two labels, AppGroupLabel
// (the AppGroup's name) and AppGroupSelectorLabel (the workload's
// selector within it).
//
// berth's NetworkAware plugin reads these objects so that teams that
// already describe their applications this way get network-aware
// placement without writing anything new. The types hold only the fields
// berth reads, with the JSON names of the upstream API
// (github.com/diktyo-io/appgroup-api), so that the main module depends on
// neither that module nor scheduler-plugins. Deep copies are written by
// hand; the CRD itself is deploy/crds/appgroup.diktyo.x-k8s.io_appgroups.yaml.
//
// Registering the types is explicit (AddToScheme); nothing registers
// itself at init time.
package v1alpha1
