package conformance

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/utils/ptr"

	"k8s.io/kubernetes/pkg/features"
)

func (g *gen) podMeta(prefix string) metav1.ObjectMeta {
	ns := pick(g, namespaces...).name
	m := metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, g.seq+1), Namespace: ns, UID: g.uid(), Labels: map[string]string{}}
	for _, k := range podKeys {
		if g.chance(0.5) {
			m.Labels[k] = g.podLabelValue(k)
		}
	}
	return m
}

func (g *gen) podLabelValue(key string) string {
	switch key {
	case "app":
		return pick(g, "web", "db", "cache")
	case "tier":
		return pick(g, "frontend", "backend")
	default:
		return pick(g, "v0", "v1", "v2")
	}
}

// boundPod is a running pod on node: requests, host ports, labels and
// sometimes pod (anti-)affinity, which later plugins read from existing pods.
func (g *gen) boundPod(node *v1.Node) *v1.Pod {
	p := &v1.Pod{ObjectMeta: g.podMeta("bound")}
	p.Spec.NodeName = node.Name
	p.Status.Phase = v1.PodRunning
	p.Spec.Containers = g.containers(1+g.r.IntN(2), 0.3, true)
	if g.chance(0.2) {
		p.Spec.InitContainers = g.initContainers()
	}
	if g.chance(0.1) {
		g.overhead(p)
	}
	if g.chance(0.1) {
		g.podLevelResources(p)
	}
	if g.chance(0.3) {
		p.Spec.Affinity = g.podAffinity(p, 0.3)
	}
	if g.chance(0.1) {
		p.Spec.TopologySpreadConstraints = g.spreadConstraints(p)
	}
	return p
}

// pendingPod is a pod to schedule, with any of the fields the compared
// plugins read.
func (g *gen) pendingPod() *v1.Pod {
	p := &v1.Pod{ObjectMeta: g.podMeta("pending")}
	p.Spec.Containers = g.containers(1+g.r.IntN(3), 0.4, false)
	if g.chance(0.35) {
		p.Spec.InitContainers = g.initContainers()
	}
	if g.chance(0.15) {
		g.overhead(p)
	}
	if g.chance(0.15) {
		g.podLevelResources(p)
	}
	if g.chance(0.08) && len(g.nodes) > 0 {
		// Pods created with spec.nodeName skip scheduling, but NodeName
		// is still defined on them (and used by preemption and
		// nominated-pod checks): compare it.
		p.Spec.NodeName = pick(g, g.nodes...).Name
		if g.chance(0.3) {
			p.Spec.NodeName = "node-missing"
		}
	}
	if g.chance(0.15) {
		p.Spec.NodeSelector = map[string]string{}
		for range 1 + g.r.IntN(2) {
			k := pick(g, nodeKeys...)
			p.Spec.NodeSelector[k] = g.nodeLabelValue(k, g.r.IntN(len(g.nodes)+1))
		}
	}
	if g.chance(0.4) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: g.nodeAffinity()}
	}
	if g.chance(0.35) {
		pa := g.podAffinity(p, 0.6)
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &v1.Affinity{}
		}
		p.Spec.Affinity.PodAffinity, p.Spec.Affinity.PodAntiAffinity = pa.PodAffinity, pa.PodAntiAffinity
	}
	if g.chance(0.5) {
		p.Spec.Tolerations = g.tolerations()
	}
	if g.chance(0.35) {
		p.Spec.TopologySpreadConstraints = g.spreadConstraints(p)
	}
	return p
}

