package conformance

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	api "k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install" // registers core/v1 defaulting and conversion
	storageapi "k8s.io/kubernetes/pkg/apis/storage"
	_ "k8s.io/kubernetes/pkg/apis/storage/install" // registers storage/v1 defaulting and conversion
	noderegistry "k8s.io/kubernetes/pkg/registry/core/node"
	pvregistry "k8s.io/kubernetes/pkg/registry/core/persistentvolume"
	pvcregistry "k8s.io/kubernetes/pkg/registry/core/persistentvolumeclaim"
	podregistry "k8s.io/kubernetes/pkg/registry/core/pod"
	csidriverregistry "k8s.io/kubernetes/pkg/registry/storage/csidriver"
	csinoderegistry "k8s.io/kubernetes/pkg/registry/storage/csinode"
	capacityregistry "k8s.io/kubernetes/pkg/registry/storage/csistoragecapacity"
	classregistry "k8s.io/kubernetes/pkg/registry/storage/storageclass"
	varegistry "k8s.io/kubernetes/pkg/registry/storage/volumeattachment"
)

// AdmitPod returns pod as the API server would store it on create: v1
// defaulting, the pod strategy's PrepareForCreate (dropping disabled fields,
// merging matchLabelKeys, defaulting pod-level resources) and validation.
// A validation error means the generator made an invalid pod.
func AdmitPod(pod *v1.Pod) (*v1.Pod, error) {
	ctx := genericapirequest.WithNamespace(context.Background(), pod.Namespace)
	in := pod.DeepCopy()
	legacyscheme.Scheme.Default(in)
	internal := &api.Pod{}
	if err := legacyscheme.Scheme.Convert(in, internal, nil); err != nil {
		return nil, err
	}
	podregistry.Strategy.PrepareForCreate(ctx, internal)
	if errs := podregistry.Strategy.Validate(ctx, internal); len(errs) > 0 {
		return nil, fmt.Errorf("pod %s/%s is invalid: %w", pod.Namespace, pod.Name, errs.ToAggregate())
	}
	out := &v1.Pod{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	// Bound pods come from the generator with a phase the create path resets,
	// and pods with claims from templates with the names of the claims the
	// resourceclaim controller made for them.
	out.Status.Phase = pod.Status.Phase
	out.Status.ResourceClaimStatuses = pod.Status.ResourceClaimStatuses
	if out.Status.Phase == "" {
		out.Status.Phase = v1.PodPending
	}
	return out, nil
}

// AdmitNode is AdmitPod for nodes. Nodes may set status on create, so the
// capacity, allocatable and images are kept as generated.
func AdmitNode(node *v1.Node) (*v1.Node, error) {
	ctx := context.Background()
	in := node.DeepCopy()
	legacyscheme.Scheme.Default(in)
	internal := &api.Node{}
	if err := legacyscheme.Scheme.Convert(in, internal, nil); err != nil {
		return nil, err
	}
	noderegistry.Strategy.PrepareForCreate(ctx, internal)
	if errs := noderegistry.Strategy.Validate(ctx, internal); len(errs) > 0 {
		return nil, fmt.Errorf("node %s is invalid: %w", node.Name, errs.ToAggregate())
	}
	out := &v1.Node{}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// createStrategy is the part of a registry strategy that create runs.
type createStrategy interface {
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
}

// admit runs in (a v1 object) through defaulting, conversion to the internal
// type, the strategy's PrepareForCreate and validation, and converts the
// result back into out.
func admit[T runtime.Object](in T, internal runtime.Object, out T, s createStrategy) (T, error) {
	m, err := meta.Accessor(in)
	if err != nil {
		return out, err
	}
	ctx := genericapirequest.WithNamespace(context.Background(), m.GetNamespace())
	cp := in.DeepCopyObject()
	legacyscheme.Scheme.Default(cp)
	if err := legacyscheme.Scheme.Convert(cp, internal, nil); err != nil {
		return out, err
	}
	s.PrepareForCreate(ctx, internal)
	if errs := s.Validate(ctx, internal); len(errs) > 0 {
		return out, fmt.Errorf("%T %s/%s is invalid: %w", in, m.GetNamespace(), m.GetName(), errs.ToAggregate())
	}
	if err := legacyscheme.Scheme.Convert(internal, out, nil); err != nil {
		return out, err
	}
	return out, nil
}

// AdmitObject admits one storage object as the API server would store it on
// create. Status is kept as generated (a controller would have set it), and
// so is a deletion timestamp (the object is being deleted, held by a
// finalizer).
func AdmitObject(obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *v1.PersistentVolume:
		out, err := admit(o, &api.PersistentVolume{}, &v1.PersistentVolume{}, pvregistry.Strategy)
		if err != nil {
			return nil, err
		}
		out.Status = *o.Status.DeepCopy()
		if out.Status.Phase == "" {
			out.Status.Phase = v1.VolumePending
		}
		out.DeletionTimestamp = o.DeletionTimestamp
		return out, nil
	case *v1.PersistentVolumeClaim:
		out, err := admit(o, &api.PersistentVolumeClaim{}, &v1.PersistentVolumeClaim{}, pvcregistry.Strategy)
		if err != nil {
			return nil, err
		}
		out.Status = *o.Status.DeepCopy()
		if out.Status.Phase == "" {
			out.Status.Phase = v1.ClaimPending
		}
		out.DeletionTimestamp = o.DeletionTimestamp
		return out, nil
	case *storagev1.StorageClass:
		return admit(o, &storageapi.StorageClass{}, &storagev1.StorageClass{}, classregistry.Strategy)
	case *storagev1.CSINode:
		return admit(o, &storageapi.CSINode{}, &storagev1.CSINode{}, csinoderegistry.Strategy)
	case *storagev1.CSIDriver:
		return admit(o, &storageapi.CSIDriver{}, &storagev1.CSIDriver{}, csidriverregistry.Strategy)
	case *storagev1.CSIStorageCapacity:
		return admit(o, &storageapi.CSIStorageCapacity{}, &storagev1.CSIStorageCapacity{}, capacityregistry.Strategy)
	case *storagev1.VolumeAttachment:
		out, err := admit(o, &storageapi.VolumeAttachment{}, &storagev1.VolumeAttachment{}, varegistry.Strategy)
		if err != nil {
			return nil, err
		}
		out.Status = *o.Status.DeepCopy()
		return out, nil
	}
	if out, ok, err := admitDRAObject(obj); ok {
		return out, err
	}
	return nil, fmt.Errorf("no admission for %T", obj)
}

// admitCase admits every object of a case.
func admitCase(c *Cluster, pending []*v1.Pod) (*Cluster, []*v1.Pod, error) {
	out := &Cluster{}
	for _, o := range c.Objects {
		a, err := AdmitObject(o)
		if err != nil {
			return nil, nil, err
		}
		out.Objects = append(out.Objects, a)
	}
	for _, n := range c.Nodes {
		a, err := AdmitNode(n)
		if err != nil {
			return nil, nil, err
		}
		out.Nodes = append(out.Nodes, a)
	}
	for _, p := range c.Pods {
		a, err := AdmitPod(p)
		if err != nil {
			return nil, nil, err
		}
		out.Pods = append(out.Pods, a)
	}
	var ps []*v1.Pod
	for _, p := range pending {
		a, err := AdmitPod(p)
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, a)
	}
	return out, ps, nil
}
