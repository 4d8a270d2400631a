package preference

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate reports every problem of sets, each with its field path under
// path (the sets' own path, e.g. args.ruleSets):
//
//	args.ruleSets[1].preferred[0].numeric.min: Invalid value: 500: must be below max (100)
//
// It checks what NewPolicy needs and nothing the defaults fill in.
func Validate(sets []RuleSet, path *field.Path) field.ErrorList {
	_, errs := compile(sets, path)
	return errs
}

// compile builds the policy and collects every problem on the way, so
// that validation and compilation cannot disagree.
func compile(ruleSets []RuleSet, path *field.Path) (*Policy, field.ErrorList) {
	var errs field.ErrorList
	p := &Policy{byName: map[string]*compiledSet{}}
	for i := range ruleSets {
		rs := &ruleSets[i]
		sp := path.Index(i)
		cs, setErrs := compileSet(rs, sp)
		errs = append(errs, setErrs...)
		if rs.Name == "" {
			continue
		}
		if _, dup := p.byName[rs.Name]; dup {
			errs = append(errs, field.Duplicate(sp.Child("name"), rs.Name))
			continue
		}
		p.byName[rs.Name] = cs
		p.sets = append(p.sets, cs)
	}
	return p, errs
}

func compileSet(rs *RuleSet, path *field.Path) (*compiledSet, field.ErrorList) {
	var errs field.ErrorList
	if rs.Name == "" {
		errs = append(errs, field.Required(path.Child("name"), "the name pods use in the "+AnnotationKey+" annotation"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(rs.Name) {
			errs = append(errs, field.Invalid(path.Child("name"), rs.Name, msg))
		}
	}
	cs := &compiledSet{name: rs.Name, pref: &Preference{Sets: []string{rs.Name}}}
	errs = append(errs, cs.compileSelector(&rs.Selector, path.Child("selector"))...)
	if len(rs.Required) == 0 && len(rs.Preferred) == 0 {
		errs = append(errs, field.Required(path, "at least one required or preferred rule"))
	}
	for j, r := range rs.Required {
		req, rErrs := parseRequirement(r, path.Child("required").Index(j))
		errs = append(errs, rErrs...)
		cs.pref.required = append(cs.pref.required, boundRequirement{set: rs.Name, requirement: req})
	}
	for j := range rs.Preferred {
		r, rErrs := compileRule(rs.Name, &rs.Preferred[j], path.Child("preferred").Index(j))
		errs = append(errs, rErrs...)
		cs.pref.preferred = append(cs.pref.preferred, r)
		cs.pref.weights += int64(r.weight)
	}
	return cs, errs
}

func (cs *compiledSet) compileSelector(s *PodSelector, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	cs.selects = !s.IsEmpty()
	if len(s.Namespaces) > 0 {
		cs.namespaces = sets.New[string]()
		for i, ns := range s.Namespaces {
			for _, msg := range validation.IsDNS1123Label(ns) {
				errs = append(errs, field.Invalid(path.Child("namespaces").Index(i), ns, msg))
			}
			cs.namespaces.Insert(ns)
		}
	}
	if s.LabelSelector != nil {
		lp := path.Child("labelSelector")
		lErrs := metav1validation.ValidateLabelSelector(s.LabelSelector, metav1validation.LabelSelectorValidationOptions{}, lp)
		errs = append(errs, lErrs...)
		if len(lErrs) == 0 {
			sel, err := metav1.LabelSelectorAsSelector(s.LabelSelector)
			if err != nil {
				errs = append(errs, field.Invalid(lp, s.LabelSelector, err.Error()))
			}
			cs.podLabels = sel
		}
	}
	return errs
}

func compileRule(set string, pr *PreferredRule, path *field.Path) (rule, field.ErrorList) {
	var errs field.ErrorList
	r := rule{set: set, weight: pr.Weight}
	if pr.Weight < MinWeight || pr.Weight > MaxWeight {
		errs = append(errs, field.Invalid(path.Child("weight"), pr.Weight, fmt.Sprintf("not in valid range [%d, %d]", MinWeight, MaxWeight)))
	}
	kinds := 0
	if pr.LabelValues != nil {
		kinds++
		r.kind, r.lv = KindLabelValues, pr.LabelValues
		errs = append(errs, validateLabelValues(pr.LabelValues, path.Child(string(KindLabelValues)))...)
	}
	if pr.Numeric != nil {
		kinds++
		r.kind, r.num = KindNumeric, newNumeric(pr.Numeric)
		errs = append(errs, validateNumeric(pr.Numeric, path.Child(string(KindNumeric)))...)
	}
	if pr.Match != nil {
		kinds++
		var mErrs field.ErrorList
		r.kind = KindMatch
		r.match, mErrs = parseRequirement(*pr.Match, path.Child(string(KindMatch)))
		errs = append(errs, mErrs...)
	}
	switch {
	case kinds == 0:
		errs = append(errs, field.Required(path, "one of labelValues, numeric or match"))
	case kinds > 1:
		errs = append(errs, field.Invalid(path, kindsSet(pr), "must set only one of labelValues, numeric or match"))
	}
	return r, errs
}

// kindsSet names the kinds a rule sets, for the error about setting more
// than one.
func kindsSet(pr *PreferredRule) []string {
	var out []string
	if pr.LabelValues != nil {
		out = append(out, string(KindLabelValues))
	}
	if pr.Numeric != nil {
		out = append(out, string(KindNumeric))
	}
	if pr.Match != nil {
		out = append(out, string(KindMatch))
	}
	return out
}

func validateKey(key string, path *field.Path) field.ErrorList {
	if key == "" {
		return field.ErrorList{field.Required(path, "the node label to read")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(key) {
		errs = append(errs, field.Invalid(path, key, msg))
	}
	return errs
}

func validateScore(s int32, path *field.Path) *field.Error {
	if s < 0 || s > MaxRuleScore {
		return field.Invalid(path, s, fmt.Sprintf("not in valid range [0, %d]", MaxRuleScore))
	}
	return nil
}

func validateLabelValues(lv *LabelValueScores, path *field.Path) field.ErrorList {
	errs := validateKey(lv.Key, path.Child("key"))
	if len(lv.Values) == 0 {
		errs = append(errs, field.Required(path.Child("values"), "a score for at least one label value"))
	}
	values := make([]string, 0, len(lv.Values))
	for v := range lv.Values {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		vp := path.Child("values").Key(v)
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(vp, v, msg))
		}
		if e := validateScore(lv.Values[v], vp); e != nil {
			errs = append(errs, e)
		}
	}
	if e := validateScore(lv.Default, path.Child("default")); e != nil {
		errs = append(errs, e)
	}
	return errs
}

func validateNumeric(n *NumericScore, path *field.Path) field.ErrorList {
	errs := validateKey(n.Key, path.Child("key"))
	switch n.Function {
	case "", Linear, Log:
	default:
		errs = append(errs, field.NotSupported(path.Child("function"), n.Function, Functions()))
	}
	if n.Min >= n.Max {
		errs = append(errs, field.Invalid(path.Child("min"), n.Min, fmt.Sprintf("must be below max (%s)", formatNumber(n.Max))))
	}
	if n.Function == Log && n.Min <= 0 {
		errs = append(errs, field.Invalid(path.Child("min"), n.Min, "must be positive for function log"))
	}
	return errs
}
