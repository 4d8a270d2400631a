// Package v1alpha1 holds berth's Go types for the PodGroup of
// kubernetes-sigs/scheduler-plugins (API group scheduling.x-k8s.io,
// version v1alpha1), the gang that its Coscheduling plugin schedules all
// or nothing: a pod joins a group through the PodGroupLabel label, and
// the group's spec.minMember members must all fit before any is bound.
//
// berth reads these objects to offer gang scheduling (issue 15) to
// clusters that already describe their jobs this way, and may write
// their status. The types are berth's own, written to match the CRD that
// scheduler-plugins ships (manifests/coscheduling/crd.yaml), so that the
// main module depends neither on scheduler-plugins nor on
// k8s.io/kubernetes. They carry hand-written deep copies instead of
// generated ones; the CRD itself is deploy/crds/scheduling.x-k8s.io_podgroups.yaml.
//
// Registering the types is explicit (AddToScheme); nothing registers
// itself at init time.
package v1alpha1
