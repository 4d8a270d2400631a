package podtopologyspread

import (
	"context"
	"errors"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "PodTopologySpread"

	// ErrReasonConstraintsNotMatch is the Filter reason when the pod would
	// exceed a constraint's maxSkew on the node (kube-scheduler's wording).
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	// ErrReasonNodeLabelNotMatch is the Filter reason when the node lacks a
	// constraint's topology key.
	ErrReasonNodeLabelNotMatch = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// PodTopologySpread spreads matching pods across topology domains.
type PodTopologySpread struct {
	handle framework.Handle
	// defaultConstraints apply to pods that declare no constraints.
	defaultConstraints []v1.TopologySpreadConstraint
	// systemDefaulted: defaultConstraints are the system defaults, which
	// score nodes lacking a zone label instead of ignoring them.
	systemDefaulted bool

	// Listers for deriving a default selector; nil without defaults.
	services               corelisters.ServiceLister
	replicationControllers corelisters.ReplicationControllerLister
	replicaSets            appslisters.ReplicaSetLister
	statefulSets           appslisters.StatefulSetLister

	tallies tallyCache
}

var (
	_ framework.PreFilterPlugin     = (*PodTopologySpread)(nil)
	_ framework.PreFilterExtensions = (*PodTopologySpread)(nil)
	_ framework.FilterPlugin        = (*PodTopologySpread)(nil)
	_ framework.PreScorePlugin      = (*PodTopologySpread)(nil)
	_ framework.ScorePlugin         = (*PodTopologySpread)(nil)
	_ framework.ScoreExtensions     = (*PodTopologySpread)(nil)
	_ framework.EnqueueExtensions   = (*PodTopologySpread)(nil)
)

// New builds the plugin from *configv1.PodTopologySpreadArgs (nil means
// the defaults: System defaulting). Invalid args are rejected with every
// problem listed. With default constraints, the Service, ReplicationController,
// ReplicaSet and StatefulSet informers are registered on the handle's
// factory.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if h == nil || h.SnapshotSharedLister() == nil {
		return nil, errors.New("plugin " + Name + " needs a handle with a snapshot lister")
	}
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, nil)
	if err != nil {
		return nil, err
	}
	pl := &PodTopologySpread{handle: h, defaultConstraints: args.DefaultConstraints}
	if args.DefaultingType == configv1.SystemDefaulting {
		pl.defaultConstraints = SystemDefaultConstraints()
		pl.systemDefaulted = true
	}
	if len(pl.defaultConstraints) > 0 {
		f := h.SharedInformerFactory()
		if f == nil {
			return nil, errors.New("plugin " + Name + " needs a shared informer factory for its default constraints")
		}
		pl.services = f.Core().V1().Services().Lister()
		pl.replicationControllers = f.Core().V1().ReplicationControllers().Lister()
		pl.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		pl.statefulSets = f.Apps().V1().StatefulSets().Lister()
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*PodTopologySpread) Name() string { return Name }

// EventsToRegister asks for the events that can end a DoNotSchedule
// rejection: an assigned pod matching a selector coming, going or changing
// labels; the pod's own labels or tolerations changing; a node that could
// form or change a domain coming, going, or changing labels or taints.
func (pl *PodTopologySpread) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{
			Event:          framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.UpdatePodLabel | framework.Delete},
			QueueingHintFn: pl.isSchedulableAfterAssignedPodChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodLabel | framework.UpdatePodTolerations},
			QueueingHintFn: pl.isSchedulableAfterOwnPodChange,
		},
		{
			Event:          framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
	}, nil
}

