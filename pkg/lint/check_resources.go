package lint

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// checkResources reports requests above limits (BL030) and, against a
// cluster, requests no node can allocate (BL031).
func checkResources(w *Workload, e *env, r *reporter) {
	each := func(cs []v1.Container, name string) {
		for i, c := range cs {
			for res, req := range c.Resources.Requests {
				if lim, ok := c.Resources.Limits[res]; ok && req.Cmp(lim) > 0 {
					r.add(RuleRequestsExceedLimits, w.SpecPath.Child(name).Index(i).Child("resources", "requests").Key(string(res)),
						fmt.Sprintf("container %q requests %s %s but its limit is %s; the API server rejects it", c.Name, req.String(), res, lim.String()),
						"Raise the limit to at least the request, or lower the request.")
				}
			}
		}
	}
	each(w.Pod.Spec.InitContainers, "initContainers")
	each(w.Pod.Spec.Containers, "containers")
	if !e.cluster.hasNodes() {
		return
	}
	reqs := resourcehelper.PodRequests(Defaulted(w.Pod), resourcehelper.PodResourcesOptions{})
	names := make([]string, 0, len(reqs))
	for res := range reqs {
		names = append(names, string(res))
	}
	sort.Strings(names)
	for _, name := range names {
		res := v1.ResourceName(name)
		req := reqs[res]
		if req.Sign() <= 0 || res == v1.ResourcePods || res == e.cluster.gpuResource() {
			continue
		}
		var best *v1.Node
		var bestQ resource.Quantity
		for _, n := range e.cluster.Nodes {
			if q, ok := n.Status.Allocatable[res]; ok && (best == nil || q.Cmp(bestQ) > 0) {
				best, bestQ = n, q
			}
		}
		path := w.SpecPath.Child("containers")
		switch {
		case best == nil:
			r.add(RuleRequestExceedsNodes, path, fmt.Sprintf("the pod requests %s %s but no node of %d has that resource", req.String(), res, len(e.cluster.Nodes)),
				"Check the resource name, or install the device plugin or driver that advertises it.")
		case req.Cmp(bestQ) > 0:
			r.add(RuleRequestExceedsNodes, path, fmt.Sprintf("the pod requests %s %s in total but the largest node (%s) can allocate only %s", req.String(), res, best.Name, bestQ.String()),
				"Lower the requests (all containers, plus the largest init container and any overhead), or add a larger node.")
		}
	}
}

// Defaulted returns a copy of the pod with the defaulting the API server
// applies to resources: a container that sets a limit but no request
// requests its limit. Rules, and the what-if's pods made from manifests,
// must count what the scheduler will see, not what the manifest says.
func Defaulted(pod *v1.Pod) *v1.Pod {
	p := pod.DeepCopy()
	fill := func(cs []v1.Container) {
		for i := range cs {
			c := &cs[i]
			for res, lim := range c.Resources.Limits {
				if _, ok := c.Resources.Requests[res]; !ok {
					if c.Resources.Requests == nil {
						c.Resources.Requests = v1.ResourceList{}
					}
					c.Resources.Requests[res] = lim.DeepCopy()
				}
			}
		}
	}
	fill(p.Spec.InitContainers)
	fill(p.Spec.Containers)
	return p
}

