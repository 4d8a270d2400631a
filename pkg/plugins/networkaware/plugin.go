package networkaware

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"

	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/network"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "NetworkAware"

const stateKey framework.StateKey = Name

// NetworkAware places pods near the pods they exchange traffic with (see
// the package doc).
type NetworkAware struct {
	h    framework.Handle
	args *Args
	// base is the cost model of the args; a NetworkTopology refines it
	// per cycle (topologyModel).
	base *network.Model
	// derivedKey keys this instance's node indexes on NodeInfos: two
	// profiles may configure different levels.
	derivedKey string

	appGroups, topology *crdSource
	agConv              convCache[agv1alpha1.AppGroup]
	ntConv              convCache[ntv1alpha1.NetworkTopology]
	talkers             *talkerCount

	topoMu    sync.Mutex
	topoRV    string
	topoModel *network.Model
	topoNote  string

	topoNoteMu sync.Mutex
	loggedNote string

	parseMu sync.Mutex
	parsed  map[string]parsed

	toldMu sync.Mutex
	told   map[string]struct{}
}

var (
	_ framework.PreFilterPlugin   = (*NetworkAware)(nil)
	_ framework.FilterPlugin      = (*NetworkAware)(nil)
	_ framework.PreScorePlugin    = (*NetworkAware)(nil)
	_ framework.ScorePlugin       = (*NetworkAware)(nil)
	_ framework.ScoreExtensions   = (*NetworkAware)(nil)
	_ framework.ScoreExplainer    = (*NetworkAware)(nil)
	_ framework.EnqueueExtensions = (*NetworkAware)(nil)
	_ framework.EventSourcer      = (*NetworkAware)(nil)
	_ framework.SyncedPlugin      = (*NetworkAware)(nil)
)

// instances numbers plugin instances for their derived keys.
var instances atomic.Int64

// New builds the plugin. It asks the API server whether it serves the
// AppGroup and (when args name one) NetworkTopology CRDs and watches those
// it serves; pods that name an AppGroup berth cannot read are placed
// without it, with a Warning event saying why.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	base, err := network.NewModel(args.levels())
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	pl := &NetworkAware{h: h, args: args, base: base,
		derivedKey: Name + "/" + strconv.FormatInt(instances.Add(1), 10),
		parsed:     map[string]parsed{}, told: map[string]struct{}{}}
	// Most clusters have no AppGroups: say so only when asked (a pod that
	// names one gets an event); a NetworkTopology the args name is worth
	// a line at startup.
	pl.appGroups, err = open(ctx, h, agv1alpha1.AppGroupResource, appGroupEvents,
		"install the AppGroup CRD (deploy/crds), then restart berth", 2)
	if err != nil {
		return nil, err
	}
	pl.topology = &crdSource{}
	if args.NetworkTopology != nil {
		pl.topology, err = open(ctx, h, ntv1alpha1.NetworkTopologyResource, networkTopologyEvents,
			"install the NetworkTopology CRD (deploy/crds), then restart berth", 0)
		if err != nil {
			return nil, err
		}
	}
	if f := h.SharedInformerFactory(); f != nil {
		c := newTalkerCount()
		reg, err := f.Core().V1().Pods().Informer().AddEventHandler(c.handlers())
		if err != nil {
			// An informer that already stopped (a finished evaluation):
			// scan for talkers every cycle instead.
			klog.FromContext(ctx).V(2).Info("Pods that talk to others are not counted; looking for them every cycle", "plugin", Name, "err", err)
		} else {
			c.reg = reg
			pl.talkers = c
		}
	}
	return pl, nil
}

// Name returns the plugin's name.
func (*NetworkAware) Name() string { return Name }

// HasSynced waits until the count of pods that talk to others has seen
// the pod informer's initial list, so the first pods scheduled see them.
func (pl *NetworkAware) HasSynced() bool { return pl.talkers.synced() }

// PreFilter builds the pod's dependencies when a bound may apply
// (args.maxCost, or an AppGroup's maxNetworkCost); Filter is skipped for
// pods with no placed, bounded dependency.
func (pl *NetworkAware) PreFilter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if _, inAppGroup := pod.Labels[agv1alpha1.AppGroupLabel]; pl.args.MaxCost == nil && !inAppGroup {
		return nil, framework.NewStatus(framework.Skip)
	}
	if !pl.state(ctx, cs, pod).limited {
		return nil, framework.NewStatus(framework.Skip)
	}
	return nil, nil
}

