package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// Written by hand rather than generated: the types are few and small, and
// a generator would be a build dependency for a handful of methods. Every
// slice is copied; types_test.go checks that a mutated copy leaves the
// original alone. Add a field here whenever one with a slice, map or
// pointer is added to types.go.

var (
	_ runtime.Object = (*AppGroup)(nil)
	_ runtime.Object = (*AppGroupList)(nil)
)

// DeepCopyInto copies in into out, sharing no memory, so that objects
// from an informer's cache can be changed without corrupting the cache.
func (in *AppGroup) DeepCopyInto(out *AppGroup) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *AppGroup) DeepCopy() *AppGroup {
	if in == nil {
		return nil
	}
	out := new(AppGroup)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, which schemes,
// informers and clients need.
func (in *AppGroup) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *AppGroupSpec) DeepCopyInto(out *AppGroupSpec) {
	*out = *in
	if in.Workloads != nil {
		out.Workloads = make([]AppGroupWorkload, len(in.Workloads))
		for i := range in.Workloads {
			in.Workloads[i].DeepCopyInto(&out.Workloads[i])
		}
	}
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *AppGroupWorkload) DeepCopyInto(out *AppGroupWorkload) {
	*out = *in
	if in.Dependencies != nil {
		// DependenciesInfo holds no pointers, slices or maps.
		out.Dependencies = append([]DependenciesInfo(nil), in.Dependencies...)
	}
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *AppGroupList) DeepCopyInto(out *AppGroupList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]AppGroup, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *AppGroupList) DeepCopy() *AppGroupList {
	if in == nil {
		return nil
	}
	out := new(AppGroupList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, for lists returned by
// clients and informers.
func (in *AppGroupList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
