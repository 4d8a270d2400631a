package st

import v1 "k8s.io/api/core/v1"

// NodeAffinityFieldTerm adds one required node-selector term made of field
// requirements (matchFields, e.g. metadata.name In [n1]), ORed with the
// other terms.
func (p *PodWrapper) NodeAffinityFieldTerm(reqs ...v1.NodeSelectorRequirement) *PodWrapper {
	p.NodeAffinityTerm()
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	terms[len(terms)-1] = v1.NodeSelectorTerm{MatchFields: reqs}
	return p
}

// NodeAffinityNameIn adds a required node-selector term that pins the pod
// to the named nodes through matchFields metadata.name In.
func (p *PodWrapper) NodeAffinityNameIn(names ...string) *PodWrapper {
	return p.NodeAffinityFieldTerm(v1.NodeSelectorRequirement{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: names})
}

// EqualToleration adds a toleration for key=value with effect
// (Equal operator; an empty effect tolerates every effect).
func (p *PodWrapper) EqualToleration(key, value string, effect v1.TaintEffect) *PodWrapper {
	return p.Toleration(v1.Toleration{Key: key, Operator: v1.TolerationOpEqual, Value: value, Effect: effect})
}

// ExistsToleration adds a toleration for any value of key with effect (an
// empty key tolerates every taint).
func (p *PodWrapper) ExistsToleration(key string, effect v1.TaintEffect) *PodWrapper {
	return p.Toleration(v1.Toleration{Key: key, Operator: v1.TolerationOpExists, Effect: effect})
}

// InitImage adds a plain init container running image.
func (p *PodWrapper) InitImage(image string) *PodWrapper {
	p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "init-" + image, Image: image})
	return p
}

// ContainerImage adds a container running image.
func (p *PodWrapper) ContainerImage(image string) *PodWrapper {
	p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "c-" + image, Image: image})
	return p
}

// ImageVolume adds an image volume referencing image.
func (p *PodWrapper) ImageVolume(name, image string) *PodWrapper {
	p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: name,
		VolumeSource: v1.VolumeSource{Image: &v1.ImageVolumeSource{Reference: image}}})
	return p
}
