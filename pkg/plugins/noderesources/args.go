package noderesources

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Limits of the args, the same as kube-scheduler's so that a configuration
// accepted by one scheduler is accepted by the other.
const (
	// MaxResourceWeight bounds a scoring resource's weight: (0, 100].
	MaxResourceWeight int64 = 100
)

// supportedStrategies is sorted: it is the list a NotSupported error shows.
var supportedStrategies = []string{
	string(configv1.LeastAllocated),
	string(configv1.MostAllocated),
	string(configv1.RequestedToCapacityRatio),
}

// defaultResources returns a fresh copy of cpu=1, memory=1, the resources
// both plugins score when the configuration names none. A fresh slice each
// time, so callers may modify what they get.
func defaultResources() []configv1.ResourceSpec {
	return []configv1.ResourceSpec{
		{Name: string(v1.ResourceCPU), Weight: 1},
		{Name: string(v1.ResourceMemory), Weight: 1},
	}
}

// DefaultFitArgs returns the args NodeResourcesFit runs with when the
// profile gives none: no ignored resources and LeastAllocated scoring over
// cpu and memory with equal weight (kube-scheduler's default).
func DefaultFitArgs() *configv1.NodeResourcesFitArgs {
	args := &configv1.NodeResourcesFitArgs{}
	SetDefaultsFitArgs(args)
	return args
}

// SetDefaultsFitArgs fills the fields a user left empty the way
// kube-scheduler's v1 defaulting does, so the same file yields the same
// behaviour: a missing strategy becomes LeastAllocated, a strategy without
// resources scores cpu and memory, and a zero weight becomes 1. The
// strategy type itself is not defaulted when a strategy is given, because
// kube-scheduler rejects an empty type there and berth must agree.
func SetDefaultsFitArgs(args *configv1.NodeResourcesFitArgs) {
	if args.ScoringStrategy == nil {
		args.ScoringStrategy = &configv1.ScoringStrategy{Type: configv1.LeastAllocated}
	}
	s := args.ScoringStrategy
	if len(s.Resources) == 0 {
		s.Resources = defaultResources()
	}
	for i := range s.Resources {
		if s.Resources[i].Weight == 0 {
			s.Resources[i].Weight = 1
		}
	}
}

// ValidateFitArgs returns every problem in args, each with its field path
// under path, so a user fixes a configuration in one pass. Ignored resources
// and groups must be valid qualified names (groups without "/"); the
// strategy must be supported, every weight in (0, 100], and a
// RequestedToCapacityRatio strategy needs a valid shape (which other
// strategies must not have).
func ValidateFitArgs(args *configv1.NodeResourcesFitArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, name := range args.IgnoredResources {
		errs = append(errs, metav1validation.ValidateLabelName(name, path.Child("ignoredResources").Index(i))...)
	}
	for i, group := range args.IgnoredResourceGroups {
		p := path.Child("ignoredResourceGroups").Index(i)
		if strings.Contains(group, "/") {
			errs = append(errs, field.Invalid(p, group, "resource group name can't contain '/'"))
		}
		errs = append(errs, metav1validation.ValidateLabelName(group, p)...)
	}

	sp := path.Child("scoringStrategy")
	s := args.ScoringStrategy
	if s == nil {
		return append(errs, field.Required(sp, "ScoringStrategy field is required"))
	}
	if !isSupportedStrategy(s.Type) {
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Type, supportedStrategies))
	}
	errs = append(errs, validateWeights(s.Resources, sp.Child("resources"))...)
	rp := sp.Child("requestedToCapacityRatio")
	switch {
	case s.Type == configv1.RequestedToCapacityRatio && s.RequestedToCapacityRatio == nil:
		errs = append(errs, field.Required(rp, "must be specified when type is RequestedToCapacityRatio"))
	case s.Type == configv1.RequestedToCapacityRatio:
		errs = append(errs, pluginutil.ValidateShape(s.RequestedToCapacityRatio.Shape, rp.Child("shape"))...)
	case s.RequestedToCapacityRatio != nil:
		errs = append(errs, field.Forbidden(rp, "must be nil when type is not RequestedToCapacityRatio"))
	}
	return errs
}

func isSupportedStrategy(t configv1.ScoringStrategyType) bool {
	for _, s := range supportedStrategies {
		if string(t) == s {
			return true
		}
	}
	return false
}

func validateWeights(resources []configv1.ResourceSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range resources {
		if r.Weight <= 0 || r.Weight > MaxResourceWeight {
			errs = append(errs, field.Invalid(path.Index(i).Child("weight"), r.Weight,
				fmt.Sprintf("resource weight of %v not in valid range (0, %d]", r.Name, MaxResourceWeight)))
		}
	}
	return errs
}

// DefaultBalancedAllocationArgs returns the args
// NodeResourcesBalancedAllocation runs with when the profile gives none:
// balance cpu against memory.
func DefaultBalancedAllocationArgs() *configv1.NodeResourcesBalancedAllocationArgs {
	args := &configv1.NodeResourcesBalancedAllocationArgs{}
	SetDefaultsBalancedAllocationArgs(args)
	return args
}

// SetDefaultsBalancedAllocationArgs mirrors kube-scheduler's v1 defaulting:
// no resources means cpu and memory, and a zero weight becomes 1 (weights
// play no part in the balance, but validation insists on 1).
func SetDefaultsBalancedAllocationArgs(args *configv1.NodeResourcesBalancedAllocationArgs) {
	if len(args.Resources) == 0 {
		args.Resources = defaultResources()
		return
	}
	for i := range args.Resources {
		if args.Resources[i].Weight == 0 {
			args.Resources[i].Weight = 1
		}
	}
}

// ValidateBalancedAllocationArgs returns every problem in args with its
// field path: a resource listed twice, or a weight other than 1 (the
// balance is an unweighted standard deviation, so any other weight would
// promise something the plugin does not do).
func ValidateBalancedAllocationArgs(args *configv1.NodeResourcesBalancedAllocationArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]bool, len(args.Resources))
	for i, r := range args.Resources {
		p := path.Child("resources").Index(i)
		if seen[r.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		seen[r.Name] = true
		if r.Weight != 1 {
			errs = append(errs, field.Invalid(p.Child("weight"), r.Weight, "must be 1"))
		}
	}
	return errs
}
