package tainttoleration

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "TaintToleration"
	// ErrReasonUntolerated is the Filter reason, identical to
	// kube-scheduler v1.37's. The offending taint is logged, not put in the
	// reason, so that reasons stay countable across nodes.
	ErrReasonUntolerated = "node(s) had untolerated taint(s)"

	preScoreStateKey framework.StateKey = "PreScore" + Name

	// enableComparisonOperators mirrors kube-scheduler v1.37's default for
	// the alpha TaintTolerationComparisonOperators gate: Lt/Gt tolerations
	// tolerate nothing.
	enableComparisonOperators = false
)

// TaintToleration filters and scores nodes by their taints.
type TaintToleration struct{}

var (
	_ framework.FilterPlugin      = (*TaintToleration)(nil)
	_ framework.PreScorePlugin    = (*TaintToleration)(nil)
	_ framework.ScorePlugin       = (*TaintToleration)(nil)
	_ framework.ScoreExtensions   = (*TaintToleration)(nil)
	_ framework.EnqueueExtensions = (*TaintToleration)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &TaintToleration{}, nil
}

// Name returns the plugin's name.
func (*TaintToleration) Name() string { return Name }

// isDoNotScheduleTaint selects the taints Filter enforces.
func isDoNotScheduleTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// untoleratedTaint returns the first NoSchedule/NoExecute taint of the node
// the pod does not tolerate.
func untoleratedTaint(logger klog.Logger, node *v1.Node, pod *v1.Pod) (v1.Taint, bool) {
	return corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, pod.Spec.Tolerations, isDoNotScheduleTaint, enableComparisonOperators)
}

// Filter rejects the node when it has a NoSchedule or NoExecute taint the
// pod does not tolerate. PreferNoSchedule taints never reject.
func (*TaintToleration) Filter(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(fmt.Errorf("node not found"))
	}
	logger := klog.FromContext(ctx)
	taint, found := untoleratedTaint(logger, node, pod)
	if !found {
		return nil
	}
	logger.V(4).Info("node has an untolerated taint", "node", klog.KObj(node), "pod", klog.KObj(pod), "taint", taint.ToString())
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUntolerated)
}

// preScoreState holds the pod's tolerations that can apply to
// PreferNoSchedule taints.
type preScoreState struct {
	tolerations []v1.Toleration
}

// Clone returns the state itself; it is never modified after PreScore.
func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore keeps the tolerations that can match a PreferNoSchedule taint:
// those with that effect or with no effect (which means every effect).
func (*TaintToleration) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	var tols []v1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == v1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	state.Write(preScoreStateKey, &preScoreState{tolerations: tols})
	return nil
}

// Score counts the node's PreferNoSchedule taints the pod does not
// tolerate; NormalizeScore turns fewer into better.
func (*TaintToleration) Score(ctx context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	data, err := state.Read(preScoreStateKey)
	if err != nil {
		return 0, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", preScoreStateKey, err))
	}
	s, ok := data.(*preScoreState)
	if !ok {
		return 0, framework.AsStatus(fmt.Errorf("cycle state %q has type %T, want *tainttoleration.preScoreState", preScoreStateKey, data))
	}
	logger := klog.FromContext(ctx)
	var count int64
	taints := nodeInfo.Node().Spec.Taints
	for i := range taints {
		if taints[i].Effect != v1.TaintEffectPreferNoSchedule {
			continue
		}
		if !corev1helpers.TolerationsTolerateTaint(logger, s.tolerations, &taints[i], enableComparisonOperators) {
			count++
		}
	}
	return count, nil
}

// ScoreExtensions returns the plugin: raw scores are counts to be reversed
// and scaled.
func (pl *TaintToleration) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps the counts onto [0, MaxNodeScore] reversed: the node
// with the most intolerable taints gets 0, nodes with none get the maximum.
func (*TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	pluginutil.NormalizeScores(framework.MaxNodeScore, true, scores)
	return nil
}

// EventsToRegister asks for nodes being added or having their taints
// changed, and for the pod's own tolerations changing.
func (pl *TaintToleration) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeTaint},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodTolerations},
			QueueingHintFn: pl.isSchedulableAfterPodTolerationChange,
		},
	}, nil
}

// isSchedulableAfterNodeChange queues the pod when the node is added with no
// untolerated taint, or an update removed the last one.
func (*TaintToleration) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newNode == nil {
		return framework.QueueSkip, nil
	}
	wasUntolerated := true
	if oldNode != nil {
		_, wasUntolerated = untoleratedTaint(logger, oldNode, pod)
	}
	if _, isUntolerated := untoleratedTaint(logger, newNode, pod); wasUntolerated && !isUntolerated {
		logger.V(5).Info("node no longer has a taint the pod does not tolerate", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterPodTolerationChange queues the pod when the update is of
// the pod itself: a new toleration may cover the taint that rejected it.
func (*TaintToleration) isSchedulableAfterPodTolerationChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	_, updated, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if updated == nil || updated.UID != pod.UID {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

var _ framework.NodeLocalPlugin = (*TaintToleration)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*TaintToleration) NodeLocal() bool { return true }
