package lint

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/placement/gang"
)

// gangRefPath is where a pod names its group, per API.
func gangRefPath(w *Workload, api gang.API) *field.Path {
	switch api {
	case gang.SchedulerPlugins:
		return w.MetaPath.Child("labels").Key(xv1alpha1.PodGroupLabel)
	case gang.Volcano:
		return w.MetaPath.Child("annotations").Key(volcanov1beta1.GroupNameAnnotation)
	}
	return w.SpecPath.Child("schedulingGroup", "podGroupName")
}

// members counts the pods of the manifests' workloads that join a group;
// ok is false when one of them has no fixed count (a DaemonSet).
func (e *env) members(key string) (n int, ok bool) {
	for _, w := range e.workloads {
		if w.podGroupKey(e) != key {
			continue
		}
		if w.Replicas < 0 {
			return 0, false
		}
		n += int(w.Replicas)
	}
	return n, true
}

func (w *Workload) podGroupKey(e *env) string {
	ref, ok := gang.PodRef(w.Pod)
	if !ok {
		return ""
	}
	return gang.Key(ref.API, e.namespace(w.Object.Ref.Namespace), ref.Name)
}

// checkGangRefs reports a group that exists nowhere (BL041) and, for a
// group that exists only in the cluster, a minimum the manifests' pods can
// never reach (BL040).
func checkGangRefs(w *Workload, e *env, r *reporter) {
	ref, ok := gang.PodRef(w.Pod)
	if !ok {
		return
	}
	key := w.podGroupKey(e)
	p := gangRefPath(w, ref.API)
	if _, inManifests := e.podGroups[key]; inManifests || e.cluster == nil || e.cluster.PodGroups == nil {
		return
	}
	if e.cluster.PodGroupAPIs != nil && !e.cluster.PodGroupAPIs[ref.API] {
		r.add(RuleGangGroupMissing, p, fmt.Sprintf("the pods join %s PodGroup %q, but the cluster does not serve that API (%s)", ref.API, ref.Name, ref.API.Resource()),
			"Install the PodGroup CRD of that API, or name the group through an API the cluster serves.")
		return
	}
	g, found := e.cluster.PodGroups[key]
	if !found {
		r.add(RuleGangGroupMissing, p, fmt.Sprintf("the pods join %s PodGroup %q, which is neither in these manifests nor in namespace %s of the cluster", ref.API, ref.Name, e.namespace(w.Object.Ref.Namespace)), "")
		return
	}
	if n, ok := e.members(key); ok && g.MinMember > n {
		r.add(RuleGangMinMember, p, fmt.Sprintf("PodGroup %q in the cluster needs %d members placed together, but these manifests run only %d of its pods", ref.Name, g.MinMember, n),
			"Lower the group's minMember, or raise replicas.")
	}
}

// checkGangMinMember reports pod groups of the manifests whose minimum the
// manifests' pods can never reach (BL040), on the group's own minimum.
// Groups no workload of the manifests joins are left alone: their pods
// may come from elsewhere.
func checkGangMinMember(e *env) []Finding {
	keys := make([]string, 0, len(e.podGroups))
	for k := range e.podGroups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Finding
	for _, k := range keys {
		g := e.podGroups[k]
		n, ok := e.members(k)
		if !ok || n == 0 || g.group.MinMember <= n {
			continue
		}
		r := &reporter{obj: g.object}
		r.add(RuleGangMinMember, g.minPath, fmt.Sprintf("the group needs %d members placed together, but the workloads that join it run only %d pods; none of them will ever be bound", g.group.MinMember, n),
			fmt.Sprintf("Lower the minimum to at most %d, or raise the workloads' replicas.", n))
		out = append(out, filterDisabled(r.findings, g.object, nil)...)
	}
	return out
}
