// Package v1alpha1 holds berth's Go types for the NetworkTopology of the
// Diktyo project (API group networktopology.diktyo.x-k8s.io, version
// v1alpha1), the CRD in which scheduler-plugins' NetworkOverhead plugin
// finds the network cost between regions and between zones, written by
// hand or measured (its netperf component).
//
// berth's NetworkAware plugin can take those costs as overrides of its
// own per-level costs, so that a cluster that keeps a NetworkTopology
// does not have to copy it into berth's configuration. The types hold only
// the fields berth reads, with the JSON names of the upstream API
// (github.com/diktyo-io/networktopology-api). Deep copies are written by
// hand; the CRD itself is
// deploy/crds/networktopology.diktyo.x-k8s.io_networktopologies.yaml.
//
// Registering the types is explicit (AddToScheme); nothing registers
// itself at init time.
package v1alpha1
