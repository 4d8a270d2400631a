package st

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodWrapper builds a pod.
type PodWrapper struct{ v1.Pod }

// MakePod starts a pod in namespace "default" with one container "c".
func MakePod() *PodWrapper {
	return &PodWrapper{v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "pause"}}},
	}}
}

// Obj returns the pod.
func (p *PodWrapper) Obj() *v1.Pod { return &p.Pod }

// Name sets the name and, unless set, a UID derived from it.
func (p *PodWrapper) Name(n string) *PodWrapper {
	p.Pod.Name = n
	if p.Pod.UID == "" {
		p.Pod.UID = types.UID("uid-" + n)
	}
	return p
}

// UID sets the UID.
func (p *PodWrapper) UID(u string) *PodWrapper { p.Pod.UID = types.UID(u); return p }

// Namespace sets the namespace.
func (p *PodWrapper) Namespace(ns string) *PodWrapper { p.Pod.Namespace = ns; return p }

// Node sets spec.nodeName.
func (p *PodWrapper) Node(n string) *PodWrapper { p.Spec.NodeName = n; return p }

// SchedulerName sets spec.schedulerName.
func (p *PodWrapper) SchedulerName(n string) *PodWrapper { p.Spec.SchedulerName = n; return p }

// Priority sets spec.priority.
func (p *PodWrapper) Priority(v int32) *PodWrapper { p.Spec.Priority = &v; return p }

// Label adds a label.
func (p *PodWrapper) Label(k, v string) *PodWrapper {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[k] = v
	return p
}

// NodeSelector sets spec.nodeSelector.
func (p *PodWrapper) NodeSelector(m map[string]string) *PodWrapper { p.Spec.NodeSelector = m; return p }

// Req adds a container with the requests, e.g. Req("cpu", "500m", "memory", "1Gi").
func (p *PodWrapper) Req(kv ...string) *PodWrapper {
	c := v1.Container{Name: fmt.Sprintf("c%d", len(p.Spec.Containers)), Image: "pause",
		Resources: v1.ResourceRequirements{Requests: ResourceList(kv...)}}
	if len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Resources.Requests == nil && p.Spec.Containers[0].Name == "c" {
		c.Name = "c"
		p.Spec.Containers[0] = c
		return p
	}
	p.Spec.Containers = append(p.Spec.Containers, c)
	return p
}

// InitReq adds a plain init container with the requests.
func (p *PodWrapper) InitReq(kv ...string) *PodWrapper {
	p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{
		Name: fmt.Sprintf("init%d", len(p.Spec.InitContainers)), Image: "pause",
		Resources: v1.ResourceRequirements{Requests: ResourceList(kv...)}})
	return p
}

// SidecarReq adds a sidecar (restartable init container) with the requests.
func (p *PodWrapper) SidecarReq(kv ...string) *PodWrapper {
	always := v1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{
		Name: fmt.Sprintf("sidecar%d", len(p.Spec.InitContainers)), Image: "pause", RestartPolicy: &always,
		Resources: v1.ResourceRequirements{Requests: ResourceList(kv...)}})
	return p
}

// Overhead sets spec.overhead.
func (p *PodWrapper) Overhead(kv ...string) *PodWrapper {
	p.Spec.Overhead = ResourceList(kv...)
	return p
}

// HostPort adds a host port to the first container.
func (p *PodWrapper) HostPort(proto v1.Protocol, hostIP string, port int32) *PodWrapper {
	c := &p.Spec.Containers[0]
	c.Ports = append(c.Ports, v1.ContainerPort{Protocol: proto, HostIP: hostIP, HostPort: port, ContainerPort: port})
	return p
}

// Image sets the first container's image.
func (p *PodWrapper) Image(img string) *PodWrapper { p.Spec.Containers[0].Image = img; return p }

// Toleration adds a toleration.
func (p *PodWrapper) Toleration(t v1.Toleration) *PodWrapper {
	p.Spec.Tolerations = append(p.Spec.Tolerations, t)
	return p
}

// SchedulingGates adds scheduling gates.
func (p *PodWrapper) SchedulingGates(names ...string) *PodWrapper {
	for _, n := range names {
		p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, v1.PodSchedulingGate{Name: n})
	}
	return p
}

// Affinity sets spec.affinity.
func (p *PodWrapper) Affinity(a *v1.Affinity) *PodWrapper { p.Spec.Affinity = a; return p }

// NodeAffinityIn adds a required node affinity term key In values.
func (p *PodWrapper) NodeAffinityIn(key string, values ...string) *PodWrapper {
	return p.NodeAffinityTerm(v1.NodeSelectorRequirement{Key: key, Operator: v1.NodeSelectorOpIn, Values: values})
}

// NodeAffinityTerm adds one required node-selector term (ORed with others).
func (p *PodWrapper) NodeAffinityTerm(reqs ...v1.NodeSelectorRequirement) *PodWrapper {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &v1.NodeAffinity{}
	}
	na := p.Spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{}
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
		na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, v1.NodeSelectorTerm{MatchExpressions: reqs})
	return p
}

// PreferredNodeAffinity adds a preferred node affinity term.
func (p *PodWrapper) PreferredNodeAffinity(weight int32, reqs ...v1.NodeSelectorRequirement) *PodWrapper {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &v1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &v1.NodeAffinity{}
	}
	na := p.Spec.Affinity.NodeAffinity
	na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.PreferredSchedulingTerm{Weight: weight, Preference: v1.NodeSelectorTerm{MatchExpressions: reqs}})
	return p
}

// Phase sets status.phase.
func (p *PodWrapper) Phase(ph v1.PodPhase) *PodWrapper { p.Status.Phase = ph; return p }

// ResourceList builds a ResourceList from name/quantity pairs.
func ResourceList(kv ...string) v1.ResourceList {
	if len(kv)%2 != 0 {
		panic("st.ResourceList needs name/quantity pairs")
	}
	rl := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		rl[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return rl
}
