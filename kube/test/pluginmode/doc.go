// Package pluginmode tests kube-scheduler-berth (berth's plugins inside
// kube-scheduler, kube/cmd/kube-scheduler-berth) against a real
// devcluster control plane: GPU pods get correct per-card assignments
// with no card oversubscribed, node preferences and measured load steer
// placements, and misspelt args are refused at their field path.
//
// bin/kube-scheduler-berth must be built first (make build).
package pluginmode
