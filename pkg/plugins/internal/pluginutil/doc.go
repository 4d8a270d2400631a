// Package pluginutil holds the few helpers that several of berth's in-tree
// plugins share: turning the objects a queueing hint receives into typed
// values, mapping raw scores onto [MinNodeScore, MaxNodeScore], and asking
// discovery whether another project's CRD is served before reading it. It is
// internal to pkg/plugins so the plugin API in pkg/framework stays small.
package pluginutil
