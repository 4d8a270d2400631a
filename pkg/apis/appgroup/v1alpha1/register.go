package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of the AppGroup CRD. Its pod labels are
// named after it too (AppGroupLabel).
const GroupName = "appgroup.diktyo.x-k8s.io"

// Version is the only version of the AppGroup CRD upstream serves.
const Version = "v1alpha1"

// SchemeGroupVersion is the group and version of this package's types,
// under the name client-go's generated code and schemes expect.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// AppGroupResource names the appgroups resource for the dynamic client
// and informers, which address CRDs by resource rather than by Go type.
var AppGroupResource = SchemeGroupVersion.WithResource("appgroups")

// AppGroupKind is the kind of an AppGroup, for objects built in Go whose
// TypeMeta must be set before they are sent as unstructured data.
var AppGroupKind = SchemeGroupVersion.WithKind("AppGroup")

// Resource qualifies a resource name with this package's group, the form
// API errors and RBAC checks name resources by.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// AddToScheme registers AppGroup and AppGroupList with s, so that typed
// clients, informers and codecs built on s can decode them. It is a plain
// function: callers decide which schemes know these types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &AppGroup{}, &AppGroupList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
