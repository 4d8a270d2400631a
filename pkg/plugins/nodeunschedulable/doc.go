// Package nodeunschedulable provides NodeUnschedulable, which keeps pods off
// cordoned nodes (spec.unschedulable) unless they tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint, as DaemonSet pods do.
package nodeunschedulable
