// Package tainttoleration provides TaintToleration: Filter keeps a pod off
// nodes with a NoSchedule or NoExecute taint it does not tolerate, and Score
// prefers nodes with fewer PreferNoSchedule taints it does not tolerate.
// Toleration matching is v1.Toleration's own (through component-helpers), so
// berth agrees with the API's notion of "tolerates".
package tainttoleration
