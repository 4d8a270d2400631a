package conformance

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var topologyKeys = []string{hostnameKey, zoneKey, zoneKey, regionKey, "disk"}

func (g *gen) labelSelector(own map[string]string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	if len(own) > 0 && g.chance(0.5) {
		// Select the pod's own kind, as a Deployment's spreading does.
		s.MatchLabels = map[string]string{}
		for _, k := range sortedKeys(own) {
			if g.chance(0.6) {
				s.MatchLabels[k] = own[k]
			}
		}
	}
	for range g.r.IntN(2) {
		key := pick(g, podKeys...)
		if _, ok := s.MatchLabels[key]; ok {
			continue
		}
		req := metav1.LabelSelectorRequirement{Key: key, Operator: pick(g, metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist)}
		if req.Operator == metav1.LabelSelectorOpIn || req.Operator == metav1.LabelSelectorOpNotIn {
			for range 1 + g.r.IntN(2) {
				req.Values = append(req.Values, g.podLabelValue(key))
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	return s
}

// selectorKeys lists the keys a selector constrains.
func selectorKeys(s *metav1.LabelSelector) map[string]bool {
	keys := map[string]bool{}
	if s == nil {
		return keys
	}
	for k := range s.MatchLabels {
		keys[k] = true
	}
	for _, r := range s.MatchExpressions {
		keys[r.Key] = true
	}
	return keys
}

func (g *gen) affinityTerm(p *v1.Pod) v1.PodAffinityTerm {
	t := v1.PodAffinityTerm{TopologyKey: pick(g, topologyKeys...)}
	if g.chance(0.9) {
		t.LabelSelector = g.labelSelector(p.Labels)
	}
	switch {
	case g.chance(0.2):
		t.Namespaces = []string{pick(g, namespaces...).name}
		if g.chance(0.5) {
			t.Namespaces = append(t.Namespaces, pick(g, namespaces...).name)
			if t.Namespaces[0] == t.Namespaces[1] {
				t.Namespaces = t.Namespaces[:1]
			}
		}
	case g.chance(0.2):
		t.NamespaceSelector = &metav1.LabelSelector{}
		if g.chance(0.6) {
			t.NamespaceSelector.MatchLabels = map[string]string{pick(g, "team", "env"): pick(g, "a", "b", "prod", "dev")}
		}
	}
	// matchLabelKeys / mismatchLabelKeys name the pod's own labels; the API
	// server merges them into the selector, so they must not repeat its keys.
	if t.LabelSelector != nil && len(p.Labels) > 0 && g.chance(0.2) {
		used := selectorKeys(t.LabelSelector)
		for _, k := range sortedKeys(p.Labels) {
			if used[k] {
				continue
			}
			used[k] = true
			if g.chance(0.5) {
				t.MatchLabelKeys = append(t.MatchLabelKeys, k)
			} else {
				t.MismatchLabelKeys = append(t.MismatchLabelKeys, k)
			}
			break
		}
	}
	return t
}

// podAffinity returns pod affinity and/or anti-affinity, required and
// preferred; requiredChance is the chance of each required list.
func (g *gen) podAffinity(p *v1.Pod, requiredChance float64) *v1.Affinity {
	a := &v1.Affinity{}
	if g.chance(0.5) {
		pa := &v1.PodAffinity{}
		if g.chance(requiredChance) {
			for range 1 + g.r.IntN(2) {
				pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, g.affinityTerm(p))
			}
		}
		for range g.r.IntN(3) {
			pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
				v1.WeightedPodAffinityTerm{Weight: pick[int32](g, 1, 10, 100), PodAffinityTerm: g.affinityTerm(p)})
		}
		a.PodAffinity = pa
	}
	if g.chance(0.5) {
		pa := &v1.PodAntiAffinity{}
		if g.chance(requiredChance) {
			for range 1 + g.r.IntN(2) {
				pa.RequiredDuringSchedulingIgnoredDuringExecution = append(pa.RequiredDuringSchedulingIgnoredDuringExecution, g.affinityTerm(p))
			}
		}
		for range g.r.IntN(3) {
			pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
				v1.WeightedPodAffinityTerm{Weight: pick[int32](g, 1, 10, 100), PodAffinityTerm: g.affinityTerm(p)})
		}
		a.PodAntiAffinity = pa
	}
	return a
}

// spreadConstraints returns constraints unique by (topologyKey,
// whenUnsatisfiable) with every optional field sometimes set.
func (g *gen) spreadConstraints(p *v1.Pod) []v1.TopologySpreadConstraint {
	var cs []v1.TopologySpreadConstraint
	seen := map[string]bool{}
	for range 1 + g.r.IntN(2) {
		c := v1.TopologySpreadConstraint{
			MaxSkew:           int32(1 + g.r.IntN(3)),
			TopologyKey:       pick(g, topologyKeys...),
			WhenUnsatisfiable: pick(g, v1.DoNotSchedule, v1.ScheduleAnyway),
		}
		if seen[c.TopologyKey+string(c.WhenUnsatisfiable)] {
			continue
		}
		seen[c.TopologyKey+string(c.WhenUnsatisfiable)] = true
		if g.chance(0.9) {
			c.LabelSelector = g.labelSelector(p.Labels)
		}
		if c.WhenUnsatisfiable == v1.DoNotSchedule && g.chance(0.25) {
			c.MinDomains = ptr.To(int32(1 + g.r.IntN(4)))
		}
		if g.chance(0.3) {
			c.NodeAffinityPolicy = ptr.To(pick(g, v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore))
		}
		if g.chance(0.3) {
			c.NodeTaintsPolicy = ptr.To(pick(g, v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore))
		}
		if c.LabelSelector != nil && len(p.Labels) > 0 && g.chance(0.25) {
			used := selectorKeys(c.LabelSelector)
			for _, k := range sortedKeys(p.Labels) {
				if !used[k] {
					c.MatchLabelKeys = append(c.MatchLabelKeys, k)
					break
				}
			}
		}
		cs = append(cs, c)
	}
	return cs
}
