package conformance

import (
	"math/rand/v2"
	"slices"

	v1 "k8s.io/api/core/v1"
	ndffeatures "k8s.io/component-helpers/nodedeclaredfeatures/features"
	"k8s.io/component-helpers/nodedeclaredfeatures/features/restartallcontainers"
	"k8s.io/utils/ptr"
)

// Node declared features: what kubelets publish in status.declaredFeatures
// and pending pods need because of their spec (NodeDeclaredFeatures).
var (
	// knownFeatures are the names the feature library knows, in its
	// registry's order.
	knownFeatures = func() []string {
		var out []string
		for _, f := range ndffeatures.AllFeatures {
			out = append(out, f.Name())
		}
		return out
	}()
	// unknownFeatures are names a newer kubelet could declare: valid, but
	// unknown to the library, so the scheduler ignores them. One sorts
	// before every known name and one after.
	unknownFeatures = []string{"AFutureFeature", "ZFutureFeature", "Vendor/fastPath"}
)

// restartAllFeature is the one feature a pod can need through the API
// server's default gates: RestartAllContainers restart rules (beta, on in
// v1.37). Pods needing the others do not pass admission with default gates
// (hostNetwork with hostUsers: false is forbidden, bindMountOptions are
// dropped).
const restartAllFeature = restartallcontainers.RestartAllContainersOnContainerExits

// addFeatures gives c, with probability p, a node-features scenario: some
// nodes declare features (known and unknown names), and some pending pods
// need one, or have a near miss that needs none. It draws from its own
// random stream, so the nodes and pods generated before are the same with
// or without it; it only adds status.declaredFeatures to nodes and fields
// to pending pods' specs.
func addFeatures(c *Case, base *gen, p float64) {
	f := &gen{r: rand.New(rand.NewPCG(c.Seed^0x8ebc6af09c88c6e3, c.Seed+0x589965cc75374cc3)), nodes: base.nodes, images: base.images, seq: base.seq}
	if !f.chance(p) {
		return
	}
	for _, n := range c.Cluster.Nodes {
		if f.chance(0.7) {
			n.Status.DeclaredFeatures = f.declaredFeatures()
		}
	}
	for _, pod := range c.Pending {
		if f.chance(0.4) {
			f.podFeatures(pod)
		}
	}
}

// declaredFeatures returns a node's declaredFeatures: sorted and unique,
// as validation requires, and holding the feature pods can need about
// half the time so that they are accepted by some nodes and rejected by
// others.
func (g *gen) declaredFeatures() []string {
	var out []string
	for _, name := range knownFeatures {
		chance := 0.3
		if name == restartAllFeature {
			chance = 0.5
		}
		if g.chance(chance) {
			out = append(out, name)
		}
	}
	for _, name := range unknownFeatures {
		if g.chance(0.2) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// podFeatures changes a pending pod so that it needs a node feature, or
// looks as if it might but does not.
func (g *gen) podFeatures(pod *v1.Pod) {
	switch k := g.r.IntN(6); {
	case k < 2, k == 2 && len(pod.Spec.InitContainers) == 0:
		// A regular container restarting the whole pod: needs the feature.
		c := &pod.Spec.Containers[g.r.IntN(len(pod.Spec.Containers))]
		g.restartRules(c, v1.ContainerRestartRuleActionRestartAllContainers, pick(g,
			v1.ContainerRestartPolicyAlways, v1.ContainerRestartPolicyOnFailure, v1.ContainerRestartPolicyNever))
	case k == 2:
		// An init container (regular or sidecar) doing the same. None is
		// added: that would change the requests pod-level resources were
		// drawn against.
		c := &pod.Spec.InitContainers[g.r.IntN(len(pod.Spec.InitContainers))]
		policy := v1.ContainerRestartPolicyNever
		if c.RestartPolicy != nil {
			policy = *c.RestartPolicy
		}
		g.restartRules(c, v1.ContainerRestartRuleActionRestartAllContainers, policy)
	case k == 3:
		// Restarting only the container itself needs no feature.
		c := &pod.Spec.Containers[g.r.IntN(len(pod.Spec.Containers))]
		g.restartRules(c, v1.ContainerRestartRuleActionRestart, pick(g, v1.ContainerRestartPolicyOnFailure, v1.ContainerRestartPolicyNever))
	case k == 4:
		// Bind mount options would need VolumeBindMountOptions, but the
		// gate is alpha and off: admission drops them.
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			if len(c.VolumeMounts) > 0 {
				c.VolumeMounts[0].BindMountOptions = []string{string(v1.BindMountOptionNoExec)}
				return
			}
		}
	default:
		// A user namespace without the host network needs no feature
		// (with it, the pod would not pass validation with default gates).
		if !pod.Spec.HostNetwork && !hasVolumeDevices(pod) {
			pod.Spec.HostUsers = ptr.To(false)
		}
	}
}

// restartRules gives c a restart rule with action, and the container-level
// restart policy that rules require.
func (g *gen) restartRules(c *v1.Container, action v1.ContainerRestartRuleAction, policy v1.ContainerRestartPolicy) {
	c.RestartPolicy = ptr.To(policy)
	exit := &v1.ContainerRestartRuleOnExitCodes{Operator: pick(g, v1.ContainerRestartRuleOnExitCodesOpIn, v1.ContainerRestartRuleOnExitCodesOpNotIn),
		Values: []int32{int32(1 + g.r.IntN(100))}}
	c.RestartPolicyRules = append(c.RestartPolicyRules, v1.ContainerRestartRule{Action: action, ExitCodes: exit})
}

// hasVolumeDevices reports whether a container of pod uses a block volume,
// which validation forbids with hostUsers: false.
func hasVolumeDevices(pod *v1.Pod) bool {
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if len(c.VolumeDevices) > 0 {
				return true
			}
		}
	}
	return false
}
