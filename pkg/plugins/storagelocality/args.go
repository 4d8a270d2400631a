package storagelocality

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CapacityMode says how local free capacity ranks nodes.
type CapacityMode string

const (
	// Pack prefers the node with the least free capacity that still holds
	// the claims, keeping large free extents for large claims.
	Pack CapacityMode = "Pack"
	// Spread prefers the node with the most free capacity left.
	Spread CapacityMode = "Spread"
)

// Args configures StorageLocality (pluginConfig name "StorageLocality").
// Weights are relative: a signal that does not apply to a pod (no bound
// volumes, no tracked capacity) is left out of its weighted mean.
type Args struct {
	metav1.TypeMeta `json:",inline"`

	// CapacityMode is Pack or Spread (default Spread).
	CapacityMode CapacityMode `json:"capacityMode,omitempty"`
	// ZoneWeight weighs zone cohesion with the pod's bound volumes
	// (default 2).
	ZoneWeight *int32 `json:"zoneWeight,omitempty"`
	// ClassWeight weighs locality to volumes of the same class the pod
	// already uses (default 2).
	ClassWeight *int32 `json:"classWeight,omitempty"`
	// CapacityWeight weighs local free capacity (default 1).
	CapacityWeight *int32 `json:"capacityWeight,omitempty"`
}

// MaxWeight bounds each weight.
const MaxWeight int32 = 100

// DeepCopyObject implements runtime.Object.
func (a *Args) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := *a
	for _, p := range []**int32{&out.ZoneWeight, &out.ClassWeight, &out.CapacityWeight} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return &out
}

// SetDefaultArgs fills the defaults: Spread, weights 2/2/1.
func SetDefaultArgs(a *Args) {
	if a.CapacityMode == "" {
		a.CapacityMode = Spread
	}
	def := func(p **int32, v int32) {
		if *p == nil {
			*p = &v
		}
	}
	def(&a.ZoneWeight, 2)
	def(&a.ClassWeight, 2)
	def(&a.CapacityWeight, 1)
}

// ValidateArgs checks the mode and that weights are in [0, MaxWeight] and
// not all zero.
func ValidateArgs(a *Args, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a.CapacityMode != Pack && a.CapacityMode != Spread {
		errs = append(errs, field.NotSupported(path.Child("capacityMode"), a.CapacityMode, []string{string(Pack), string(Spread)}))
	}
	total := int32(0)
	for _, nw := range []struct {
		name string
		w    *int32
	}{{"zoneWeight", a.ZoneWeight}, {"classWeight", a.ClassWeight}, {"capacityWeight", a.CapacityWeight}} {
		name, w := nw.name, nw.w
		if w == nil {
			continue
		}
		if *w < 0 || *w > MaxWeight {
			errs = append(errs, field.Invalid(path.Child(name), *w, fmt.Sprintf("not in valid range [0, %d]", MaxWeight)))
		}
		total += *w
	}
	if total == 0 && a.ZoneWeight != nil && a.ClassWeight != nil && a.CapacityWeight != nil {
		errs = append(errs, field.Invalid(path, "all weights 0", "at least one weight must be positive"))
	}
	return errs
}
