// Package schedulinggates provides SchedulingGates, a PreEnqueue plugin that
// keeps a pod out of the active queue while its spec.schedulingGates list is
// non-empty. Gates are removed by external controllers; the pod is
// reconsidered when its own update removes the last gate.
package schedulinggates
