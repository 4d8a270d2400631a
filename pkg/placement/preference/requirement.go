package preference

import (
	"errors"
	"strings"

	v1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// requirement is one node selector requirement, parsed by
// component-helpers so that its operators mean what they mean in node
// affinity.
type requirement struct {
	v1.NodeSelectorRequirement
	sel *nodeaffinity.NodeSelector
}

// parseRequirement parses r, reporting its problems under path (path.key,
// path.operator, path.values[0] …) rather than under the one-term node
// selector the parser is given.
func parseRequirement(r v1.NodeSelectorRequirement, path *field.Path) (requirement, field.ErrorList) {
	var errs field.ErrorList
	if r.Key == "" {
		errs = append(errs, field.Required(path.Child("key"), "the node label to test"))
	}
	ns := &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{r}}}}
	sel, err := nodeaffinity.NewNodeSelector(ns, field.WithPath(path))
	if err == nil {
		return requirement{NodeSelectorRequirement: r, sel: sel}, errs
	}
	inner := path.Child("nodeSelectorTerms").Index(0).Child("matchExpressions").Index(0).String()
	list := []error{err}
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		list = utilerrors.Flatten(agg).Errors()
	}
	for _, e := range list {
		var fe *field.Error
		if !errors.As(e, &fe) {
			errs = append(errs, field.Invalid(path, r, e.Error()))
			continue
		}
		c := *fe
		if rest, ok := strings.CutPrefix(c.Field, inner); ok {
			c.Field = path.String() + rest
		}
		if r.Key == "" && c.Field == path.Child("key").String() {
			continue // already reported as required
		}
		errs = append(errs, &c)
	}
	return requirement{NodeSelectorRequirement: r}, errs
}

// matches reports whether the node meets the requirement.
func (r *requirement) matches(node *v1.Node) bool { return r.sel != nil && r.sel.Match(node) }

// String is the requirement as operators write it: "disk-type In [ssd
// nvme]", "gpu Exists", "network-gbps Gt 25".
func (r *requirement) String() string {
	switch r.Operator {
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		return r.Key + " " + string(r.Operator)
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		return r.Key + " " + string(r.Operator) + " " + strings.Join(r.Values, " ")
	}
	return r.Key + " " + string(r.Operator) + " [" + strings.Join(r.Values, " ") + "]"
}

// nodeHas says what the node has under the requirement's key: "node has
// disk-type=hdd" or "node has no disk-type".
func (r *requirement) nodeHas(node *v1.Node) string {
	if v, ok := node.Labels[r.Key]; ok {
		return "node has " + r.Key + "=" + v
	}
	return "node has no " + r.Key
}
