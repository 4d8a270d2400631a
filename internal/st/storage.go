package st

import (
	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PVWrapper builds a PersistentVolume.
type PVWrapper struct{ v1.PersistentVolume }

// MakePV starts a PersistentVolume named name, with a UID derived from the
// name and no source (set one with CSI, HostPath or Source).
func MakePV(name string) *PVWrapper {
	pv := &PVWrapper{}
	pv.PersistentVolume.Name = name
	pv.PersistentVolume.UID = types.UID("pv-uid-" + name)
	return pv
}

// Obj returns the PersistentVolume.
func (p *PVWrapper) Obj() *v1.PersistentVolume { return &p.PersistentVolume }

// Label adds a label (zone and region labels are what VolumeZone reads).
func (p *PVWrapper) Label(k, v string) *PVWrapper {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[k] = v
	return p
}

// Annotation adds an annotation.
func (p *PVWrapper) Annotation(k, v string) *PVWrapper {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[k] = v
	return p
}

// Class sets spec.storageClassName.
func (p *PVWrapper) Class(sc string) *PVWrapper { p.Spec.StorageClassName = sc; return p }

// Capacity sets spec.capacity's storage, e.g. Capacity("10Gi").
func (p *PVWrapper) Capacity(q string) *PVWrapper {
	p.Spec.Capacity = v1.ResourceList{v1.ResourceStorage: resource.MustParse(q)}
	return p
}

// AccessModes sets spec.accessModes.
func (p *PVWrapper) AccessModes(modes ...v1.PersistentVolumeAccessMode) *PVWrapper {
	p.Spec.AccessModes = modes
	return p
}

// VolumeMode sets spec.volumeMode.
func (p *PVWrapper) VolumeMode(m v1.PersistentVolumeMode) *PVWrapper {
	p.Spec.VolumeMode = &m
	return p
}

// ReclaimPolicy sets spec.persistentVolumeReclaimPolicy.
func (p *PVWrapper) ReclaimPolicy(r v1.PersistentVolumeReclaimPolicy) *PVWrapper {
	p.Spec.PersistentVolumeReclaimPolicy = r
	return p
}

// Source sets the volume source.
func (p *PVWrapper) Source(src v1.PersistentVolumeSource) *PVWrapper {
	p.Spec.PersistentVolumeSource = src
	return p
}

// CSI makes the volume a CSI volume of driver with the volume handle.
func (p *PVWrapper) CSI(driver, handle string) *PVWrapper {
	return p.Source(v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: driver, VolumeHandle: handle}})
}

// HostPath makes the volume a hostPath volume.
func (p *PVWrapper) HostPath(path string) *PVWrapper {
	return p.Source(v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: path}})
}

// NodeAffinity sets spec.nodeAffinity.
func (p *PVWrapper) NodeAffinity(na *v1.VolumeNodeAffinity) *PVWrapper {
	p.Spec.NodeAffinity = na
	return p
}

// NodeAffinityIn adds a required node-selector term key In values to
// spec.nodeAffinity (terms are ORed).
func (p *PVWrapper) NodeAffinityIn(key string, values ...string) *PVWrapper {
	if p.Spec.NodeAffinity == nil {
		p.Spec.NodeAffinity = &v1.VolumeNodeAffinity{}
	}
	if p.Spec.NodeAffinity.Required == nil {
		p.Spec.NodeAffinity.Required = &v1.NodeSelector{}
	}
	req := p.Spec.NodeAffinity.Required
	req.NodeSelectorTerms = append(req.NodeSelectorTerms, v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
		{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}}})
	return p
}

// ClaimRef sets spec.claimRef to the claim namespace/name (pre-bound, or
// bound when the claim names the volume too). The UID is the one MakePVC
// gives the claim.
func (p *PVWrapper) ClaimRef(namespace, name string) *PVWrapper {
	p.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: namespace, Name: name, UID: pvcUID(namespace, name)}
	return p
}

// Phase sets status.phase.
func (p *PVWrapper) Phase(ph v1.PersistentVolumePhase) *PVWrapper { p.Status.Phase = ph; return p }

// PVCWrapper builds a PersistentVolumeClaim.
type PVCWrapper struct{ v1.PersistentVolumeClaim }

// MakePVC starts a PersistentVolumeClaim name in namespace ns, with a UID
// derived from both.
func MakePVC(name, ns string) *PVCWrapper {
	c := &PVCWrapper{}
	c.PersistentVolumeClaim.Name = name
	c.PersistentVolumeClaim.Namespace = ns
	c.PersistentVolumeClaim.UID = pvcUID(ns, name)
	return c
}

func pvcUID(ns, name string) types.UID { return types.UID("pvc-uid-" + ns + "-" + name) }

// Obj returns the claim.
func (c *PVCWrapper) Obj() *v1.PersistentVolumeClaim { return &c.PersistentVolumeClaim }

// UID sets the UID.
func (c *PVCWrapper) UID(u string) *PVCWrapper { c.PersistentVolumeClaim.UID = types.UID(u); return c }

// Label adds a label.
func (c *PVCWrapper) Label(k, v string) *PVCWrapper {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[k] = v
	return c
}

// Annotation adds an annotation (e.g. volume.kubernetes.io/selected-node).
func (c *PVCWrapper) Annotation(k, v string) *PVCWrapper {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[k] = v
	return c
}

