// Package framework is berth's plugin API and nothing else.
//
// A plugin implements one small interface per extension point it takes part in
// (PreEnqueue, QueueSort, PreFilter, Filter, PostFilter, PreScore, Score,
// Reserve, Permit, PreBind, Bind, PostBind). Every interface embeds Plugin, and
// optional abilities (PreFilterExtensions, ScoreExtensions, EnqueueExtensions)
// are separate interfaces so a plugin states exactly what it does.
//
// Plugins talk back with a *Status: nil means success, and the Code says what
// the engine should do with the pod (retry on a cluster event, give up on this
// node for good, wait, or report an internal error). The engine stamps the
// plugin name on every non-success status and aggregates per-node statuses into
// a Diagnosis, which is what a user reads when asking why a pod is pending.
//
// The engine itself lives in pkg/scheduler; plugins import this package only.
package framework
