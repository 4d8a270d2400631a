// Package dra tests berth's Dynamic Resource Allocation on devcluster:
// devcluster's fake driver publishes ResourceSlices for GPU nodes,
// kube-controller-manager's resourceclaim controller creates the claims of
// pods' templates, and berth allocates and reserves them.
package dra
