// Package conformance checks that berth's plugins reach the same verdicts as
// kube-scheduler v1.37's on the same cluster state.
//
// It runs both sides in-process, plugin by plugin: the oracle is upstream's
// own plugins (k8s.io/kubernetes/pkg/scheduler/framework/plugins) built from
// upstream's defaulted configuration over upstream's snapshot; the other side
// is berth's plugins from plugins.NewInTreeRegistry with berth's defaulted
// args over berth's snapshot. For every (pending pod, node) it compares the
// PreFilter and Filter verdicts (code and reasons as a set), and for every
// score plugin the normalised score of each feasible node.
//
// Clusters and pods come from a seeded generator (Generate) that covers the
// fields these plugins read and keeps every object valid: each generated
// object goes through the API server's defaulting and validation (Admit).
// A disagreement is shrunk to a minimal cluster and printed as YAML.
//
// Adding a plugin to the comparison is one row in Plugins; a row whose plugin
// berth's registry does not (yet) have is skipped.
package conformance
