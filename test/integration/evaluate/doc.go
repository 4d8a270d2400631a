// Package evaluate checks, on a real control plane, that the scheduling
// core run outside the loop (what `berth explain` and /debug/explain use)
// agrees with the running scheduler: for every pod berth binds, the
// evaluation of the same cluster state counts the chosen node feasible, and
// for every pod berth leaves pending, the evaluation gives the same
// FailedScheduling reasons.
package evaluate
