package nodepreference

import (
	"context"
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/preference"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "NodePreference"

const stateKey framework.StateKey = "PreFilter" + Name

// ReasonUnmet is the format of Filter's reason: the rule set and the
// first required rule the node does not meet, never the node's own value,
// so that nodes failing alike count as one reason in the pod's event
// ("3 node(s) didn't satisfy node preference "fast-disk": disk-type In
// [ssd nvme]"). What the nodes have instead is in ExplainFailure.
const ReasonUnmet = "node(s) didn't satisfy node preference %q: %s"

// NodePreference filters and scores nodes by the operator's rule sets
// (see the package doc).
type NodePreference struct {
	handle framework.Handle
	policy *preference.Policy
}

var (
	_ framework.PreFilterPlugin      = (*NodePreference)(nil)
	_ framework.FilterPlugin         = (*NodePreference)(nil)
	_ framework.PreScorePlugin       = (*NodePreference)(nil)
	_ framework.ScorePlugin          = (*NodePreference)(nil)
	_ framework.EnqueueExtensions    = (*NodePreference)(nil)
	_ framework.NodeLocalPlugin      = (*NodePreference)(nil)
	_ framework.SignatureContributor = (*NodePreference)(nil)
	_ framework.ScoreExplainer       = (*NodePreference)(nil)
	_ framework.FailureExplainer     = (*NodePreference)(nil)
)

// New builds the plugin from its args (nil: no rule sets).
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	policy, err := preference.NewPolicy(args.RuleSets)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	return &NodePreference{handle: h, policy: policy}, nil
}

// Name returns the plugin's name.
func (*NodePreference) Name() string { return Name }

// cycleState is the pod's resolved preference: nil pref when no rule set
// governs the pod, err when its annotation names an unknown set.
type cycleState struct {
	pref *preference.Preference
	err  error
}

// Clone returns the state itself: it is never modified after PreFilter.
func (s *cycleState) Clone() framework.StateData { return s }

// state reads the pod's preference from the cycle state, or resolves it
// when PreFilter did not run (explain, a profile without PreFilter).
func (pl *NodePreference) state(cs *framework.CycleState, pod *v1.Pod) *cycleState {
	if cs != nil {
		if s, err := framework.ReadState[*cycleState](cs, stateKey); err == nil {
			return s
		}
	}
	pref, err := pl.policy.Resolve(pod)
	return &cycleState{pref: pref, err: err}
}

// PreFilter resolves the rule sets that govern the pod, once per cycle.
// It returns Skip when none has required rules, and
// UnschedulableAndUnresolvable when the pod's annotation names an unknown
// set: no node can tell which preference the pod meant.
func (pl *NodePreference) PreFilter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	pref, err := pl.policy.Resolve(pod)
	cs.Write(stateKey, &cycleState{pref: pref, err: err})
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if pref == nil || !pref.HasRequired() {
		return nil, framework.NewStatus(framework.Skip)
	}
	return nil, nil
}

// PreFilterExtensions returns nil: the verdicts do not depend on other
// pods.
func (*NodePreference) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects a node that does not meet a required rule. The verdict
// is UnschedulableAndUnresolvable, as for node affinity: evicting pods
// never changes a node's labels.
func (pl *NodePreference) Filter(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s := pl.state(cs, pod)
	if s.err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, s.err.Error())
	}
	if s.pref == nil {
		return nil
	}
	if u := s.pref.Check(ni.Node()); u != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf(ReasonUnmet, u.Set, u.Requirement))
	}
	return nil
}

// PreScore returns Skip when no rule set with preferred rules governs the
// pod.
func (pl *NodePreference) PreScore(_ context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	s := pl.state(cs, pod)
	if s.err != nil || s.pref == nil || !s.pref.HasPreferred() {
		return framework.NewStatus(framework.Skip)
	}
	cs.Write(stateKey, s)
	return nil
}

// Score is the weighted mean of the preferred rules' scores, in [0, 100].
func (pl *NodePreference) Score(_ context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s := pl.state(cs, pod)
	if s.pref == nil {
		return 0, nil
	}
	return s.pref.Score(ni.Node()), nil
}

// ScoreExtensions returns nil: scores are in [0, 100] already, and
// normalising them would turn "every node scores 20" into "every node
// scores 100", overstating a weak preference against other plugins.
func (*NodePreference) ScoreExtensions() framework.ScoreExtensions { return nil }

// NodeLocal returns true: verdicts and scores depend only on the pod and
// the node's labels.
func (*NodePreference) NodeLocal() bool { return true }

// SignatureFragment returns the pod's preference annotation (quoted, so
// that an empty value differs from none): it decides the pod's rule sets
// and is not part of the engine's signature.
func (*NodePreference) SignatureFragment(pod *v1.Pod) string {
	if v, ok := pod.Annotations[preference.AnnotationKey]; ok {
		return strconv.Quote(v)
	}
	return ""
}

// ExplainScore shows each preferred rule's contribution to the node's
// score: "rule set fast-disk: disk-type=ssd → 80 ×3, disk-iops=20000
// (log) → 65 ×2".
func (pl *NodePreference) ExplainScore(cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) string {
	s := pl.state(cs, pod)
	if s.pref == nil || !s.pref.HasPreferred() {
		return ""
	}
	return s.pref.Explain(ni.Node()).String()
}

// ExplainFailure says, for a pod that fits nowhere, how many nodes meet
// each required rule and what the others have instead: "rule set
// fast-disk requires disk-type In [ssd nvme]: 0 of 5 nodes meet it
// (disk-type=hdd on 3, no disk-type on 2)".
func (pl *NodePreference) ExplainFailure(cs *framework.CycleState, pod *v1.Pod) string {
	s := pl.state(cs, pod)
	if s.pref == nil || !s.pref.HasRequired() || pl.handle == nil || pl.handle.SnapshotSharedLister() == nil {
		return ""
	}
	infos := pl.handle.SnapshotSharedLister().NodeInfos().List()
	nodes := make([]*v1.Node, 0, len(infos))
	for _, ni := range infos {
		if n := ni.Node(); n != nil {
			nodes = append(nodes, n)
		}
	}
	return s.pref.ExplainUnmet(nodes)
}

// EventsToRegister asks for nodes being added or relabelled: only labels
// decide the verdicts. A pod rejected for naming an unknown rule set is
// retried when the pod itself changes, which the queue does anyway.
func (pl *NodePreference) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel},
		QueueingHintFn: pl.isSchedulableAfterNodeChange,
	}}, nil
}

// isSchedulableAfterNodeChange queues the pod when a node that meets its
// required rules is added, or when an update makes a node meet them.
func (pl *NodePreference) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	pref, err := pl.policy.Resolve(pod)
	if err != nil || pref == nil || newNode == nil || pref.Check(newNode) != nil {
		return framework.QueueSkip, nil
	}
	if oldNode != nil && pref.Check(oldNode) == nil {
		// It met them before too, so it was not what rejected the pod.
		return framework.QueueSkip, nil
	}
	logger.V(5).Info("Node now meets the pod's node preference", "pod", klog.KObj(pod), "node", klog.KObj(newNode), "ruleSets", pref.Name())
	return framework.Queue, nil
}
