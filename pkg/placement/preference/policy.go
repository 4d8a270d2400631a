package preference

import (
	"fmt"
	"math"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Policy is a validated, compiled list of rule sets: what the plugin
// consults for every pod. It is read-only and safe for concurrent use.
type Policy struct {
	sets   []*compiledSet
	byName map[string]*compiledSet
}

// compiledSet is one rule set ready to match pods and score nodes.
type compiledSet struct {
	name string
	// selects is false for an annotation-only set (empty selector).
	selects    bool
	namespaces sets.Set[string] // nil: any namespace
	podLabels  labels.Selector  // nil: any labels
	pref       *Preference      // the set alone
}

// NewPolicy compiles sets, which must be valid (Validate): it returns the
// same problems Validate reports, joined, otherwise.
func NewPolicy(sets []RuleSet) (*Policy, error) {
	p, errs := compile(sets, field.NewPath("ruleSets"))
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}

// Names lists the configured rule sets in order.
func (p *Policy) Names() []string {
	out := make([]string, len(p.sets))
	for i, s := range p.sets {
		out[i] = s.name
	}
	return out
}

// UnknownRuleSetError is Resolve's error for a pod whose annotation names
// a rule set that is not configured: the pod's author made a typo, or the
// set was removed, and no node can say which preference was meant.
type UnknownRuleSetError struct {
	// Name is the annotation's value.
	Name string
	// Known are the configured sets.
	Known []string
}

func (e *UnknownRuleSetError) Error() string {
	known := "none are configured"
	if len(e.Known) > 0 {
		known = "known: " + strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("pod annotation %s names rule set %q, which is not configured (%s)", AnnotationKey, e.Name, known)
}

// Resolve returns the Preference that governs pod: the rule set its
// AnnotationKey annotation names, else the union of every set whose
// selector matches the pod (all their required rules; all their
// preferred rules with their weights), else nil. An annotation naming an
// unknown set is an *UnknownRuleSetError.
func (p *Policy) Resolve(pod *v1.Pod) (*Preference, error) {
	if name, ok := pod.Annotations[AnnotationKey]; ok {
		s, found := p.byName[name]
		if !found {
			return nil, &UnknownRuleSetError{Name: name, Known: p.Names()}
		}
		return s.pref, nil
	}
	var out *Preference
	combined := false
	for _, s := range p.sets {
		if !s.selectsPod(pod) {
			continue
		}
		switch {
		case out == nil:
			out = s.pref
		case !combined:
			out, combined = out.combine(s.pref), true
		default:
			out.add(s.pref)
		}
	}
	return out, nil
}

// selectsPod reports whether the set's selector picks pod.
func (s *compiledSet) selectsPod(pod *v1.Pod) bool {
	if !s.selects {
		return false
	}
	if s.namespaces != nil && !s.namespaces.Has(pod.Namespace) {
		return false
	}
	return s.podLabels == nil || s.podLabels.Matches(labels.Set(pod.Labels))
}

// Preference is what governs one pod: the rules of one or more rule sets.
// It is read-only once Resolve returned it.
type Preference struct {
	// Sets names the rule sets, in configuration order.
	Sets      []string
	required  []boundRequirement
	preferred []rule
	// weights is the sum of the preferred rules' weights.
	weights int64
}

// boundRequirement is a required rule and the set it came from.
type boundRequirement struct {
	set string
	requirement
}

// combine returns a new Preference with the rules of p and o.
func (p *Preference) combine(o *Preference) *Preference {
	out := &Preference{
		Sets:      append([]string(nil), p.Sets...),
		required:  append([]boundRequirement(nil), p.required...),
		preferred: append([]rule(nil), p.preferred...),
		weights:   p.weights,
	}
	out.add(o)
	return out
}

// add appends o's rules to p, which must be p's own copy.
func (p *Preference) add(o *Preference) {
	p.Sets = append(p.Sets, o.Sets...)
	p.required = append(p.required, o.required...)
	p.preferred = append(p.preferred, o.preferred...)
	p.weights += o.weights
}

// Name names the preference in messages: the set's name, or the names
// of the sets joined by ", ".
func (p *Preference) Name() string { return strings.Join(p.Sets, ", ") }

// HasRequired reports whether the preference filters nodes.
func (p *Preference) HasRequired() bool { return len(p.required) > 0 }

// HasPreferred reports whether the preference scores nodes.
func (p *Preference) HasPreferred() bool { return len(p.preferred) > 0 }

// Unmet is the first required rule a node does not meet.
type Unmet struct {
	// Set is the rule set the requirement belongs to.
	Set string
	// Requirement is the requirement as written: "disk-type In [ssd
	// nvme]". Set and Requirement do not depend on the node, so a reason
	// built from them groups nodes that fail alike.
	Requirement string
	// Node says what the node has: "node has disk-type=hdd", "node has no
	// disk-type".
	Node string
}

// Check returns nil when node meets every required rule, otherwise the
// first rule it does not meet.
func (p *Preference) Check(node *v1.Node) *Unmet {
	for i := range p.required {
		r := &p.required[i]
		if !r.matches(node) {
			return &Unmet{Set: r.set, Requirement: r.String(), Node: r.nodeHas(node)}
		}
	}
	return nil
}

// Score is the node's score in [0, MaxRuleScore]: the weighted mean of
// the preferred rules' scores, rounded; 0 without preferred rules.
func (p *Preference) Score(node *v1.Node) int64 {
	if p.weights == 0 {
		return 0
	}
	var sum float64
	for i := range p.preferred {
		r := &p.preferred[i]
		s, _, _, _ := r.eval(node)
		sum += float64(r.weight) * s
	}
	return int64(math.Round(sum / float64(p.weights)))
}

// Explain is Score with each rule's contribution.
func (p *Preference) Explain(node *v1.Node) Breakdown {
	b := Breakdown{Score: p.Score(node), Rules: make([]RuleScore, len(p.preferred))}
	for i := range p.preferred {
		b.Rules[i] = p.preferred[i].explain(node)
	}
	return b
}
