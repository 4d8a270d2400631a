package preference

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnotationKey is the pod annotation that names the one rule set that
// governs the pod, overriding every selector: how a pod opts in to a set
// whose selector is empty, or out of the sets its labels would select.
const AnnotationKey = "berth.io/node-preference"

// Function names a numeric rule's mapping from the clamped label value
// onto 0..100.
type Function string

// The functions a numeric rule accepts.
const (
	// Linear spreads the score evenly between min and max: right when each
	// unit of the value is worth the same (free disk in GiB, say).
	Linear Function = "linear"
	// Log spreads it by orders of magnitude: right for values that span
	// several (IOPS from 1,000 to 100,000), where going from 1,000 to
	// 10,000 is worth as much as going from 10,000 to 100,000. It needs a
	// positive min.
	Log Function = "log"
)

// Functions lists the accepted functions, for validation messages.
func Functions() []Function { return []Function{Linear, Log} }

// MinWeight and MaxWeight bound a preferred rule's weight, as in a pod's
// preferred node affinity.
const (
	MinWeight int32 = 1
	MaxWeight int32 = 100
)

// MaxRuleScore is the score of a rule fully satisfied; every rule scores
// in [0, MaxRuleScore], and so does a node (the weighted mean), which is
// the scheduler's node score range.
const MaxRuleScore = 100

// RuleSet is one named set of node preferences and the pods it applies
// to, as operators write it in the plugin args.
type RuleSet struct {
	// Name identifies the set in pod annotations, messages and explain.
	Name string `json:"name"`
	// Selector picks the pods the set governs without an annotation. An
	// empty selector picks no pod: such a set applies only to pods that
	// name it in their berth.io/node-preference annotation.
	Selector PodSelector `json:"selector,omitempty"`
	// Required are node requirements (ANDed) a governed pod's node must
	// meet: the set filters nodes only through them.
	Required []v1.NodeSelectorRequirement `json:"required,omitempty"`
	// Preferred are the weighted rules a node is scored by.
	Preferred []PreferredRule `json:"preferred,omitempty"`
}

// PodSelector picks pods by namespace and labels; both must hold when
// both are given.
type PodSelector struct {
	// Namespaces the pod must be in; empty means any namespace (but at
	// least one of namespaces and labelSelector must be given for the
	// selector to pick anything).
	Namespaces []string `json:"namespaces,omitempty"`
	// LabelSelector the pod's labels must match; {} matches every pod.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
}

// IsEmpty reports whether the selector picks no pod (the set is then
// annotation-only).
func (s *PodSelector) IsEmpty() bool { return len(s.Namespaces) == 0 && s.LabelSelector == nil }

// PreferredRule is one scored preference; exactly one of LabelValues,
// Numeric and Match is set.
type PreferredRule struct {
	// Weight is the rule's weight in the node's weighted mean, 1..100.
	Weight int32 `json:"weight"`
	// LabelValues scores a node by the value of one label.
	LabelValues *LabelValueScores `json:"labelValues,omitempty"`
	// Numeric scores a node by a label read as a number.
	Numeric *NumericScore `json:"numeric,omitempty"`
	// Match scores 100 when the node meets the requirement, 0 otherwise
	// (e.g. network-gbps Gt 25).
	Match *v1.NodeSelectorRequirement `json:"match,omitempty"`
}

// LabelValueScores scores a node by the value of a label: for ranked
// categories such as disk types (nvme 100, ssd 80, hdd 0).
type LabelValueScores struct {
	// Key is the node label.
	Key string `json:"key"`
	// Values maps label values to scores in 0..100.
	Values map[string]int32 `json:"values"`
	// Default is the score, 0..100, of a node without the label or with
	// a value not listed.
	Default int32 `json:"default,omitempty"`
}

// NumericScore scores a node by a label read as a number: a plain
// integer or decimal ("20000", "2.5") or a Kubernetes quantity ("10Gi",
// "25G", read in base units). The value is clamped to [Min, Max] and
// mapped onto 0..100 by Function; a node without the label, or whose
// value is not a number, scores 0.
type NumericScore struct {
	// Key is the node label.
	Key string `json:"key"`
	// Function is linear (default) or log.
	Function Function `json:"function,omitempty"`
	// Min is the value that scores 0 (100 when lower is better); lower
	// values score the same.
	Min float64 `json:"min"`
	// Max is the value that scores 100 (0 when lower is better); higher
	// values score the same.
	Max float64 `json:"max"`
	// HigherIsBetter is true by default; false inverts the score, for
	// values such as latency.
	HigherIsBetter *bool `json:"higherIsBetter,omitempty"`
}

// SetDefaults fills the defaults of every rule: function linear and
// higherIsBetter true for numeric rules.
func SetDefaults(sets []RuleSet) {
	for i := range sets {
		for j := range sets[i].Preferred {
			n := sets[i].Preferred[j].Numeric
			if n == nil {
				continue
			}
			if n.Function == "" {
				n.Function = Linear
			}
			if n.HigherIsBetter == nil {
				t := true
				n.HigherIsBetter = &t
			}
		}
	}
}

// DeepCopy returns a copy of the set that shares no memory with it, so
// that plugin args can be copied before defaulting.
func (s *RuleSet) DeepCopy() *RuleSet {
	out := &RuleSet{Name: s.Name}
	out.Selector.Namespaces = append([]string(nil), s.Selector.Namespaces...)
	out.Selector.LabelSelector = s.Selector.LabelSelector.DeepCopy()
	for _, r := range s.Required {
		out.Required = append(out.Required, *r.DeepCopy())
	}
	for _, p := range s.Preferred {
		c := PreferredRule{Weight: p.Weight}
		if lv := p.LabelValues; lv != nil {
			c.LabelValues = &LabelValueScores{Key: lv.Key, Default: lv.Default}
			if lv.Values != nil {
				c.LabelValues.Values = make(map[string]int32, len(lv.Values))
				for k, v := range lv.Values {
					c.LabelValues.Values[k] = v
				}
			}
		}
		if n := p.Numeric; n != nil {
			nc := *n
			if n.HigherIsBetter != nil {
				b := *n.HigherIsBetter
				nc.HigherIsBetter = &b
			}
			c.Numeric = &nc
		}
		if p.Match != nil {
			c.Match = p.Match.DeepCopy()
		}
		out.Preferred = append(out.Preferred, c)
	}
	return out
}