// isSchedulableAfterAssignedPodChange queues the pod when a pod bound (or
// nominated) in its namespace that a selector counts comes or goes, or
// changes labels so that some selector's verdict on it flips.
func (pl *PodTopologySpread) isSchedulableAfterAssignedPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldPod, newPod, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if (newPod != nil && !countsFor(newPod, pod)) || (oldPod != nil && !countsFor(oldPod, pod)) {
		return framework.QueueSkip, nil
	}
	cs, err := pl.getConstraints(pod, v1.DoNotSchedule)
	if err != nil {
		return framework.Queue, err
	}
	switch {
	case oldPod != nil && newPod != nil:
		return labelChangeHint(logger, pod, oldPod, newPod, cs), nil
	case newPod != nil:
		if anySelectorMatches(cs, newPod.Labels) {
			logger.V(5).Info("A matching pod was assigned", "pod", klog.KObj(pod), "assignedPod", klog.KObj(newPod))
			return framework.Queue, nil
		}
	case oldPod != nil:
		if anySelectorMatches(cs, oldPod.Labels) {
			logger.V(5).Info("A matching assigned pod was deleted", "pod", klog.KObj(pod), "deletedPod", klog.KObj(oldPod))
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

// isSchedulableAfterOwnPodChange queues the pod when its own update may
// change the verdict: new tolerations while a constraint honours taints,
// or labels that flip some selector's match on itself.
func (pl *PodTopologySpread) isSchedulableAfterOwnPodChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldPod, newPod, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if oldPod == nil || newPod == nil || newPod.UID != pod.UID {
		return framework.QueueSkip, nil
	}
	cs, err := pl.getConstraints(pod, v1.DoNotSchedule)
	if err != nil {
		return framework.Queue, err
	}
	if _, honorTaints := policyNeeds(cs); honorTaints && !equality.Semantic.DeepEqual(oldPod.Spec.Tolerations, newPod.Spec.Tolerations) {
		logger.V(5).Info("The pod's tolerations changed and a constraint honours taints", "pod", klog.KObj(pod))
		return framework.Queue, nil
	}
	return labelChangeHint(logger, pod, oldPod, newPod, cs), nil
}

// isSchedulableAfterNodeChange queues the pod when a node with every
// topology key comes or goes, a node gains or loses one of the keys, or a
// node with all keys changes a key's value or its taints.
func (pl *PodTopologySpread) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	oldNode, newNode, err := pluginutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	cs, err := pl.getConstraints(pod, v1.DoNotSchedule)
	if err != nil {
		return framework.Queue, err
	}
	oldHas := oldNode != nil && hasAllKeys(oldNode.Labels, cs)
	newHas := newNode != nil && hasAllKeys(newNode.Labels, cs)
	queue := false
	switch {
	case oldNode != nil && newNode != nil:
		queue = oldHas != newHas ||
			(newHas && (topologyValuesDiffer(oldNode.Labels, newNode.Labels, cs) || !equality.Semantic.DeepEqual(oldNode.Spec.Taints, newNode.Spec.Taints)))
	case newNode != nil:
		queue = newHas
	default:
		queue = oldHas
	}
	if queue {
		logger.V(5).Info("A node change may affect the pod's topology spread", "pod", klog.KObj(pod))
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}

// countsFor reports whether other can count toward pod's constraints: it is
// bound or nominated, and in pod's namespace.
func countsFor(other, pod *v1.Pod) bool {
	if other.Spec.NodeName == "" && other.Status.NominatedNodeName == "" {
		return false
	}
	return other.Namespace == pod.Namespace
}

func anySelectorMatches(cs []constraint, podLabels map[string]string) bool {
	for i := range cs {
		if cs[i].Selector.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

// labelChangeHint queues when the labels changed so that some selector
// matches the pod before and not after, or the reverse.
func labelChangeHint(logger klog.Logger, pod, oldPod, newPod *v1.Pod, cs []constraint) framework.QueueingHint {
	if equality.Semantic.DeepEqual(oldPod.Labels, newPod.Labels) {
		return framework.QueueSkip
	}
	for i := range cs {
		if cs[i].Selector.Matches(labels.Set(oldPod.Labels)) != cs[i].Selector.Matches(labels.Set(newPod.Labels)) {
			logger.V(5).Info("A label change flips a spread selector's match", "pod", klog.KObj(pod), "changedPod", klog.KObj(newPod))
			return framework.Queue
		}
	}
	return framework.QueueSkip
}

func topologyValuesDiffer(a, b map[string]string, cs []constraint) bool {
	for i := range cs {
		if a[cs[i].TopologyKey] != b[cs[i].TopologyKey] {
			return true
		}
	}
	return false
}
