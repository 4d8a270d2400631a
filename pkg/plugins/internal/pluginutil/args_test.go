package pluginutil

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"
)

func TestDecodeArgs(t *testing.T) {
	def := func(a *configv1.VolumeBindingArgs) {
		if a.BindTimeoutSeconds == nil {
			v := int64(600)
			a.BindTimeoutSeconds = &v
		}
	}
	validate := func(a *configv1.VolumeBindingArgs, p *field.Path) field.ErrorList {
		if *a.BindTimeoutSeconds < 0 {
			return field.ErrorList{field.Invalid(p.Child("bindTimeoutSeconds"), *a.BindTimeoutSeconds, "negative")}
		}
		return nil
	}
	got, err := DecodeArgs("VB", nil, def, validate, nil)
	if err != nil || *got.BindTimeoutSeconds != 600 {
		t.Fatalf("nil args: %v, %v; want the defaults", got, err)
	}
	five := int64(5)
	in := &configv1.VolumeBindingArgs{BindTimeoutSeconds: &five}
	got, err = DecodeArgs("VB", in, def, validate, nil)
	if err != nil || *got.BindTimeoutSeconds != 5 {
		t.Fatalf("given args: %v, %v", got, err)
	}
	*got.BindTimeoutSeconds = 7
	if *in.BindTimeoutSeconds != 5 {
		t.Error("the plugin's copy shares memory with the caller's args")
	}
	if _, err := DecodeArgs("VB", &configv1.NodeAffinityArgs{}, def, validate, nil); err == nil ||
		!strings.Contains(err.Error(), "plugin VB wants args of type *v1.VolumeBindingArgs, got *v1.NodeAffinityArgs") {
		t.Errorf("wrong type: err = %v", err)
	}
	neg := int64(-1)
	if _, err := DecodeArgs("VB", &configv1.VolumeBindingArgs{BindTimeoutSeconds: &neg}, def, validate, field.NewPath("args")); err == nil ||
		!strings.Contains(err.Error(), "invalid VB args: args.bindTimeoutSeconds: Invalid value: -1: negative") {
		t.Errorf("invalid: err = %v", err)
	}
}
