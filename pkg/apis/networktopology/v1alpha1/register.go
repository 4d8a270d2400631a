package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of the NetworkTopology CRD.
const GroupName = "networktopology.diktyo.x-k8s.io"

// Version is the only version of the NetworkTopology CRD upstream serves.
const Version = "v1alpha1"

// SchemeGroupVersion is the group and version of this package's types,
// under the name client-go's generated code and schemes expect.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// NetworkTopologyResource names the networktopologies resource for the
// dynamic client and informers, which address CRDs by resource.
var NetworkTopologyResource = SchemeGroupVersion.WithResource("networktopologies")

// NetworkTopologyKind is the kind of a NetworkTopology, for objects built
// in Go whose TypeMeta must be set before they are sent as unstructured
// data.
var NetworkTopologyKind = SchemeGroupVersion.WithKind("NetworkTopology")

// Resource qualifies a resource name with this package's group, the form
// API errors and RBAC checks name resources by.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

// AddToScheme registers NetworkTopology and NetworkTopologyList with s,
// so that typed clients, informers and codecs built on s can decode them.
// It is a plain function: callers decide which schemes know these types.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &NetworkTopology{}, &NetworkTopologyList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}
