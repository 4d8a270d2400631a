// Package gang is berth's framework-free model of gangs (pod groups): which
// group a pod names, and what a group asks for, read from any of the three
// APIs that declare them — Kubernetes' own scheduling.k8s.io/v1beta1
// PodGroup (pods join through spec.schedulingGroup), the scheduler-plugins
// CRD scheduling.x-k8s.io/v1alpha1 (pod label scheduling.x-k8s.io/pod-group)
// and Volcano's scheduling.volcano.sh/v1beta1 (pod annotation
// scheduling.k8s.io/group-name) — and how a group's status follows from
// its members. It imports neither the framework nor the engine, so the
// scheduler's plugin, the tools and plugin mode share one reading of the
// APIs.
package gang
