package nodeaffinity

import (
	"errors"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

// ValidateArgs checks that addedAffinity parses: every operator is known
// and every requirement is well formed, under path (the args' own path in
// the configuration; nil for the root). It returns every problem found.
func ValidateArgs(args *configv1.NodeAffinityArgs, path *field.Path) field.ErrorList {
	if args == nil || args.AddedAffinity == nil {
		return nil
	}
	var errs field.ErrorList
	aa := args.AddedAffinity
	if ns := aa.RequiredDuringSchedulingIgnoredDuringExecution; ns != nil {
		p := path.Child("addedAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
		_, err := nodeaffinity.NewNodeSelector(ns, field.WithPath(p))
		errs = append(errs, toFieldErrors(err, p)...)
	}
	if terms := aa.PreferredDuringSchedulingIgnoredDuringExecution; len(terms) != 0 {
		p := path.Child("addedAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
		_, err := nodeaffinity.NewPreferredSchedulingTerms(terms, field.WithPath(p))
		errs = append(errs, toFieldErrors(err, p)...)
	}
	return errs
}

// toFieldErrors unpacks the parser's aggregate. The parser already reports
// *field.Error values carrying their full path; anything else is attached
// to the parent path so no problem is lost.
func toFieldErrors(err error, parent *field.Path) field.ErrorList {
	if err == nil {
		return nil
	}
	list := []error{err}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		list = utilerrors.Flatten(agg).Errors()
	}
	var out field.ErrorList
	for _, e := range list {
		var fe *field.Error
		if errors.As(e, &fe) {
			out = append(out, fe)
			continue
		}
		out = append(out, field.Invalid(parent, nil, e.Error()))
	}
	return out
}
