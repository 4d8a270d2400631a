package explain

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/dynamicresources"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/nodeports"
	"github.com/berthsched/berth/pkg/plugins/nodeunschedulable"
	"github.com/berthsched/berth/pkg/plugins/tainttoleration"
)

// suggest runs every cause's analysis and orders the result: verified
// changes first, then hints, each group in cause order (the order below).
func (a *analysis) suggest() ([]Suggestion, error) {
	steps := []func() ([]Suggestion, error){
		a.suggestResources,
		a.suggestTaints,
		a.suggestNodeAffinity,
		a.suggestTopologySpread,
		a.suggestPodAffinity,
		a.suggestVolumes,
		a.suggestUncordon,
		a.suggestPorts,
	}
	var out []Suggestion
	for _, step := range steps {
		s, err := step()
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Verified && !out[j].Verified })
	return out, nil
}

// untolerated returns the node's NoSchedule and NoExecute taints the pod
// does not tolerate.
func untolerated(node *v1.Node, pod *v1.Pod) []v1.Taint {
	var out []v1.Taint
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect == v1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, t, false) {
			out = append(out, *t)
		}
	}
	return out
}

func taintString(t v1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s:%s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
}

func tolerationFor(t v1.Taint) v1.Toleration {
	if t.Value == "" {
		return v1.Toleration{Key: t.Key, Operator: v1.TolerationOpExists, Effect: t.Effect}
	}
	return v1.Toleration{Key: t.Key, Operator: v1.TolerationOpEqual, Value: t.Value, Effect: t.Effect}
}

// suggestTaints groups the nodes TaintToleration rejected by the set of
// taints the pod does not tolerate there, and for the biggest groups adds
// those tolerations to a copy of the pod and filters it again.
func (a *analysis) suggestTaints() ([]Suggestion, error) {
	nodes := a.rejectedBy(tainttoleration.Name)
	if len(nodes) == 0 {
		return nil, nil
	}
	type group struct {
		taints []v1.Taint
		nodes  []string
	}
	groups := map[string]*group{}
	for _, n := range nodes {
		ni, err := a.eval.Snapshot.Get(n)
		if err != nil {
			continue
		}
		ts := untolerated(ni.Node(), a.pod)
		if len(ts) == 0 {
			continue
		}
		keys := make([]string, len(ts))
		for i, t := range ts {
			keys[i] = taintString(t)
		}
		sort.Strings(keys)
		k := strings.Join(keys, ", ")
		if groups[k] == nil {
			groups[k] = &group{taints: ts}
		}
		groups[k].nodes = append(groups[k].nodes, n)
	}
	order := make([]string, 0, len(groups))
	for k := range groups {
		order = append(order, k)
	}
	sort.Slice(order, func(i, j int) bool {
		gi, gj := groups[order[i]], groups[order[j]]
		if len(gi.nodes) != len(gj.nodes) {
			return len(gi.nodes) > len(gj.nodes)
		}
		return order[i] < order[j]
	})
	var out []Suggestion
	for i, k := range order {
		if i == a.opts.MaxSuggestions {
			break
		}
		g := groups[k]
		pod := a.pod.DeepCopy()
		for _, t := range g.taints {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, tolerationFor(t))
		}
		res, err := a.tryPod(pod)
		if err != nil {
			return nil, err
		}
		s := Suggestion{Cause: CauseTaints, Change: "add toleration " + k}
		if len(res.feasible) > 0 {
			s.Verified, s.FitNodes, s.Nodes = true, len(res.feasible), head(res.feasible, a.opts.MaxNodes)
			s.Message = fmt.Sprintf("tolerating %s opens %d node(s)", k, len(res.feasible))
		} else {
			s.Nodes = head(g.nodes, a.opts.MaxNodes)
			s.Message = fmt.Sprintf("%d node(s) have the untolerated taint %s; tolerating it is not enough: they then fail with %s", len(g.nodes), k, res.reasonsOn(g.nodes))
		}
		out = append(out, s)
	}
	return out, nil
}

// suggestUncordon checks whether the cordoned nodes (spec.unschedulable)
// would take the pod if they were uncordoned, on a clone of each node.
func (a *analysis) suggestUncordon() ([]Suggestion, error) {
	nodes := a.rejectedBy(nodeunschedulable.Name)
	if len(nodes) == 0 {
		return nil, nil
	}
	var fit []string
	for _, n := range nodes {
		st, err := a.tryNode(n, func(_ *framework.CycleState, ni *framework.NodeInfo) error {
			node := ni.Node().DeepCopy()
			node.Spec.Unschedulable = false
			ni.SetNode(node)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if st.IsSuccess() {
			fit = append(fit, n)
		}
	}
	if len(fit) == 0 {
		return []Suggestion{{Cause: CauseUnschedulable, Nodes: head(nodes, a.opts.MaxNodes),
			Message: fmt.Sprintf("%d node(s) are cordoned (spec.unschedulable), but uncordoning them would not be enough", len(nodes))}}, nil
	}
	return []Suggestion{{Cause: CauseUnschedulable, Verified: true, FitNodes: len(fit), Nodes: head(fit, a.opts.MaxNodes),
		Change:  "kubectl uncordon " + strings.Join(head(fit, a.opts.MaxNodes), " "),
		Message: fmt.Sprintf("uncordoning %d of the %d cordoned node(s) would let the pod fit there", len(fit), len(nodes))}}, nil
}

// suggestPorts names the host ports that are taken on the rejected nodes.
func (a *analysis) suggestPorts() ([]Suggestion, error) {
	nodes := a.rejectedBy(nodeports.Name)
	if len(nodes) == 0 {
		return nil, nil
	}
	var ports []string
	for _, c := range a.pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				proto := p.Protocol
				if proto == "" {
					proto = v1.ProtocolTCP
				}
				ports = append(ports, fmt.Sprintf("%d/%s", p.HostPort, proto))
			}
		}
	}
	return []Suggestion{{Cause: CausePorts, Nodes: head(nodes, a.opts.MaxNodes),
		Message: fmt.Sprintf("the pod's host port(s) %s are already in use on %d node(s); only one pod per node can hold a host port", strings.Join(ports, ", "), len(nodes))}}, nil
}

// suggestVolumes passes on the plugins' own explanations of a failure
// (which claim, which class, why), as hints: the volume plugins' under
// volumes, DynamicResources' (ResourceClaims) under devices, GPUShare's
// (which cards fall short on the closest node) under gpu.
func (a *analysis) suggestVolumes() ([]Suggestion, error) {
	var out []Suggestion
	for _, d := range a.eval.Result.Diagnosis.Details {
		cause := CauseVolumes
		switch {
		case strings.HasPrefix(d, dynamicresources.Name+":"):
			cause = CauseDevices
		case strings.HasPrefix(d, gpushare.Name+":"):
			cause = CauseGPU
		}
		out = append(out, Suggestion{Cause: cause, Message: d})
	}
	return out, nil
}

// countsString renders reason counts biggest first: "3 Insufficient cpu,
// 1 node(s) were unschedulable".
func countsString(counts map[string]int) string {
	type rc struct {
		r string
		n int
	}
	var l []rc
	for r, n := range counts {
		l = append(l, rc{r, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].r < l[j].r
	})
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = fmt.Sprintf("%d %s", x.n, x.r)
	}
	if len(parts) == 0 {
		return "no rejection"
	}
	return strings.Join(parts, ", ")
}
