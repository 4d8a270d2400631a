package lint

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/version"
)

// checkSchedulerAndPriority reports, against a cluster, a schedulerName
// nothing serves (BL080) and a priorityClassName that does not exist
// (BL081).
func checkSchedulerAndPriority(w *Workload, e *env, r *reporter) {
	if e.cluster == nil {
		return
	}
	spec := &w.Pod.Spec
	if names := e.cluster.SchedulerNames; names != nil {
		name := spec.SchedulerName
		if name == "" {
			name = v1.DefaultSchedulerName
		}
		if !names[name] && name != v1.DefaultSchedulerName {
			r.add(RuleSchedulerNameUnknown, w.SpecPath.Child("schedulerName"), fmt.Sprintf("schedulerName %q is not a profile of berth's configuration (%s) nor %s; unless another scheduler serves it, the pods stay pending without an event", name, strings.Join(sortedKeys(names), ", "), v1.DefaultSchedulerName), "")
		}
	}
	pc := spec.PriorityClassName
	if pc == "" || strings.HasPrefix(pc, "system-") || e.cluster.PriorityClasses == nil {
		return
	}
	if _, ok := e.priorityClasses[pc]; ok {
		return
	}
	if _, ok := e.cluster.PriorityClasses[pc]; !ok {
		r.add(RulePriorityClassMissing, w.SpecPath.Child("priorityClassName"), fmt.Sprintf("PriorityClass %q exists neither in these manifests nor in the cluster; the API server refuses to create the pods", pc), "")
	}
}

// spreadFieldVersions are the releases whose API servers keep each
// topology spread field by default (the feature gate turned on).
var spreadFieldVersions = struct{ minDomains, nodeInclusion, matchLabelKeys *version.Version }{
	minDomains:     version.MajorMinor(1, 27),
	nodeInclusion:  version.MajorMinor(1, 26),
	matchLabelKeys: version.MajorMinor(1, 27),
}

// checkServerVersion reports spread fields the cluster's version drops
// (BL090).
func checkServerVersion(w *Workload, e *env, r *reporter) {
	if e.cluster == nil || e.cluster.ServerVersion == nil {
		return
	}
	sv := e.cluster.ServerVersion
	for i, c := range w.Pod.Spec.TopologySpreadConstraints {
		p := w.SpecPath.Child("topologySpreadConstraints").Index(i)
		check := func(used bool, name string, since *version.Version) {
			if used && sv.LessThan(since) {
				r.add(RuleFieldUnsupported, p.Child(name), fmt.Sprintf("%s needs Kubernetes %s or later (by default); the cluster runs %s and drops the field silently", name, since, sv), "")
			}
		}
		check(c.MinDomains != nil, "minDomains", spreadFieldVersions.minDomains)
		check(c.NodeAffinityPolicy != nil, "nodeAffinityPolicy", spreadFieldVersions.nodeInclusion)
		check(c.NodeTaintsPolicy != nil, "nodeTaintsPolicy", spreadFieldVersions.nodeInclusion)
		check(len(c.MatchLabelKeys) > 0, "matchLabelKeys", spreadFieldVersions.matchLabelKeys)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