// containers returns n regular containers. Requests are sometimes absent
// (best effort), limits are at least the requests, extended resources and
// hugepages have limits equal to requests (validation requires it).
func (g *gen) containers(n int, portChance float64, bound bool) []v1.Container {
	var cs []v1.Container
	ports := map[string]bool{}
	for i := range n {
		c := v1.Container{Name: fmt.Sprintf("c%d", i), Image: pick(g, g.images...).name, Resources: g.resources(bound)}
		if g.chance(portChance) {
			for range 1 + g.r.IntN(2) {
				port := v1.ContainerPort{
					ContainerPort: pick[int32](g, 80, 8080, 9090, 53),
					HostPort:      pick[int32](g, 80, 8080, 9090, 53),
					Protocol:      pick(g, v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP, ""),
					HostIP:        pick(g, "", "", "0.0.0.0", "10.0.0.1", "10.0.0.2", "127.0.0.1", "::"),
				}
				proto := port.Protocol
				if proto == "" {
					proto = v1.ProtocolTCP
				}
				key := fmt.Sprintf("%s/%s/%d", proto, port.HostIP, port.HostPort)
				if ports[key] || ports[fmt.Sprintf("c/%s/%d", proto, port.ContainerPort)] {
					continue
				}
				ports[key], ports[fmt.Sprintf("c/%s/%d", proto, port.ContainerPort)] = true, true
				c.Ports = append(c.Ports, port)
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func (g *gen) resources(bound bool) v1.ResourceRequirements {
	var rr v1.ResourceRequirements
	req, lim := v1.ResourceList{}, v1.ResourceList{}
	if g.chance(0.8) {
		req[v1.ResourceCPU] = milli(pick[int64](g, 1, 50, 100, 100, 250, 500, 1000, 3000))
		if bound {
			req[v1.ResourceCPU] = milli(pick[int64](g, 1, 50, 100, 250, 500))
		}
	}
	if g.chance(0.75) {
		req[v1.ResourceMemory] = mebi(pick[int64](g, 1, 64, 200, 256, 512, 1024, 3000))
		if bound {
			req[v1.ResourceMemory] = mebi(pick[int64](g, 1, 64, 200, 512))
		}
	}
	if g.chance(0.1) {
		req[v1.ResourceEphemeralStorage] = mebi(pick[int64](g, 100, 1024, 8000))
	}
	if g.chance(0.06) {
		q := count(int64(1 + g.r.IntN(2)))
		req[gpuName], lim[gpuName] = q, q
	}
	if g.chance(0.015) {
		q := count(1)
		req[fpgaName], lim[fpgaName] = q, q
	}
	if g.chance(0.02) {
		q := mebi(2 * int64(1+g.r.IntN(64)))
		req[hugepages], lim[hugepages] = q, q
		if _, ok := req[v1.ResourceMemory]; !ok {
			req[v1.ResourceMemory] = mebi(64)
		}
	}
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		if r, ok := req[name]; ok && g.chance(0.3) {
			l := r.DeepCopy()
			if g.chance(0.5) {
				l.Add(r)
			}
			lim[name] = l
		}
	}
	// Limits without requests: the API defaults requests to the limits.
	if _, ok := req[v1.ResourceCPU]; !ok && g.chance(0.2) {
		lim[v1.ResourceCPU] = milli(pick[int64](g, 100, 700))
	}
	if len(req) > 0 {
		rr.Requests = req
	}
	if len(lim) > 0 {
		rr.Limits = lim
	}
	return rr
}

// initContainers mixes regular init containers and sidecars (restartable
// init containers), in an order that matters for the pod's requests.
func (g *gen) initContainers() []v1.Container {
	var cs []v1.Container
	for i := range 1 + g.r.IntN(3) {
		c := v1.Container{Name: fmt.Sprintf("init%d", i), Image: pick(g, g.images...).name, Resources: g.resources(false)}
		if g.chance(0.5) {
			c.RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
		}
		cs = append(cs, c)
	}
	return cs
}

func (g *gen) overhead(p *v1.Pod) {
	p.Spec.RuntimeClassName = ptr.To("kata")
	p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: milli(pick[int64](g, 10, 250)), v1.ResourceMemory: mebi(pick[int64](g, 16, 160))}
	if g.chance(0.3) {
		delete(p.Spec.Overhead, v1.ResourceMemory)
	}
}

// podLevelResources sets spec.resources at or above the containers'
// aggregate requests (validation requires it), for cpu and/or memory.
func (g *gen) podLevelResources(p *v1.Pod) {
	if !utilfeature.DefaultFeatureGate.Enabled(features.PodLevelResources) {
		return
	}
	agg := aggregateRequests(p)
	req, lim := v1.ResourceList{}, v1.ResourceList{}
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		if !g.chance(0.7) {
			continue
		}
		var q resource.Quantity
		if name == v1.ResourceCPU {
			q = milli(pick[int64](g, 0, 100, 1000))
		} else {
			q = mebi(pick[int64](g, 0, 128, 2048))
		}
		if a, ok := agg[name]; ok {
			q.Add(a)
		}
		if q.IsZero() {
			q = milli(1)
			if name == v1.ResourceMemory {
				q = mebi(1)
			}
		}
		req[name] = q
		if g.chance(0.4) {
			l := q.DeepCopy()
			l.Add(q)
			for _, c := range p.Spec.Containers {
				if cl, ok := c.Resources.Limits[name]; ok && cl.Cmp(l) > 0 {
					l = cl.DeepCopy()
				}
			}
			lim[name] = l
		}
	}
	if len(req) == 0 {
		return
	}
	p.Spec.Resources = &v1.ResourceRequirements{Requests: req}
	if len(lim) > 0 {
		p.Spec.Resources.Limits = lim
	}
}

// aggregateRequests is an upper bound of the containers' effective requests
// (sum of everything), enough to keep pod-level requests valid.
func aggregateRequests(p *v1.Pod) v1.ResourceList {
	out := v1.ResourceList{}
	add := func(c v1.Container) {
		for name, q := range c.Resources.Requests {
			s := out[name]
			s.Add(q)
			out[name] = s
		}
		for name, q := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[name]; ok {
				continue
			}
			s := out[name]
			s.Add(q)
			out[name] = s
		}
	}
	for _, c := range p.Spec.Containers {
		add(c)
	}
	for _, c := range p.Spec.InitContainers {
		add(c)
	}
	return out
}

