package nodepreference

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berthsched/berth/pkg/placement/preference"
)

// Args configures NodePreference (pluginConfig name "NodePreference");
// see docs/node-preference.md.
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// RuleSets are the node preferences and the pods they govern. With
	// none the plugin governs no pod (and rejects pods that name a set).
	RuleSets []preference.RuleSet `json:"ruleSets,omitempty"`
}

// DeepCopyObject implements runtime.Object, so the plugin keeps its own
// copy of the args it defaults.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := &Args{TypeMeta: a.TypeMeta}
	for i := range a.RuleSets {
		out.RuleSets = append(out.RuleSets, *a.RuleSets[i].DeepCopy())
	}
	return out
}

// SetDefaultArgs fills the defaults: numeric rules are linear and
// higher is better unless they say otherwise.
func SetDefaultArgs(a *Args) { preference.SetDefaults(a.RuleSets) }

// ValidateArgs reports every problem with its field path under path
// (e.g. args.ruleSets[1].preferred[0].numeric.min).
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	return preference.Validate(a.RuleSets, path.Child("ruleSets"))
}
