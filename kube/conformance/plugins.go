package conformance

import (
	berthfw "github.com/berthsched/berth/pkg/framework"
)

// Plugin is one row of the comparison: a plugin both schedulers ship under
// the same name, and which of its extension points are compared.
type Plugin struct {
	Name string
	// Filter compares PreFilter (when implemented) and Filter.
	Filter bool
	// Score compares PreScore (when implemented), Score and NormalizeScore.
	Score bool
}

// Plugins is every default kube-scheduler plugin whose verdicts berth must
// match. Rows whose plugin is missing from berth's registry are skipped.
var Plugins = []Plugin{
	{Name: "NodeName", Filter: true},
	{Name: "NodeUnschedulable", Filter: true},
	{Name: "NodePorts", Filter: true},
	{Name: "NodeAffinity", Filter: true, Score: true},
	{Name: "TaintToleration", Filter: true, Score: true},
	{Name: "NodeResourcesFit", Filter: true, Score: true},
	{Name: "NodeResourcesBalancedAllocation", Score: true},
	{Name: "ImageLocality", Score: true},
	{Name: "InterPodAffinity", Filter: true, Score: true},
	{Name: "PodTopologySpread", Filter: true, Score: true},
	{Name: "VolumeRestrictions", Filter: true},
	{Name: "NodeVolumeLimits", Filter: true},
	{Name: "VolumeBinding", Filter: true, Score: true},
	{Name: "VolumeZone", Filter: true},
	{Name: "DynamicResources", Filter: true, Score: true},
	{Name: "NodeDeclaredFeatures", Filter: true},
}

// ActivePlugins returns the rows of Plugins whose plugin is in reg.
func ActivePlugins(reg berthfw.Registry) []Plugin {
	var out []Plugin
	for _, p := range Plugins {
		if _, ok := reg[p.Name]; ok {
			out = append(out, p)
		}
	}
	return out
}