// affinityPath is where a node placement finding points: the nodeSelector
// when that alone matches nothing, else the required node affinity.
func affinityPath(w *Workload, nodes []*v1.Node) *field.Path {
	if len(w.Pod.Spec.NodeSelector) > 0 {
		sel := labels.SelectorFromSet(w.Pod.Spec.NodeSelector)
		matched := false
		for _, n := range nodes {
			if sel.Matches(labels.Set(n.Labels)) {
				matched = true
				break
			}
		}
		if !matched {
			return w.SpecPath.Child("nodeSelector")
		}
	}
	return w.SpecPath.Child("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
}

// candidateNodes are the nodes the pod's nodeSelector and required node
// affinity accept; ok is false when the affinity cannot be evaluated (its
// own rules report why).
func candidateNodes(pod *v1.Pod, nodes []*v1.Node) (out []*v1.Node, ok bool) {
	req := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range nodes {
		m, err := req.Match(n)
		if err != nil {
			return nil, false
		}
		if m {
			out = append(out, n)
		}
	}
	return out, true
}

// checkPlacement reports a nodeSelector and required node affinity that no
// current node satisfies (BL032).
func checkPlacement(w *Workload, e *env, r *reporter) {
	if !e.cluster.hasNodes() || (len(w.Pod.Spec.NodeSelector) == 0 && requiredNodeAffinity(w.Pod) == nil) {
		return
	}
	for _, f := range r.findings {
		switch f.Rule {
		case RuleNodeSelectorOperator, RuleNodeSelectorValues, RuleNodeSelectorGtLt, RuleNodeSelectorTermEmpty:
			return // the affinity's own findings say why nothing matches
		}
	}
	nodes, ok := candidateNodes(w.Pod, e.cluster.Nodes)
	if !ok || len(nodes) > 0 {
		return
	}
	r.add(RuleNodeAffinityNoNode, affinityPath(w, e.cluster.Nodes), fmt.Sprintf("no node of %d matches the pod's nodeSelector and required node affinity", len(e.cluster.Nodes)), "")
}

func requiredNodeAffinity(pod *v1.Pod) *v1.NodeSelector {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// selectsOwnPods reports whether a pod affinity term selects the pod
// itself: its label selector matches the pod's labels, and its namespaces
// include the pod's.
func selectsOwnPods(t *v1.PodAffinityTerm, pod *v1.Pod, ns string) bool {
	if t.LabelSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		return false
	}
	switch {
	case len(t.Namespaces) > 0:
		for _, n := range t.Namespaces {
			if n == ns {
				return true
			}
		}
		return t.NamespaceSelector != nil && len(t.NamespaceSelector.MatchLabels) == 0 && len(t.NamespaceSelector.MatchExpressions) == 0
	case t.NamespaceSelector != nil:
		return len(t.NamespaceSelector.MatchLabels) == 0 && len(t.NamespaceSelector.MatchExpressions) == 0
	}
	return true
}

// checkAntiAffinityReplicas reports required anti-affinity against the
// workload's own pods that needs more topology domains than there are
// (BL033): offline as info with the number of domains needed, with a
// cluster as an error when it has fewer.
func checkAntiAffinityReplicas(w *Workload, e *env, r *reporter) {
	if w.Replicas < 2 {
		return
	}
	ns := e.namespace(w.Object.Ref.Namespace)
	podAffinityTerms(w, func(t *v1.PodAffinityTerm, p *field.Path, required, anti bool) {
		if !required || !anti || t.TopologyKey == "" || !selectsOwnPods(t, w.Pod, ns) {
			return
		}
		what := "domains (distinct values of " + t.TopologyKey + ")"
		if t.TopologyKey == v1.LabelHostname {
			what = "nodes"
		}
		need := fmt.Sprintf("%d %s", w.Replicas, what)
		if w.Object.Ref.Kind == "Deployment" {
			need += ", plus maxSurge more during a rolling update"
		}
		if !e.cluster.hasNodes() {
			r.addSev(RuleAntiAffinityReplicas, Info, p, fmt.Sprintf("required anti-affinity against its own pods on %s: the %d replicas need at least %s", t.TopologyKey, w.Replicas, need),
				"Make sure the cluster has that many, or use preferredDuringScheduling anti-affinity or a topology spread constraint.")
			return
		}
		domains := eligibleDomains(w.Pod, e.cluster.Nodes, t.TopologyKey)
		if int32(len(domains)) >= w.Replicas {
			return
		}
		r.add(RuleAntiAffinityReplicas, p, fmt.Sprintf("required anti-affinity against its own pods on %s: the %d replicas need %s, but the pod's eligible nodes span only %d (%s); %d replicas would stay pending",
			t.TopologyKey, w.Replicas, need, len(domains), strings.Join(firstN(domains, 5), ", "), w.Replicas-int32(len(domains))),
			"Lower replicas, add capacity in more domains, or use preferredDuringScheduling anti-affinity or a topology spread constraint.")
	})
}

// eligibleDomains returns the distinct values of key over the nodes the
// pod may run on: accepted by its node affinity, with every NoSchedule and
// NoExecute taint tolerated.
func eligibleDomains(pod *v1.Pod, nodes []*v1.Node, key string) []string {
	cands, ok := candidateNodes(pod, nodes)
	if !ok {
		cands = nodes
	}
	logger := klog.Background()
	seen := map[string]bool{}
	for _, n := range cands {
		v, has := n.Labels[key]
		if !has || seen[v] || !toleratesHardTaints(logger, pod.Spec.Tolerations, n.Spec.Taints) {
			continue
		}
		seen[v] = true
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func toleratesHardTaints(logger klog.Logger, tols []v1.Toleration, taints []v1.Taint) bool {
	for i := range taints {
		t := &taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for j := range tols {
			if tols[j].ToleratesTaint(logger, t, true) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), "…")
}
