// Package explain answers "why is my pod pending, and what would make it
// fit?" for one pod against one cluster state.
//
// It owns no scheduling logic: an Explainer runs the scheduling core
// (scheduler.Evaluator, every node evaluated) for the pod, groups the
// nodes by the plugin and reason that rejected them, keeps the best
// feasible nodes' scores by plugin, and for a pod that fits nowhere looks
// for the smallest change that would make it fit. Every such change is
// tried first: the pod (or a cloned node without some lower-priority pods)
// is run through the same PreFilter and Filter plugins on the same
// snapshot (core.FilterNode), and only changes that pass are reported as
// verified; what cannot be checked that way is reported as a hint.
//
// The result is an Explanation, a versioned, documented schema
// (explain.berth.io/v1alpha1, docs/explain.md) rendered as a table for
// people or as JSON/YAML for tools. FromCluster fills an evaluator from a
// live API server through an informer factory; tests fill one from memory.
// The `berth explain` command (cmd/berth/app) is a thin shell over this
// package.
package explain
