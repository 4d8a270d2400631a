package gangscheduling

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/pkg/placement/gang"
)

// Args configures GangScheduling.
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// APIs lists the API groups gangs are read from: scheduling.k8s.io,
	// scheduling.x-k8s.io, scheduling.volcano.sh (default: all three).
	// One the API server does not serve when berth starts is left out,
	// and pods that name a group of it get an event saying so.
	APIs []string `json:"apis,omitempty"`
	// UpdateStatus writes each group's status (phase, counts, conditions)
	// from berth's attempts (default true). Turn it off where another
	// controller owns the status.
	UpdateStatus *bool `json:"updateStatus,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := *a
	out.APIs = append([]string(nil), a.APIs...)
	if a.UpdateStatus != nil {
		v := *a.UpdateStatus
		out.UpdateStatus = &v
	}
	return &out
}

// SetDefaultArgs fills the defaults.
func SetDefaultArgs(a *Args) {
	if len(a.APIs) == 0 {
		for _, api := range gang.APIs {
			a.APIs = append(a.APIs, string(api))
		}
	}
	if a.UpdateStatus == nil {
		t := true
		a.UpdateStatus = &t
	}
}

// ValidateArgs reports unknown and repeated API names.
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	known := map[string]bool{}
	var names []string
	for _, api := range gang.APIs {
		known[string(api)] = true
		names = append(names, string(api))
	}
	seen := map[string]bool{}
	for i, api := range a.APIs {
		p := path.Child("apis").Index(i)
		switch {
		case !known[api]:
			errs = append(errs, field.NotSupported(p, api, names))
		case seen[api]:
			errs = append(errs, field.Duplicate(p, api))
		}
		seen[api] = true
	}
	return errs
}
