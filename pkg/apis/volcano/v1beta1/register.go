package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of Volcano's scheduling CRDs (PodGroup,
// Queue).
const GroupName = "scheduling.volcano.sh"

// Version is the PodGroup version Volcano stores and serves.
const Version = "v1beta1"

// SchemeGroupVersion is the group and version of this package's types,
// under the name client-go's generated code and schemes expect.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// GroupVersion is SchemeGroupVersion under the name controller-runtime
// style code uses, so that either kind of caller finds it.
var GroupVersion = SchemeGroupVersion

// PodGroupResource names the podgroups resource for the dynamic client and
// informers, which address CRDs by resource rather than by Go type.
var PodGroupResource = SchemeGroupVersion.WithResource("podgroups")

// PodGroupKind is the kind of a PodGroup, for objects built in Go whose
// TypeMeta must be set before they are sent as unstructured data.
var PodGroupKind = SchemeGroupVersion.WithKind("PodGroup")

// Resource qualifies a resource name with this package's group, the form
// API errors (NotFound, Conflict) and RBAC checks name resources by.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// AddToScheme registers PodGroup and PodGroupList with s, so that typed
// clients, informers and codecs built on s can decode them. It is a plain
// function: callers decide which schemes know these types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &PodGroup{}, &PodGroupList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
