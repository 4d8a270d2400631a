package interpodaffinity

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	listersv1 "k8s.io/client-go/listers/core/v1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "InterPodAffinity"

	// ErrReasonAffinityRulesNotMatch is the Filter reason when the node's
	// topology domains hold no pod matching the pod's required affinity
	// (kube-scheduler's wording).
	ErrReasonAffinityRulesNotMatch = "node(s) didn't match pod affinity rules"
	// ErrReasonAntiAffinityRulesNotMatch is the Filter reason when a
	// domain of the node holds a pod the pod's required anti-affinity
	// forbids.
	ErrReasonAntiAffinityRulesNotMatch = "node(s) didn't match pod anti-affinity rules"
	// ErrReasonExistingAntiAffinityRulesNotMatch is the Filter reason when a
	// pod in a domain of the node forbids the incoming pod by its own
	// required anti-affinity.
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"

	preFilterStateKey framework.StateKey = "PreFilter" + Name
	preScoreStateKey  framework.StateKey = "PreScore" + Name

	// DefaultHardPodAffinityWeight is hardPodAffinityWeight's default.
	DefaultHardPodAffinityWeight int32 = 1
	// MaxHardPodAffinityWeight is the largest valid hardPodAffinityWeight.
	MaxHardPodAffinityWeight int32 = 100
)

// InterPodAffinity filters and scores nodes by pod (anti-)affinity.
type InterPodAffinity struct {
	hardPodAffinityWeight              int32
	ignorePreferredTermsOfExistingPods bool

	// handle gives the cycle's snapshot; it is read per call because the
	// engine may set it up after building the plugins.
	handle   framework.Handle
	nsLister listersv1.NamespaceLister
	terms    *termTable
	// counts keeps PreFilter's counts across cycles (incremental.go); nil
	// recounts from scratch every cycle.
	counts *countsCache
	// scores keeps PreScore's sums across cycles (scorecache.go); nil
	// sums from scratch every cycle.
	scores *scoreCache
}

var (
	_ framework.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ framework.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ framework.FilterPlugin        = (*InterPodAffinity)(nil)
	_ framework.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ framework.ScorePlugin         = (*InterPodAffinity)(nil)
	_ framework.ScoreExtensions     = (*InterPodAffinity)(nil)
	_ framework.EnqueueExtensions   = (*InterPodAffinity)(nil)
)

// SetDefaultArgs fills hardPodAffinityWeight with its default (1).
func SetDefaultArgs(args *configv1.InterPodAffinityArgs) {
	if args.HardPodAffinityWeight == nil {
		w := DefaultHardPodAffinityWeight
		args.HardPodAffinityWeight = &w
	}
}

// ValidateArgs checks hardPodAffinityWeight is in [0, 100], under path.
func ValidateArgs(args *configv1.InterPodAffinityArgs, path *field.Path) field.ErrorList {
	if args == nil || args.HardPodAffinityWeight == nil {
		return nil
	}
	if w := *args.HardPodAffinityWeight; w < 0 || w > MaxHardPodAffinityWeight {
		return field.ErrorList{field.Invalid(path.Child("hardPodAffinityWeight"), w,
			fmt.Sprintf("not in valid range [0, %d]", MaxHardPodAffinityWeight))}
	}
	return nil
}

// New builds the plugin from *configv1.InterPodAffinityArgs (nil means the
// defaults). It registers a namespace informer with the handle's factory,
// for namespaceSelector.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, nil)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("plugin %s needs a handle", Name)
	}
	return &InterPodAffinity{
		hardPodAffinityWeight:              *args.HardPodAffinityWeight,
		ignorePreferredTermsOfExistingPods: args.IgnorePreferredTermsOfExistingPods,
		handle:                             h,
		nsLister:                           h.SharedInformerFactory().Core().V1().Namespaces().Lister(),
		terms:                              newTermTable(),
		counts:                             newCountsCache(),
		scores:                             newScoreCache(),
	}, nil
}

// Name returns the plugin's name.
func (*InterPodAffinity) Name() string { return Name }
