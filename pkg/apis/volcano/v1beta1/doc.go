// Package v1beta1 holds berth's Go types for Volcano's PodGroup (API group
// scheduling.volcano.sh, version v1beta1): the gang that Volcano's
// scheduler places all or nothing, in a Volcano queue. A pod joins a
// group through the GroupNameAnnotation annotation, and the group's
// spec.minMember members must all fit before any is bound.
//
// berth reads these objects to offer gang scheduling (issue 15) to
// clusters whose jobs (Volcano Jobs, Kubeflow and Spark operators set up
// for Volcano) already come with them. The types are berth's own, written
// to match Volcano's API (volcano-sh/apis) and the CRD Volcano installs,
// so that the main module does not depend on Volcano. They hold only the
// fields berth reads: Volcano's networkTopology and subGroupPolicy are
// left out, so an object decoded into these types and written back whole
// would lose them; write with a patch instead. Deep copies are
// hand-written; the CRD is deploy/crds/scheduling.volcano.sh_podgroups.yaml.
//
// Unlike scheduler-plugins' PodGroup, Volcano's CRD has no status
// subresource: status is written with the rest of the object.
//
// Registering the types is explicit (AddToScheme); nothing registers
// itself at init time.
package v1beta1
