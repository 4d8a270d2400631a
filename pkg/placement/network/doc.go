// Package network is berth's network-aware placement logic over plain
// data: "put this pod near the pods it talks to".
//
// The cost model (Model) is a list of topology levels, narrowest first,
// each a node label and the cost of crossing its boundary: by default
// node (kubernetes.io/hostname, 1), rack (topology.berth.io/rack, 2), zone
// (topology.kubernetes.io/zone, 10) and region
// (topology.kubernetes.io/region, 100). Two nodes cost the Cost of the
// broadest level at which their labels differ (0 on the same node); pairs
// of named domains may override a level's cost (NetworkTopology's zone
// and region costs). A label both nodes lack tells nothing and is passed
// over, a label only one of them has counts as a difference.
//
// Dependencies come from the pod annotation berth.io/talks-to
// (ParseTalksTo) or from a Diktyo AppGroup (AppGroupEdges), in both
// directions: a pod is placed near the pods it talks to and near the pods
// that say they talk to it. A dependency's placed pods are aggregated
// once per scheduling cycle into counts per domain per level (Placed), so
// the expected cost of a node — Σ weight × mean cost to the dependency's
// placed pods — takes O(levels) map look-ups per dependency, whatever
// the number of pods.
//
// It imports neither berth's framework nor its scheduler, so the berth
// plugin (pkg/plugins/networkaware), the tools and plugin mode share one
// implementation. docs/network-aware.md is the user's guide.
package network
