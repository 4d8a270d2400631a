package v1beta1

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Written by hand rather than generated: the types are few and small, and
// a generator would be a build dependency for a handful of methods. Every
// map, slice and pointer is copied; types_test.go checks that a mutated
// copy leaves the original alone. Add a field here whenever one is added
// to types.go.

var (
	_ runtime.Object = (*PodGroup)(nil)
	_ runtime.Object = (*PodGroupList)(nil)
)

// DeepCopyInto copies in into out, sharing no memory, so that objects
// from an informer's cache can be changed without corrupting the cache.
func (in *PodGroup) DeepCopyInto(out *PodGroup) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *PodGroup) DeepCopy() *PodGroup {
	if in == nil {
		return nil
	}
	out := new(PodGroup)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, which schemes,
// informers and clients need.
func (in *PodGroup) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *PodGroupSpec) DeepCopyInto(out *PodGroupSpec) {
	*out = *in
	if in.MinTaskMember != nil {
		out.MinTaskMember = make(map[string]int32, len(in.MinTaskMember))
		for task, n := range in.MinTaskMember {
			out.MinTaskMember[task] = n
		}
	}
	if in.MinResources != nil {
		// A pointer to a nil list copies to a pointer to a nil list,
		// not to an empty one, so the copy encodes as the original does.
		var list v1.ResourceList
		if *in.MinResources != nil {
			list = make(v1.ResourceList, len(*in.MinResources))
			for name, q := range *in.MinResources {
				list[name] = q.DeepCopy()
			}
		}
		out.MinResources = &list
	}
}

// DeepCopy returns a copy of in that shares no memory with it.
func (in *PodGroupSpec) DeepCopy() *PodGroupSpec {
	if in == nil {
		return nil
	}
	out := new(PodGroupSpec)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *PodGroupStatus) DeepCopyInto(out *PodGroupStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]PodGroupCondition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

// DeepCopy returns a copy of in that shares no memory with it.
func (in *PodGroupStatus) DeepCopy() *PodGroupStatus {
	if in == nil {
		return nil
	}
	out := new(PodGroupStatus)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *PodGroupCondition) DeepCopyInto(out *PodGroupCondition) {
	*out = *in
	in.LastTransitionTime.DeepCopyInto(&out.LastTransitionTime)
}

// DeepCopy returns a copy of in that shares no memory with it.
func (in *PodGroupCondition) DeepCopy() *PodGroupCondition {
	if in == nil {
		return nil
	}
	out := new(PodGroupCondition)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *PodGroupList) DeepCopyInto(out *PodGroupList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]PodGroup, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *PodGroupList) DeepCopy() *PodGroupList {
	if in == nil {
		return nil
	}
	out := new(PodGroupList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, for lists returned by
// clients and informers.
func (in *PodGroupList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
