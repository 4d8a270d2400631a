package pluginutil

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DecodeArgs turns the args a plugin factory receives into the plugin's
// own defaulted and validated copy: nil means the defaults, args of another
// type are an error naming the plugin, and every validation problem is
// reported (under path). setDefaults may be nil.
func DecodeArgs[T any, PT interface {
	*T
	runtime.Object
}](plugin string, obj runtime.Object, setDefaults func(PT), validate func(PT, *field.Path) field.ErrorList, path *field.Path) (PT, error) {
	args := PT(new(T))
	if obj != nil {
		a, ok := obj.(PT)
		if !ok {
			return nil, fmt.Errorf("plugin %s wants args of type %T, got %T", plugin, args, obj)
		}
		if a != nil {
			args = a.DeepCopyObject().(PT)
		}
	}
	if setDefaults != nil {
		setDefaults(args)
	}
	if errs := validate(args, path); len(errs) > 0 {
		return nil, fmt.Errorf("invalid %s args: %w", plugin, errs.ToAggregate())
	}
	return args, nil
}