// PreFilterExtensions returns nil: the bounds are not relaxed by the
// pods preemption would remove (Filter's rejections are unresolvable by
// preemption), so there is nothing to update.
func (*NetworkAware) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// location is where a node sits in the model.
func (pl *NetworkAware) location(ni *framework.NodeInfo) network.Location {
	return pl.index(ni).loc
}

// Filter refuses a node whose expected cost to a placed, bounded
// dependency is above its bound. Preemption cannot help (evicting a
// dependency's far replicas would lower the mean, which is not a reason
// to evict them), so the verdict is UnschedulableAndUnresolvable.
func (pl *NetworkAware) Filter(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if ni.Node() == nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node not found")
	}
	s := pl.state(ctx, cs, pod)
	if d, _ := network.Exceeded(s.deps, pl.location(ni)); d != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, tooFar(d))
	}
	return nil
}

// tooFar is Filter's reason, the same for every node refused on account
// of one dependency so the failure summary counts them together:
// "node(s) too far from talks-to app=db (expected network cost above
// maxCost 5)".
func tooFar(d *network.Dependency) string {
	return fmt.Sprintf("node(s) too far from %s (expected network cost above %s %d)", d.Name, d.Limit, d.MaxCost)
}

// PreScore builds the pod's dependencies (unless PreFilter did) and
// skips scoring when none of them has a placed pod — no dependency at
// all, or none placed yet: every node would cost the same.
func (pl *NetworkAware) PreScore(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	if !pl.state(ctx, cs, pod).placed {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score returns the node's expected cost (network.RawCost: thousandths);
// NormalizeScore turns it into a score.
func (pl *NetworkAware) Score(ctx context.Context, cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s := pl.state(ctx, cs, pod)
	return network.RawCost(network.Expected(s.deps, pl.location(ni))), nil
}

// ScoreExtensions returns the plugin: raw scores are costs.
func (pl *NetworkAware) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps the cheapest node to MaxNodeScore and the dearest
// to 0, linearly; equal costs tie, and all nodes get 0 when all cost the
// same.
func (pl *NetworkAware) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	cheapest, dearest := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		cheapest, dearest = min(cheapest, s.Score), max(dearest, s.Score)
	}
	for i := range scores {
		scores[i].Score = network.Normalized(scores[i].Score, cheapest, dearest, framework.MaxNodeScore)
	}
	return nil
}

// ExplainScore describes the node's expected cost dependency by
// dependency, and what of the pod's declarations could not be used:
// "total expected cost 6.0; talks-to app=db (weight 1): 4 pods placed: 2
// other rack (cost 2), 2 other zone (cost 10) → expected cost 6.0;
// talks-to app=cache (weight 1): not placed yet".
func (pl *NetworkAware) ExplainScore(cs *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) string {
	s := pl.state(context.Background(), cs, pod)
	var parts []string
	if len(s.deps) > 0 && ni.Node() != nil {
		parts = append(parts, s.model.Describe(s.deps, pl.location(ni)))
	}
	parts = append(parts, s.notes...)
	return strings.Join(parts, "; ")
}

// EventSources declares the CRDs the plugin reads, when served.
func (pl *NetworkAware) EventSources() []framework.EventSource {
	var out []framework.EventSource
	for _, s := range []*crdSource{pl.appGroups, pl.topology} {
		if s.lister != nil {
			out = append(out, framework.EventSource{Resource: s.resource, GVR: s.gvr})
		}
	}
	return out
}

// EventsToRegister: a node Filter refused may come within bounds when a
// dependency's pods move (added, deleted, relabelled), when nodes join or
// change labels, or when the AppGroup or NetworkTopology behind the bound
// changes.
func (pl *NetworkAware) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	evs := []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add | framework.Delete | framework.UpdatePodLabel}, QueueingHintFn: mayBeDependency},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
	}
	for _, s := range []*crdSource{pl.appGroups, pl.topology} {
		if s.lister != nil {
			evs = append(evs, framework.ClusterEventWithHint{
				Event: framework.ClusterEvent{Resource: s.resource, ActionType: framework.Add | framework.UpdateOther | framework.Delete}})
		}
	}
	return evs, nil
}

// mayBeDependency skips pods of other namespaces, unless the waiting pod
// is in an AppGroup (whose workloads may live anywhere).
func mayBeDependency(_ klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	o, n, err := pluginutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	other := n
	if other == nil {
		other = o
	}
	if _, inAppGroup := pod.Labels[agv1alpha1.AppGroupLabel]; inAppGroup || other == nil || other.Namespace == pod.Namespace {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}
