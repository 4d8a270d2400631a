package st

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// SpreadConstraint adds a topology spread constraint. selector, minDomains
// and the two policies may be nil (the API's defaults then apply);
// matchLabelKeys may be nil.
func (p *PodWrapper) SpreadConstraint(maxSkew int32, topologyKey string, whenUnsatisfiable v1.UnsatisfiableConstraintAction,
	selector *metav1.LabelSelector, minDomains *int32, nodeAffinityPolicy, nodeTaintsPolicy *v1.NodeInclusionPolicy,
	matchLabelKeys []string) *PodWrapper {
	p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew:            maxSkew,
		TopologyKey:        topologyKey,
		WhenUnsatisfiable:  whenUnsatisfiable,
		LabelSelector:      selector,
		MinDomains:         minDomains,
		NodeAffinityPolicy: nodeAffinityPolicy,
		NodeTaintsPolicy:   nodeTaintsPolicy,
		MatchLabelKeys:     matchLabelKeys,
	})
	return p
}

// OwnerReference sets the pod's controller owner reference (the owner's
// UID is derived from its name).
func (p *PodWrapper) OwnerReference(name string, gvk schema.GroupVersionKind) *PodWrapper {
	controller := true
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: gvk.GroupVersion().String(),
		Kind:       gvk.Kind,
		Name:       name,
		UID:        types.UID("owner-uid-" + name),
		Controller: &controller,
	}}
	return p
}

// Terminating sets metadata.deletionTimestamp.
func (p *PodWrapper) Terminating() *PodWrapper {
	now := metav1.Now()
	p.DeletionTimestamp = &now
	return p
}

// LabelSelectorWrapper builds a metav1.LabelSelector.
type LabelSelectorWrapper struct{ metav1.LabelSelector }

// MakeLabelSelector starts an empty selector (which selects everything).
func MakeLabelSelector() *LabelSelectorWrapper { return &LabelSelectorWrapper{} }

// Label adds a matchLabels entry.
func (s *LabelSelectorWrapper) Label(k, v string) *LabelSelectorWrapper {
	if s.MatchLabels == nil {
		s.MatchLabels = map[string]string{}
	}
	s.MatchLabels[k] = v
	return s
}

// In adds a key In values expression.
func (s *LabelSelectorWrapper) In(key string, values ...string) *LabelSelectorWrapper {
	return s.expr(key, metav1.LabelSelectorOpIn, values)
}

// NotIn adds a key NotIn values expression.
func (s *LabelSelectorWrapper) NotIn(key string, values ...string) *LabelSelectorWrapper {
	return s.expr(key, metav1.LabelSelectorOpNotIn, values)
}

// Exists adds a key Exists expression.
func (s *LabelSelectorWrapper) Exists(key string) *LabelSelectorWrapper {
	return s.expr(key, metav1.LabelSelectorOpExists, nil)
}

// NotExist adds a key DoesNotExist expression.
func (s *LabelSelectorWrapper) NotExist(key string) *LabelSelectorWrapper {
	return s.expr(key, metav1.LabelSelectorOpDoesNotExist, nil)
}

func (s *LabelSelectorWrapper) expr(key string, op metav1.LabelSelectorOperator, values []string) *LabelSelectorWrapper {
	s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values})
	return s
}

// Obj returns the selector.
func (s *LabelSelectorWrapper) Obj() *metav1.LabelSelector { return &s.LabelSelector }
