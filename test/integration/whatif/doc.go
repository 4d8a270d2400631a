// Package whatif tests `berth snapshot save` and `berth simulate whatif`
// against a real API server and a real `berth run`: the what-if's
// placements of the pending pods must be the ones berth then makes, its
// capacity answer must hold when that many pods are created, and each
// kind of change (config, nodes removed, workloads added) must give the
// answer the cluster's arithmetic implies.
package whatif
