package conformance

import (
	"fmt"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	resourceinternal "k8s.io/kubernetes/pkg/apis/resource"
	_ "k8s.io/kubernetes/pkg/apis/resource/install" // registers resource.k8s.io defaulting and conversion
	"k8s.io/kubernetes/pkg/apis/resource/validation"
	deviceclassregistry "k8s.io/kubernetes/pkg/registry/resource/deviceclass"
	devicetaintruleregistry "k8s.io/kubernetes/pkg/registry/resource/devicetaintrule"
	claimregistry "k8s.io/kubernetes/pkg/registry/resource/resourceclaim"
	claimtemplateregistry "k8s.io/kubernetes/pkg/registry/resource/resourceclaimtemplate"
	sliceregistry "k8s.io/kubernetes/pkg/registry/resource/resourceslice"
)

// admissionNamespaces answers the namespace lookups of the ResourceClaim
// strategies: admin access to devices needs the
// resource.kubernetes.io/admin-access=true label on the claim's namespace.
var admissionNamespaces corev1client.NamespaceInterface = fake.NewClientset(namespaceObjects()...).CoreV1().Namespaces()

// admitDRAObject admits a resource.k8s.io object as AdmitObject does
// storage objects; ok is false for any other kind. A ResourceClaim's status
// (which create resets) is kept as generated, after passing the validation
// of a status update from an empty status, as the controller or scheduler
// that wrote it would have had to; so is a deletion timestamp (held by the
// claim's finalizer).
func admitDRAObject(obj runtime.Object) (out runtime.Object, ok bool, err error) {
	switch o := obj.(type) {
	case *resourcev1.DeviceClass:
		out, err = admit(o, &resourceinternal.DeviceClass{}, &resourcev1.DeviceClass{}, deviceclassregistry.Strategy)
	case *resourcev1.ResourceSlice:
		out, err = admit(o, &resourceinternal.ResourceSlice{}, &resourcev1.ResourceSlice{}, sliceregistry.Strategy)
	case *resourcev1.DeviceTaintRule:
		out, err = admit(o, &resourceinternal.DeviceTaintRule{}, &resourcev1.DeviceTaintRule{}, devicetaintruleregistry.Strategy)
	case *resourcev1.ResourceClaimTemplate:
		out, err = admit(o, &resourceinternal.ResourceClaimTemplate{}, &resourcev1.ResourceClaimTemplate{}, claimtemplateregistry.NewStrategy(admissionNamespaces))
	case *resourcev1.ResourceClaim:
		out, err = admitClaim(o)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func admitClaim(o *resourcev1.ResourceClaim) (*resourcev1.ResourceClaim, error) {
	out, err := admit(o, &resourceinternal.ResourceClaim{}, &resourcev1.ResourceClaim{}, claimregistry.NewStrategy(admissionNamespaces, nil))
	if err != nil {
		return nil, err
	}
	withStatus := out.DeepCopy()
	withStatus.Status = *o.Status.DeepCopy()
	var newClaim, oldClaim resourceinternal.ResourceClaim
	if err := legacyscheme.Scheme.Convert(withStatus, &newClaim, nil); err != nil {
		return nil, err
	}
	if err := legacyscheme.Scheme.Convert(out, &oldClaim, nil); err != nil {
		return nil, err
	}
	// An update names the version it replaces, and the status was written
	// before any deletion began.
	newClaim.ResourceVersion, oldClaim.ResourceVersion = "1", "1"
	newClaim.DeletionTimestamp, oldClaim.DeletionTimestamp = nil, nil
	if errs := validation.ValidateResourceClaimStatusUpdate(&newClaim, &oldClaim); len(errs) > 0 {
		return nil, fmt.Errorf("ResourceClaim %s/%s status is invalid: %w", o.Namespace, o.Name, errs.ToAggregate())
	}
	withStatus.DeletionTimestamp = o.DeletionTimestamp
	return withStatus, nil
}
