// Package gpu is berth's framework-free GPU placement logic: a per-node,
// per-card model of GPU capacity, the request shapes pods ask for (whole
// cards, shares of one card in milli-GPU, card memory, allowed models),
// the choice of cards on a node, and the node-ranking policies berth
// offers:
//
//   - FGD, fragmentation gradient descent (Weng et al., "Beware of
//     Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation
//     Gradient Descent", USENIX ATC '23): a node's fragmentation is the
//     GPU capacity that the pods the cluster typically runs could not use
//     there, weighted by how often each kind of pod arrives; a pod goes
//     to the node, and a share to the card, whose fragmentation grows
//     least;
//   - BestFit, GPUPacking, GPUClustering, DotProduct and Random, the
//     baselines the paper compares against, so that operators and the
//     simulator can compare policies like for like.
//
// The typical workload FGD needs is learned online (Workload): a sliding
// window of the request shapes seen, of which the most frequent shapes
// covering a configurable share of the window form the distribution.
//
// The package imports neither the scheduling framework nor the engine:
// berth's GPUShare plugin, the simulator, the extender and the
// kube-scheduler plugin build on it with thin adapters. Everything here is
// plain data and pure functions except Workload and FragCache, which are
// safe for concurrent use.
package gpu
