// Package gangscheduling is berth's GangScheduling plugin: it tells the
// engine which pods form a gang (framework.GroupPlugin), whichever of
// three APIs declared it — Kubernetes' scheduling.k8s.io/v1beta1 PodGroup,
// the scheduler-plugins CRD scheduling.x-k8s.io/v1alpha1 and Volcano's
// scheduling.volcano.sh/v1beta1 — holds members back (PreEnqueue) until
// the group exists and has its minimum of members, and writes each group's
// status and events from the engine's reports. The placement itself, all
// members or none on one snapshot, is the engine's (pkg/scheduler); the
// reading of the APIs is pkg/placement/gang's.
package gangscheduling
