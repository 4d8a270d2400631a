package nodeaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// preFilterState is the pod's nodeSelector and required affinity, parsed
// once per cycle. It does not depend on other pods, so clones share it.
type preFilterState struct {
	required nodeaffinity.RequiredNodeAffinity
}

// Clone returns the state itself; it is never modified after PreFilter.
func (s *preFilterState) Clone() framework.StateData { return s }

// requiredTerms returns the pod's required node-selector terms, or nil.
func requiredTerms(pod *v1.Pod) *v1.NodeSelector {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

// PreFilter parses the pod's requirements into the cycle state. It returns
// Skip when there is nothing to check, and narrows the candidates when
// every required term pins the pod to nodes by metadata.name.
func (pl *NodeAffinity) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	required := requiredTerms(pod)
	if required == nil && pl.addedNodeSelector == nil && pod.Spec.NodeSelector == nil {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, &preFilterState{required: nodeaffinity.GetRequiredNodeAffinity(pod)})
	if required == nil {
		return nil, nil
	}
	names, restricted := pinnedNodeNames(required.NodeSelectorTerms)
	if !restricted {
		return nil, nil
	}
	if len(names) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
	}
	return &framework.PreFilterResult{NodeNames: names}, nil
}

// pinnedNodeNames returns the node names the terms allow when each term
// has at least one "metadata.name In" field requirement. Requirements in a
// term are ANDed (intersection), terms are ORed (union); one term without
// such a requirement allows every node, so restricted is then false.
func pinnedNodeNames(terms []v1.NodeSelectorTerm) (names sets.Set[string], restricted bool) {
	if len(terms) == 0 {
		return nil, false
	}
	names = sets.New[string]()
	for _, t := range terms {
		var termNames sets.Set[string]
		for _, r := range t.MatchFields {
			if r.Key != metav1.ObjectNameField || r.Operator != v1.NodeSelectorOpIn {
				continue
			}
			if termNames == nil {
				termNames = sets.New(r.Values...)
			} else {
				termNames = termNames.Intersection(sets.New(r.Values...))
			}
		}
		if termNames == nil {
			return nil, false
		}
		names = names.Union(termNames)
	}
	return names, true
}

// PreFilterExtensions returns nil: the state does not depend on other pods.
func (*NodeAffinity) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node when it misses the scheduler's addedAffinity or
// the pod's nodeSelector and required affinity. Both verdicts are
// UnschedulableAndUnresolvable: evicting pods never changes node labels.
func (pl *NodeAffinity) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if pl.addedNodeSelector != nil && !pl.addedNodeSelector.Match(node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonEnforced)
	}
	var required nodeaffinity.RequiredNodeAffinity
	if s, err := readState[*preFilterState](state, preFilterStateKey); err == nil {
		required = s.required
	} else {
		// PreFilter may be disabled in the profile; parse here instead.
		required = nodeaffinity.GetRequiredNodeAffinity(pod)
	}
	// A requirement that fails to parse matches nothing; the parse error
	// itself is ignored, as kube-scheduler does, for compatibility with
	// pods the API server accepted in older versions.
	if ok, _ := required.Match(node); !ok {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

// EventsToRegister asks for nodes being added or relabelled.
func (pl *NodeAffinity) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
	}, nil
}

// isSchedulableAfterNodeChange queues the pod when a matching node is added,
// or when an update turns a non-matching node into a matching one.
func (pl *NodeAffinity) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil {
		return framework.QueueSkip, nil
	}
	if pl.addedNodeSelector != nil && !pl.addedNodeSelector.Match(newNode) {
		return framework.QueueSkip, nil
	}
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	matches, err := required.Match(newNode)
	if err != nil {
		return framework.Queue, err
	}
	if !matches {
		return framework.QueueSkip, nil
	}
	if oldNode == nil {
		logger.V(5).Info("added node matches the pod's node affinity", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return framework.Queue, nil
	}
	matched, err := required.Match(oldNode)
	if err != nil {
		return framework.Queue, err
	}
	if matched {
		// It matched before too, so it was not what rejected the pod.
		return framework.QueueSkip, nil
	}
	logger.V(5).Info("updated node now matches the pod's node affinity", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return framework.Queue, nil
}
