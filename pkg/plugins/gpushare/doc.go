// Package gpushare is berth's GPU placement plugin, GPUShare, which
// kube-scheduler has no counterpart for: it places pods on GPU cards, not
// only on nodes.
//
// A pod asks for whole cards with the node's GPU resource
// (nvidia.com/gpu: 2) or for a share of one card with the annotation
// berth.io/gpu-milli ("460" is 46% of a card), optionally with card memory
// (berth.io/gpu-memory) and allowed models (berth.io/gpu-model). A node's
// cards are its allocatable count of the resource, their model and memory
// its GPU feature discovery labels.
//
// Filter checks the request against each card, not the node's total, and
// says which cards fall short. Score ranks nodes with a policy from
// pkg/placement/gpu: FGD by default, which places a pod where the
// fragmentation of the cluster's GPUs, measured against the workload
// learned online, grows least. Reserve picks the cards with the same
// policy and holds them; PreBind writes them to the pod as the
// berth.io/gpu-assignment annotation, which a device plugin reads to
// expose exactly those cards. There is no node lock: cards are held in
// the scheduler's memory between Reserve and the annotation reaching the
// cache, and binds of different pods proceed in parallel.
//
// Card state is derived from the pods the scheduler's cache holds on each
// node (their annotations, or berth's reservations for pods it assumed),
// built once per change of the node and kept on its NodeInfo. It is never
// a second copy that could drift, and a restarted berth rebuilds it from
// the pods' annotations.
package gpushare
