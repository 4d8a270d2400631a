// Package plugins runs berth's own plugins inside kube-scheduler: the
// adapters behind kube-scheduler-berth, berth's plugin mode.
//
// # Design
//
// One generic adapter (Plugin) runs an unchanged berth plugin — the same
// pkg/plugins/<name> package berth run uses, built by the same factory
// from the same registry — behind kube-scheduler's plugin interfaces. It
// translates at the boundary and nothing more:
//
//   - CycleState: the pod's berth CycleState lives in kube-scheduler's
//     under one key, cloned through berth's own Clone when kube-scheduler
//     clones the state for preemption;
//   - NodeInfo: berth's NodeInfo is built from kube-scheduler's (node,
//     bound and assumed pods) once per node state, keyed by the node's
//     name and kube-scheduler's generation, and reused until the node
//     changes, together with what berth plugins derive from it (GPUShare's
//     card state);
//   - Status: codes and reasons map one to one; events and queueing hints
//     are translated so kube-scheduler's queue requeues pods as berth's
//     would;
//   - Handle: a berth Handle over kube-scheduler's (the translated
//     snapshot, client, informer factory, event recorder, waiting pods,
//     queue) plus a dynamic informer factory for the custom resources
//     berth plugins read.
//
// The alternative, an adapter per plugin over pkg/placement, was
// rejected: berth's plugins are thin over pkg/placement, but what makes
// them correct is their glue — GPUShare's request parsing, card tracker
// and reservations between Reserve and the annotation, LoadAware's metric
// sources and placement estimates, NetworkAware's CRD readers and talker
// index, NodePreference's rule resolution. Per-plugin adapters would
// copy that glue or export most of it; the generic adapter keeps one copy
// of all of it, so plugin mode cannot drift from berth run, and a new
// berth-only plugin needs one line in BerthOnly.
//
// GPUShare under kube-scheduler: kube-scheduler assumes the pod, then
// calls Reserve, where GPUShare picks the cards and holds them; the next
// cycles' snapshots hold the assumed pod without its annotation, and the
// reservation keeps its cards taken until PreBind's
// berth.io/gpu-assignment annotation comes back with the bound pod. No
// card is oversubscribed however fast kube-scheduler assumes pods.
//
// Berth plugins with extension points the adapter does not translate
// (PreEnqueue, QueueSort, PostFilter, Permit, Bind, PostBind — berth's
// GangScheduling, its preemption) are refused by Factory rather than
// half run; kube-scheduler's own plugins cover the rest.
package plugins
