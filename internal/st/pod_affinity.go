package st

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels returns a label selector that requires every key=value pair of
// kv, e.g. Labels("app", "web"); with no pairs it is the empty selector,
// which selects everything.
func Labels(kv ...string) *metav1.LabelSelector {
	if len(kv)%2 != 0 {
		panic("st.Labels needs key/value pairs")
	}
	s := &metav1.LabelSelector{}
	for i := 0; i < len(kv); i += 2 {
		if s.MatchLabels == nil {
			s.MatchLabels = map[string]string{}
		}
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

// LabelsIn returns a selector requiring key In values.
func LabelsIn(key string, values ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}}}
}

// LabelsExist returns a selector requiring that key exists.
func LabelsExist(key string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: key, Operator: metav1.LabelSelectorOpExists}}}
}

// AffinityTermWrapper builds a v1.PodAffinityTerm.
type AffinityTermWrapper struct{ v1.PodAffinityTerm }

// MakeAffinityTerm starts a pod (anti-)affinity term over topologyKey
// selecting pods with sel (nil selects no pod) in the pod's own namespace.
func MakeAffinityTerm(topologyKey string, sel *metav1.LabelSelector) *AffinityTermWrapper {
	return &AffinityTermWrapper{v1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: sel}}
}

// Namespaces sets the term's namespaces.
func (t *AffinityTermWrapper) Namespaces(ns ...string) *AffinityTermWrapper {
	t.PodAffinityTerm.Namespaces = ns
	return t
}

// NamespaceSelector sets the term's namespaceSelector (an empty selector
// selects every namespace).
func (t *AffinityTermWrapper) NamespaceSelector(sel *metav1.LabelSelector) *AffinityTermWrapper {
	t.PodAffinityTerm.NamespaceSelector = sel
	return t
}

// MatchLabelKeys sets matchLabelKeys. The API server merges them into the
// label selector when the pod is created; the scheduler reads only the
// selector.
func (t *AffinityTermWrapper) MatchLabelKeys(keys ...string) *AffinityTermWrapper {
	t.PodAffinityTerm.MatchLabelKeys = keys
	return t
}

// MismatchLabelKeys sets mismatchLabelKeys (merged like MatchLabelKeys).
func (t *AffinityTermWrapper) MismatchLabelKeys(keys ...string) *AffinityTermWrapper {
	t.PodAffinityTerm.MismatchLabelKeys = keys
	return t
}

// Obj returns the term.
func (t *AffinityTermWrapper) Obj() v1.PodAffinityTerm { return t.PodAffinityTerm }

func (p *PodWrapper) podAffinity() *v1.PodAffinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	if p.Spec.Affinity.PodAffinity == nil {
		p.Spec.Affinity.PodAffinity = &v1.PodAffinity{}
	}
	return p.Spec.Affinity.PodAffinity
}

func (p *PodWrapper) podAntiAffinity() *v1.PodAntiAffinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	if p.Spec.Affinity.PodAntiAffinity == nil {
		p.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	return p.Spec.Affinity.PodAntiAffinity
}

// PodAffinity adds a required pod affinity term: the pod must run in a
// topologyKey domain with a pod selected by sel (in the pod's namespace).
func (p *PodWrapper) PodAffinity(topologyKey string, sel *metav1.LabelSelector) *PodWrapper {
	return p.PodAffinityTerm(MakeAffinityTerm(topologyKey, sel).Obj())
}

// PodAntiAffinity adds a required pod anti-affinity term.
func (p *PodWrapper) PodAntiAffinity(topologyKey string, sel *metav1.LabelSelector) *PodWrapper {
	return p.PodAntiAffinityTerm(MakeAffinityTerm(topologyKey, sel).Obj())
}

// PreferredPodAffinity adds a preferred pod affinity term with weight.
func (p *PodWrapper) PreferredPodAffinity(weight int32, topologyKey string, sel *metav1.LabelSelector) *PodWrapper {
	return p.PreferredPodAffinityTerm(weight, MakeAffinityTerm(topologyKey, sel).Obj())
}

// PreferredPodAntiAffinity adds a preferred pod anti-affinity term.
func (p *PodWrapper) PreferredPodAntiAffinity(weight int32, topologyKey string, sel *metav1.LabelSelector) *PodWrapper {
	return p.PreferredPodAntiAffinityTerm(weight, MakeAffinityTerm(topologyKey, sel).Obj())
}

// PodAffinityTerm adds a required pod affinity term built with
// MakeAffinityTerm.
func (p *PodWrapper) PodAffinityTerm(t v1.PodAffinityTerm) *PodWrapper {
	a := p.podAffinity()
	a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, t)
	return p
}

// PodAntiAffinityTerm adds a required pod anti-affinity term.
func (p *PodWrapper) PodAntiAffinityTerm(t v1.PodAffinityTerm) *PodWrapper {
	a := p.podAntiAffinity()
	a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, t)
	return p
}

// PreferredPodAffinityTerm adds a preferred pod affinity term.
func (p *PodWrapper) PreferredPodAffinityTerm(weight int32, t v1.PodAffinityTerm) *PodWrapper {
	a := p.podAffinity()
	a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t})
	return p
}

// PreferredPodAntiAffinityTerm adds a preferred pod anti-affinity term.
func (p *PodWrapper) PreferredPodAntiAffinityTerm(weight int32, t v1.PodAffinityTerm) *PodWrapper {
	a := p.podAntiAffinity()
	a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t})
	return p
}