func (g *gen) tolerations() []v1.Toleration {
	var ts []v1.Toleration
	for range 1 + g.r.IntN(4) {
		t := v1.Toleration{Key: pick(g, taintKeys...), Effect: pick(g, append(effects, "")...)}
		switch {
		case g.chance(0.1):
			// Empty key with Exists tolerates every taint (of the effect).
			t.Key, t.Operator = "", v1.TolerationOpExists
		case g.chance(0.4):
			t.Operator = v1.TolerationOpExists
		default:
			t.Operator = pick(g, v1.TolerationOpEqual, "")
			t.Value = pick(g, taintValues...)
		}
		if t.Effect == v1.TaintEffectNoExecute && g.chance(0.4) {
			t.TolerationSeconds = ptr.To(int64(pick(g, 0, 60, 3600)))
		}
		ts = append(ts, t)
	}
	return ts
}

func (g *gen) nodeAffinity() *v1.NodeAffinity {
	na := &v1.NodeAffinity{}
	if g.chance(0.5) {
		sel := &v1.NodeSelector{}
		for range 1 + g.r.IntN(3) {
			sel.NodeSelectorTerms = append(sel.NodeSelectorTerms, g.nodeSelectorTerm(true))
		}
		na.RequiredDuringSchedulingIgnoredDuringExecution = sel
	}
	if g.chance(0.6) {
		for range 1 + g.r.IntN(3) {
			na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
				v1.PreferredSchedulingTerm{Weight: pick[int32](g, 1, 5, 50, 100), Preference: g.nodeSelectorTerm(false)})
		}
	}
	return na
}

func (g *gen) nodeSelectorTerm(required bool) v1.NodeSelectorTerm {
	var t v1.NodeSelectorTerm
	n := g.r.IntN(4)
	if required && n == 0 && g.chance(0.7) {
		n = 1 // an empty required term matches nothing; keep it rare
	}
	for range n {
		t.MatchExpressions = append(t.MatchExpressions, g.nodeRequirement())
	}
	if g.chance(0.2) {
		names := []string{"node-missing"}
		for _, n := range g.nodes {
			names = append(names, n.Name)
		}
		t.MatchFields = append(t.MatchFields, v1.NodeSelectorRequirement{
			Key: "metadata.name", Operator: pick(g, v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn), Values: []string{pick(g, names...)},
		})
	}
	return t
}

func (g *gen) nodeRequirement() v1.NodeSelectorRequirement {
	key := pick(g, nodeKeys...)
	ops := []v1.NodeSelectorOperator{v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn, v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist, v1.NodeSelectorOpGt, v1.NodeSelectorOpLt}
	r := v1.NodeSelectorRequirement{Key: key, Operator: pick(g, ops...)}
	switch r.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		for range 1 + g.r.IntN(2) {
			r.Values = append(r.Values, g.nodeLabelValue(key, g.r.IntN(len(g.nodes)+1)))
		}
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if g.chance(0.7) {
			r.Key = "gen"
		}
		r.Values = []string{pick(g, "0", "2", "3", "5", "7")}
	}
	return r
}
