package lint

import (
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

var (
	taintEffects     = []string{string(v1.TaintEffectNoSchedule), string(v1.TaintEffectPreferNoSchedule), string(v1.TaintEffectNoExecute)}
	tolerationOps    = []string{string(v1.TolerationOpEqual), string(v1.TolerationOpExists)}
	transientTaintNS = []string{"node.kubernetes.io/", "node.cloudprovider.kubernetes.io/"}
)

// checkTolerations validates tolerations as the API server does (BL010,
// BL011) and, against a cluster, reports tolerations no node's taint
// needs (BL012).
func checkTolerations(w *Workload, e *env, r *reporter) {
	for i := range w.Pod.Spec.Tolerations {
		t := &w.Pod.Spec.Tolerations[i]
		p := w.SpecPath.Child("tolerations").Index(i)
		valid := true
		switch t.Effect {
		case "", v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
		default:
			valid = false
			r.add(RuleTolerationEffect, p.Child("effect"), fmt.Sprintf("unknown taint effect %q; the API server rejects it%s", t.Effect, suggest(string(t.Effect), taintEffects)),
				"Use NoSchedule, PreferNoSchedule or NoExecute (case-sensitive), or leave effect empty to tolerate every effect.")
		}
		if t.TolerationSeconds != nil && t.Effect != v1.TaintEffectNoExecute {
			valid = false
			r.add(RuleTolerationEffect, p.Child("tolerationSeconds"), "tolerationSeconds is set but effect is not NoExecute; the API server rejects it",
				"Set effect: NoExecute (tolerationSeconds bounds how long a pod stays on a node that gets a NoExecute taint), or remove tolerationSeconds.")
		}
		switch t.Operator {
		case "", v1.TolerationOpEqual:
			if t.Key == "" {
				valid = false
				r.add(RuleTolerationOperator, p.Child("operator"), "an empty key needs operator Exists (tolerate every taint); the API server rejects Equal",
					"Set the taint's key, or use operator: Exists to tolerate everything.")
			}
		case v1.TolerationOpExists:
			if t.Value != "" {
				valid = false
				r.add(RuleTolerationOperator, p.Child("value"), fmt.Sprintf("operator Exists matches any value, so value %q is not allowed; the API server rejects it", t.Value),
					"Remove the value, or use operator: Equal to match only that value.")
			}
		case v1.TolerationOpGt, v1.TolerationOpLt:
			valid = false
			msg := fmt.Sprintf("operator %s needs the TaintTolerationComparisonOperators feature gate; API servers without it reject the object", t.Operator)
			if _, err := strconv.ParseInt(t.Value, 10, 64); err != nil {
				msg += fmt.Sprintf(", and the value %q is not an integer", t.Value)
			}
			r.addSev(RuleTolerationOperator, Warning, p.Child("operator"), msg, "Make sure the cluster enables the gate, and give an integer value.")
		default:
			valid = false
			r.add(RuleTolerationOperator, p.Child("operator"), fmt.Sprintf("unknown toleration operator %q; the API server rejects it%s", t.Operator, suggest(string(t.Operator), tolerationOps)),
				"Use Equal or Exists (case-sensitive).")
		}
		if valid && e.cluster.hasNodes() && t.Key != "" && !transientTaint(t.Key) && !toleratesAnyNode(t, e.cluster.Nodes) {
			r.add(RuleTolerationUnused, p, fmt.Sprintf("no node of %d has a taint this toleration (key %q%s) matches", len(e.cluster.Nodes), t.Key, valueEffect(t)),
				"Compare it with `kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints`; remove it if nothing needs it.")
		}
	}
}

func valueEffect(t *v1.Toleration) string {
	s := ""
	if t.Value != "" {
		s += fmt.Sprintf(", value %q", t.Value)
	}
	if t.Effect != "" {
		s += ", effect " + string(t.Effect)
	}
	return s
}

// transientTaint reports taints that nodes get only while something is
// wrong (not-ready, unreachable, memory pressure …): tolerating them is
// normal even when no node has them now.
func transientTaint(key string) bool {
	for _, p := range transientTaintNS {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func toleratesAnyNode(t *v1.Toleration, nodes []*v1.Node) bool {
	logger := klog.Background()
	for _, n := range nodes {
		for i := range n.Spec.Taints {
			if t.ToleratesTaint(logger, &n.Spec.Taints[i], true) {
				return true
			}
		}
	}
	return false
}
