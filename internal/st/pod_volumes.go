package st

import v1 "k8s.io/api/core/v1"

// Volume adds a volume to the pod.
func (p *PodWrapper) Volume(v v1.Volume) *PodWrapper {
	p.Spec.Volumes = append(p.Spec.Volumes, v)
	return p
}

// PVC adds a volume, named after the claim, that uses the
// PersistentVolumeClaim claim of the pod's namespace.
func (p *PodWrapper) PVC(claim string) *PodWrapper {
	return p.Volume(v1.Volume{Name: claim, VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
}

// EphemeralVolume adds a generic ephemeral volume name whose claim template
// asks for storage class sc ("" leaves the class unset). Its claim is
// "<pod>-<name>", created by the ephemeral volume controller; build it
// with MakePVC(...).OwnedBy(pod).
func (p *PodWrapper) EphemeralVolume(name, sc string) *PodWrapper {
	tmpl := &v1.PersistentVolumeClaimTemplate{Spec: v1.PersistentVolumeClaimSpec{
		AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}}}
	if sc != "" {
		tmpl.Spec.StorageClassName = &sc
	}
	return p.Volume(v1.Volume{Name: name, VolumeSource: v1.VolumeSource{
		Ephemeral: &v1.EphemeralVolumeSource{VolumeClaimTemplate: tmpl}}})
}

// GCEPersistentDisk adds an in-line GCE persistent disk volume.
func (p *PodWrapper) GCEPersistentDisk(pdName string, readOnly bool) *PodWrapper {
	return p.Volume(v1.Volume{Name: "gce-" + pdName, VolumeSource: v1.VolumeSource{
		GCEPersistentDisk: &v1.GCEPersistentDiskVolumeSource{PDName: pdName, ReadOnly: readOnly}}})
}

// AWSElasticBlockStore adds an in-line AWS EBS volume.
func (p *PodWrapper) AWSElasticBlockStore(volumeID string) *PodWrapper {
	return p.Volume(v1.Volume{Name: "ebs-" + volumeID, VolumeSource: v1.VolumeSource{
		AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: volumeID}}})
}
