package nodeaffinity

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "NodeAffinity"

	// ErrReasonPod is the reason when the node does not match the pod's
	// nodeSelector or required node affinity (kube-scheduler's wording).
	ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"
	// ErrReasonEnforced is the reason when the node does not match the
	// scheduler's addedAffinity.
	ErrReasonEnforced = "node(s) didn't match scheduler-enforced node affinity"
	// ErrReasonConflict is the PreFilter reason when the required terms pin
	// the pod to node names whose intersection is empty in every term.
	ErrReasonConflict = "pod affinity terms conflict"

	preFilterStateKey framework.StateKey = "PreFilter" + Name
	preScoreStateKey  framework.StateKey = "PreScore" + Name
)

// NodeAffinity filters and scores nodes by node selectors and affinity.
type NodeAffinity struct {
	// addedNodeSelector is addedAffinity's required part; nil when unset.
	addedNodeSelector *nodeaffinity.NodeSelector
	// addedPreferred is addedAffinity's preferred part; nil when unset.
	addedPreferred *nodeaffinity.PreferredSchedulingTerms
}

var (
	_ framework.PreFilterPlugin   = (*NodeAffinity)(nil)
	_ framework.FilterPlugin      = (*NodeAffinity)(nil)
	_ framework.PreScorePlugin    = (*NodeAffinity)(nil)
	_ framework.ScorePlugin       = (*NodeAffinity)(nil)
	_ framework.ScoreExtensions   = (*NodeAffinity)(nil)
	_ framework.EnqueueExtensions = (*NodeAffinity)(nil)
)

// New builds the plugin from *configv1.NodeAffinityArgs; nil args mean no
// added affinity. Invalid args are rejected with every problem listed.
func New(_ context.Context, obj runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, nil, ValidateArgs, nil)
	if err != nil {
		return nil, err
	}
	pl := &NodeAffinity{}
	if aa := args.AddedAffinity; aa != nil {
		var err error
		if ns := aa.RequiredDuringSchedulingIgnoredDuringExecution; ns != nil {
			if pl.addedNodeSelector, err = nodeaffinity.NewNodeSelector(ns); err != nil {
				return nil, fmt.Errorf("parsing addedAffinity.requiredDuringSchedulingIgnoredDuringExecution: %w", err)
			}
		}
		if terms := aa.PreferredDuringSchedulingIgnoredDuringExecution; len(terms) != 0 {
			if pl.addedPreferred, err = nodeaffinity.NewPreferredSchedulingTerms(terms); err != nil {
				return nil, fmt.Errorf("parsing addedAffinity.preferredDuringSchedulingIgnoredDuringExecution: %w", err)
			}
		}
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*NodeAffinity) Name() string { return Name }

var _ framework.NodeLocalPlugin = (*NodeAffinity)(nil)

// NodeLocal implements framework.NodeLocalPlugin: the verdict and raw score
// for a node depend only on the pod and that node, so the engine may reuse
// them for identical pods until the node changes.
func (*NodeAffinity) NodeLocal() bool { return true }
