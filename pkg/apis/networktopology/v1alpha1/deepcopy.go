package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// Written by hand rather than generated: the types are few and small.
// Every slice is copied; types_test.go checks that a mutated copy leaves
// the original alone. Add a field here whenever one with a slice, map or
// pointer is added to types.go.

var (
	_ runtime.Object = (*NetworkTopology)(nil)
	_ runtime.Object = (*NetworkTopologyList)(nil)
)

// DeepCopyInto copies in into out, sharing no memory, so that objects
// from an informer's cache can be changed without corrupting the cache.
func (in *NetworkTopology) DeepCopyInto(out *NetworkTopology) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *NetworkTopology) DeepCopy() *NetworkTopology {
	if in == nil {
		return nil
	}
	out := new(NetworkTopology)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, which schemes,
// informers and clients need.
func (in *NetworkTopology) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *NetworkTopologySpec) DeepCopyInto(out *NetworkTopologySpec) {
	*out = *in
	if in.Weights == nil {
		return
	}
	out.Weights = make([]WeightInfo, len(in.Weights))
	for i, w := range in.Weights {
		out.Weights[i] = WeightInfo{Name: w.Name}
		if w.TopologyList == nil {
			continue
		}
		out.Weights[i].TopologyList = make([]TopologyInfo, len(w.TopologyList))
		for j, t := range w.TopologyList {
			out.Weights[i].TopologyList[j] = TopologyInfo{TopologyKey: t.TopologyKey}
			if t.OriginList == nil {
				continue
			}
			origins := make([]OriginInfo, len(t.OriginList))
			for k, o := range t.OriginList {
				// CostInfo holds no pointers, slices or maps.
				origins[k] = OriginInfo{Origin: o.Origin}
				if o.CostList != nil {
					origins[k].CostList = append([]CostInfo(nil), o.CostList...)
				}
			}
			out.Weights[i].TopologyList[j].OriginList = origins
		}
	}
}

// DeepCopyInto copies in into out, sharing no memory.
func (in *NetworkTopologyList) DeepCopyInto(out *NetworkTopologyList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]NetworkTopology, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of in that shares no memory with it; nil stays
// nil.
func (in *NetworkTopologyList) DeepCopy() *NetworkTopologyList {
	if in == nil {
		return nil
	}
	out := new(NetworkTopologyList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject is DeepCopy as a runtime.Object, for lists returned by
// clients and informers.
func (in *NetworkTopologyList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}
