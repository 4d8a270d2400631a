package lint

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wellKnownKeys maps bare words people write as topologyKey to the labels
// nodes actually carry; deprecatedKeys maps deprecated labels to their
// replacements.
var (
	wellKnownKeys = map[string]string{
		"zone": v1.LabelTopologyZone, "region": v1.LabelTopologyRegion,
		"hostname": v1.LabelHostname, "host": v1.LabelHostname, "node": v1.LabelHostname,
		"topology.kubernetes.io/hostname": v1.LabelHostname, "kubernetes.io/zone": v1.LabelTopologyZone,
		"kubernetes.io/region": v1.LabelTopologyRegion,
	}
	deprecatedKeys = map[string]string{
		v1.LabelFailureDomainBetaZone: v1.LabelTopologyZone, v1.LabelFailureDomainBetaRegion: v1.LabelTopologyRegion,
	}
)

// checkTopologyKeys checks every topologyKey of pod (anti-)affinity and
// topology spread: empty, a bare word or deprecated offline (BL021); no
// node carrying it with a cluster (BL020).
func checkTopologyKeys(w *Workload, e *env, r *reporter) {
	visit := func(key string, p *field.Path, strict bool) {
		switch {
		case key == "":
			r.addSev(RuleTopologyKeySuspicious, Error, p, "topologyKey is empty; the API server rejects it", "Set it to a node label such as kubernetes.io/hostname or topology.kubernetes.io/zone.")
			return
		case wellKnownKeys[key] != "":
			r.add(RuleTopologyKeySuspicious, p, fmt.Sprintf("topologyKey %q is not a label Kubernetes puts on nodes; did you mean %q?", key, wellKnownKeys[key]), fmt.Sprintf("Use %s.", wellKnownKeys[key]))
			return
		case deprecatedKeys[key] != "":
			r.add(RuleTopologyKeySuspicious, p, fmt.Sprintf("topologyKey %q is deprecated since Kubernetes 1.17; newer nodes may not carry it", key), fmt.Sprintf("Use %s.", deprecatedKeys[key]))
			return
		}
		if !e.cluster.hasNodes() {
			return
		}
		for _, n := range e.cluster.Nodes {
			if _, ok := n.Labels[key]; ok {
				return
			}
		}
		msg := fmt.Sprintf("no node of %d has the label %q", len(e.cluster.Nodes), key)
		sev := Severity("")
		if strict {
			msg += "; with whenUnsatisfiable: DoNotSchedule no node is a candidate, so the pods stay pending"
			sev = Error
		}
		r.addSev(RuleTopologyKeyMissing, sev, p, msg, "")
	}
	podAffinityTerms(w, func(t *v1.PodAffinityTerm, p *field.Path, _, _ bool) {
		visit(t.TopologyKey, p.Child("topologyKey"), false)
	})
	for i, c := range w.Pod.Spec.TopologySpreadConstraints {
		visit(c.TopologyKey, w.SpecPath.Child("topologySpreadConstraints").Index(i).Child("topologyKey"), c.WhenUnsatisfiable == v1.DoNotSchedule)
	}
}

// checkSpread checks topology spread constraints: what the API server
// rejects (BL024), a missing selector (BL022), a selector that misses the
// pod itself (BL023) and a maxSkew that can never bind (BL025).
func checkSpread(w *Workload, _ *env, r *reporter) {
	cs := w.Pod.Spec.TopologySpreadConstraints
	for i, c := range cs {
		p := w.SpecPath.Child("topologySpreadConstraints").Index(i)
		if c.MaxSkew < 1 {
			r.add(RuleSpreadInvalid, p.Child("maxSkew"), fmt.Sprintf("maxSkew must be at least 1, is %d; the API server rejects it", c.MaxSkew), "Set maxSkew: 1 to spread evenly.")
		}
		switch c.WhenUnsatisfiable {
		case v1.DoNotSchedule, v1.ScheduleAnyway:
		default:
			r.add(RuleSpreadInvalid, p.Child("whenUnsatisfiable"), fmt.Sprintf("whenUnsatisfiable %q is not DoNotSchedule or ScheduleAnyway; the API server rejects it%s",
				c.WhenUnsatisfiable, suggest(string(c.WhenUnsatisfiable), []string{string(v1.DoNotSchedule), string(v1.ScheduleAnyway)})), "")
		}
		if c.MinDomains != nil {
			if *c.MinDomains < 1 {
				r.add(RuleSpreadInvalid, p.Child("minDomains"), fmt.Sprintf("minDomains must be at least 1, is %d; the API server rejects it", *c.MinDomains), "")
			} else if c.WhenUnsatisfiable != v1.DoNotSchedule {
				r.add(RuleSpreadInvalid, p.Child("minDomains"), "minDomains is only allowed with whenUnsatisfiable: DoNotSchedule; the API server rejects it", "Use DoNotSchedule, or remove minDomains.")
			}
		}
		for name, pol := range map[string]*v1.NodeInclusionPolicy{"nodeAffinityPolicy": c.NodeAffinityPolicy, "nodeTaintsPolicy": c.NodeTaintsPolicy} {
			if pol != nil && *pol != v1.NodeInclusionPolicyHonor && *pol != v1.NodeInclusionPolicyIgnore {
				r.add(RuleSpreadInvalid, p.Child(name), fmt.Sprintf("%s %q is not Honor or Ignore; the API server rejects it", name, *pol), "")
			}
		}
		if slices.ContainsFunc(cs[:i], func(o v1.TopologySpreadConstraint) bool {
			return o.TopologyKey == c.TopologyKey && o.WhenUnsatisfiable == c.WhenUnsatisfiable
		}) {
			r.add(RuleSpreadInvalid, p, fmt.Sprintf("another constraint already has topologyKey %q with whenUnsatisfiable %s; the API server rejects duplicates", c.TopologyKey, c.WhenUnsatisfiable), "Merge the two constraints.")
		}
		if c.LabelSelector == nil {
			r.add(RuleSpreadNoSelector, p, "this topology spread constraint has no labelSelector: it counts no pods and silently does nothing", "Add labelSelector with the pod's own labels, e.g. matchLabels: {app: NAME}.")
		} else if sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector); err == nil && !sel.Matches(labels.Set(w.Pod.Labels)) {
			r.add(RuleSpreadSelectorMismatch, p.Child("labelSelector"), fmt.Sprintf("labelSelector %q does not match the pod's own labels %v, so these pods are not spread relative to each other", sel, labels.Set(w.Pod.Labels)),
				"Select the labels of the pod template (spec.template.metadata.labels).")
		}
		if w.Replicas > 1 && c.MaxSkew >= w.Replicas {
			r.add(RuleSpreadSkewIneffective, p.Child("maxSkew"), fmt.Sprintf("maxSkew %d is not below the %d replicas, so this constraint can never be violated", c.MaxSkew, w.Replicas), "Use maxSkew: 1 to spread evenly.")
		}
	}
}