// Class sets spec.storageClassName ("" is the explicit empty class, which
// is different from not setting it: see NoClass).
func (c *PVCWrapper) Class(sc string) *PVCWrapper { c.Spec.StorageClassName = &sc; return c }

// NoClass clears spec.storageClassName (the cluster default applies).
func (c *PVCWrapper) NoClass() *PVCWrapper { c.Spec.StorageClassName = nil; return c }

// VolumeName sets spec.volumeName, binding (or pre-binding) the claim to
// the named PersistentVolume.
func (c *PVCWrapper) VolumeName(pv string) *PVCWrapper { c.Spec.VolumeName = pv; return c }

// AccessModes sets spec.accessModes.
func (c *PVCWrapper) AccessModes(modes ...v1.PersistentVolumeAccessMode) *PVCWrapper {
	c.Spec.AccessModes = modes
	return c
}

// Request sets spec.resources.requests' storage, e.g. Request("5Gi").
func (c *PVCWrapper) Request(q string) *PVCWrapper {
	c.Spec.Resources.Requests = v1.ResourceList{v1.ResourceStorage: resource.MustParse(q)}
	return c
}

// VolumeMode sets spec.volumeMode.
func (c *PVCWrapper) VolumeMode(m v1.PersistentVolumeMode) *PVCWrapper {
	c.Spec.VolumeMode = &m
	return c
}

// Selector sets spec.selector.
func (c *PVCWrapper) Selector(sel *metav1.LabelSelector) *PVCWrapper { c.Spec.Selector = sel; return c }

// OwnedBy makes pod the claim's controlling owner, as the ephemeral
// volume controller does for the claim of a generic ephemeral volume.
func (c *PVCWrapper) OwnedBy(pod *v1.Pod) *PVCWrapper {
	controller := true
	c.OwnerReferences = append(c.OwnerReferences, metav1.OwnerReference{
		APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: &controller})
	return c
}

// Phase sets status.phase.
func (c *PVCWrapper) Phase(ph v1.PersistentVolumeClaimPhase) *PVCWrapper {
	c.Status.Phase = ph
	return c
}

// Bound sets status.phase Bound, with status.capacity when q is not "".
func (c *PVCWrapper) Bound(q string) *PVCWrapper {
	c.Status.Phase = v1.ClaimBound
	if q != "" {
		c.Status.Capacity = v1.ResourceList{v1.ResourceStorage: resource.MustParse(q)}
	}
	return c
}

// StorageClassWrapper builds a StorageClass.
type StorageClassWrapper struct{ storagev1.StorageClass }

// MakeStorageClass starts a StorageClass with no provisioner and no
// volumeBindingMode (the API server would default it to Immediate; unit
// tests see the object as built).
func MakeStorageClass(name string) *StorageClassWrapper {
	sc := &StorageClassWrapper{}
	sc.StorageClass.Name = name
	return sc
}

// Obj returns the StorageClass.
func (s *StorageClassWrapper) Obj() *storagev1.StorageClass { return &s.StorageClass }

// Provisioner sets the provisioner (a CSI driver or an in-tree plugin name).
func (s *StorageClassWrapper) Provisioner(p string) *StorageClassWrapper {
	s.StorageClass.Provisioner = p
	return s
}

// BindingMode sets volumeBindingMode.
func (s *StorageClassWrapper) BindingMode(m storagev1.VolumeBindingMode) *StorageClassWrapper {
	s.VolumeBindingMode = &m
	return s
}

// Immediate sets volumeBindingMode Immediate.
func (s *StorageClassWrapper) Immediate() *StorageClassWrapper {
	return s.BindingMode(storagev1.VolumeBindingImmediate)
}

// WaitForFirstConsumer sets volumeBindingMode WaitForFirstConsumer.
func (s *StorageClassWrapper) WaitForFirstConsumer() *StorageClassWrapper {
	return s.BindingMode(storagev1.VolumeBindingWaitForFirstConsumer)
}

// AllowedTopology adds an allowedTopologies term with one requirement, key
// in values (terms are ORed).
func (s *StorageClassWrapper) AllowedTopology(key string, values ...string) *StorageClassWrapper {
	s.AllowedTopologies = append(s.AllowedTopologies, v1.TopologySelectorTerm{
		MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: key, Values: values}}})
	return s
}

// Parameter adds a provisioner parameter.
func (s *StorageClassWrapper) Parameter(k, v string) *StorageClassWrapper {
	if s.Parameters == nil {
		s.Parameters = map[string]string{}
	}
	s.Parameters[k] = v
	return s
}

// Annotation adds an annotation (e.g. the default-class annotation).
func (s *StorageClassWrapper) Annotation(k, v string) *StorageClassWrapper {
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[k] = v
	return s
}

// AllowVolumeExpansion sets allowVolumeExpansion.
func (s *StorageClassWrapper) AllowVolumeExpansion(b bool) *StorageClassWrapper {
	s.StorageClass.AllowVolumeExpansion = &b
	return s
}

// ReclaimPolicy sets reclaimPolicy.
func (s *StorageClassWrapper) ReclaimPolicy(r v1.PersistentVolumeReclaimPolicy) *StorageClassWrapper {
	s.StorageClass.ReclaimPolicy = &r
	return s
}
