package podtopologyspread

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

// SystemDefaultConstraints are the constraints the "System" defaulting type
// applies to pods that declare none (kube-scheduler v1.37's): a soft spread
// over hosts (maxSkew 3) and over zones (maxSkew 5).
func SystemDefaultConstraints() []v1.TopologySpreadConstraint {
	return []v1.TopologySpreadConstraint{
		{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
		{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
	}
}

// SetDefaultArgs fills in what the configuration left out: defaultingType
// defaults to System.
func SetDefaultArgs(args *configv1.PodTopologySpreadArgs) {
	if args.DefaultingType == "" {
		args.DefaultingType = configv1.SystemDefaulting
	}
}

// ValidateArgs checks defaulted args under path (nil for the root) and
// returns every problem: the defaulting type must be System or List, System
// takes no explicit constraints, and each default constraint needs a
// positive maxSkew, a valid topologyKey, a known whenUnsatisfiable, no
// labelSelector (it is derived per pod) and a {topologyKey,
// whenUnsatisfiable} pair of its own.
func ValidateArgs(args *configv1.PodTopologySpreadArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	typePath := path.Child("defaultingType")
	switch args.DefaultingType {
	case configv1.SystemDefaulting:
		if len(args.DefaultConstraints) > 0 {
			errs = append(errs, field.Invalid(typePath, args.DefaultingType, "when .defaultConstraints are not empty"))
		}
	case configv1.ListDefaulting:
	default:
		errs = append(errs, field.NotSupported(typePath, args.DefaultingType,
			[]string{string(configv1.SystemDefaulting), string(configv1.ListDefaulting)}))
	}

	listPath := path.Child("defaultConstraints")
	for i := range args.DefaultConstraints {
		c := &args.DefaultConstraints[i]
		p := listPath.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(p.Child("maxSkew"), c.MaxSkew, "not in valid range (0, inf)"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(c.TopologyKey, p.Child("topologyKey"))...)
		}
		switch c.WhenUnsatisfiable {
		case v1.DoNotSchedule, v1.ScheduleAnyway:
		case "":
			errs = append(errs, field.Required(p.Child("whenUnsatisfiable"), "can not be empty"))
		default:
			errs = append(errs, field.NotSupported(p.Child("whenUnsatisfiable"), c.WhenUnsatisfiable,
				[]string{string(v1.DoNotSchedule), string(v1.ScheduleAnyway)}))
		}
		if c.LabelSelector != nil {
			errs = append(errs, field.Forbidden(p.Child("labelSelector"), "constraint must not define a selector, as they deduced for each pod"))
		}
		for j := range args.DefaultConstraints[:i] {
			o := &args.DefaultConstraints[j]
			if o.TopologyKey == c.TopologyKey && o.WhenUnsatisfiable == c.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(p, fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
	}
	return errs
}
