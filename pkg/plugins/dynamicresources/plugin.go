package dynamicresources

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	resourcelisters "k8s.io/client-go/listers/resource/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/dynamic-resource-allocation/resourceslice/tracker"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/draextended"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "DynamicResources"

const stateKey framework.StateKey = Name

// Features are the DRA features kube-scheduler v1.37 turns on by default,
// which berth always has on: what the structured allocator is asked to
// support. Alpha features (derived attributes, compatibility groups,
// list-type attributes, optional node operations, node-allocatable
// resources, workload claims) are off in v1.37 and off here, and so is
// FractionalCapacityRange: a beta whose default turns on only at
// compatibility version 1.37, while a v1.37 kube-scheduler runs at 1.36
// compatibility unless told otherwise.
var Features = structured.Features{
	AdminAccess:            true,
	PrioritizedList:        true,
	PartitionableDevices:   true,
	DeviceTaints:           true,
	DeviceBindingAndStatus: true,
	ConsumableCapacity:     true,
}

// SetDefaultArgs fills in v1.37's defaults: a 10 s budget per node for the
// allocator and 10 min for devices' binding conditions.
func SetDefaultArgs(args *configv1.DynamicResourcesArgs) {
	if args.FilterTimeout == nil {
		args.FilterTimeout = &metav1.Duration{Duration: configv1.DynamicResourcesFilterTimeoutDefault}
	}
	if args.BindingTimeout == nil {
		args.BindingTimeout = &metav1.Duration{Duration: configv1.DynamicResourcesBindingTimeoutDefault}
	}
}

// ValidateArgs rejects a negative filter timeout (zero disables it) and a
// binding timeout under a second, as kube-scheduler does.
func ValidateArgs(args *configv1.DynamicResourcesArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if args.FilterTimeout != nil && args.FilterTimeout.Duration < 0 {
		errs = append(errs, field.Invalid(path.Child("filterTimeout"), args.FilterTimeout.Duration.String(), "must be zero or positive"))
	}
	if args.BindingTimeout != nil && args.BindingTimeout.Duration < time.Second {
		errs = append(errs, field.Invalid(path.Child("bindingTimeout"), args.BindingTimeout.Duration.String(), "must be at least 1 second"))
	}
	return errs
}

// DynamicResources allocates the devices of pods' ResourceClaims.
type DynamicResources struct {
	handle  framework.Handle
	claims  *claimTracker
	slices  *tracker.Tracker
	classes resourcelisters.DeviceClassLister
	// dra maps extended resources to the DeviceClasses backing them; it
	// is shared with NodeResourcesFit over the same factory.
	dra            *draextended.Resolver
	celCache       *cel.Cache
	filterTimeout  time.Duration
	bindingTimeout time.Duration
	// pollInterval is how often PreBind looks at binding conditions.
	pollInterval time.Duration
	now          func() time.Time
}

var (
	_ framework.PreEnqueuePlugin  = &DynamicResources{}
	_ framework.PreFilterPlugin   = &DynamicResources{}
	_ framework.FilterPlugin      = &DynamicResources{}
	_ framework.PostFilterPlugin  = &DynamicResources{}
	_ framework.PreScorePlugin    = &DynamicResources{}
	_ framework.ScorePlugin       = &DynamicResources{}
	_ framework.ReservePlugin     = &DynamicResources{}
	_ framework.PreBindPlugin     = &DynamicResources{}
	_ framework.EnqueueExtensions = &DynamicResources{}
	_ framework.FailureExplainer  = &DynamicResources{}
	_ framework.SyncedPlugin      = &DynamicResources{}
)

// New builds the plugin: it registers informers for ResourceClaims,
// ResourceSlices (through the library's tracker, which applies
// DeviceTaintRules), DeviceTaintRules and DeviceClasses on the handle's
// factory.
func New(ctx context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	if h == nil || h.SharedInformerFactory() == nil {
		return nil, fmt.Errorf("plugin %s needs a handle with an informer factory", Name)
	}
	shared, err := lookupShared(ctx, h)
	if err != nil {
		return nil, err
	}
	f := h.SharedInformerFactory()
	dra, err := draextended.ForFactory(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", Name, err)
	}
	return &DynamicResources{
		handle:  h,
		claims:  shared.claims,
		slices:  shared.slices,
		classes: f.Resource().V1().DeviceClasses().Lister(),
		dra:     dra,
		// Compiled CEL selectors of the most recent classes and claims.
		celCache:       cel.NewCache(10, cel.Features{EnableConsumableCapacity: Features.ConsumableCapacity}),
		filterTimeout:  args.FilterTimeout.Duration,
		bindingTimeout: args.BindingTimeout.Duration,
		pollInterval:   time.Second,
		now:            time.Now,
	}, nil
}

// HasSynced reports whether the plugin's claim and slice trackers (and
// its view of the classes backing extended resources) have seen their
// informers' initial lists; before that PreFilter refuses to allocate. Callers that build the plugin outside the engine (tests,
// conformance) wait for it.
func (pl *DynamicResources) HasSynced() bool {
	return pl.claims.HasSynced() && pl.slices.HasSynced() && pl.dra.HasSynced()
}

// Name implements framework.Plugin.
func (pl *DynamicResources) Name() string { return Name }

// EventsToRegister: nodes appearing or relabelled (allocations and pools
// are selected by node labels), claims created, changed or deleted (a
// deallocation frees devices for everyone), classes created or changed,
// slices published, and taint rules changed.
func (pl *DynamicResources) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel | framework.UpdateNodeAllocatable}},
		{Event: framework.ClusterEvent{Resource: framework.ResourceClaim, ActionType: framework.Add | framework.Update | framework.Delete}, QueueingHintFn: pl.isSchedulableAfterClaimChange},
		{Event: framework.ClusterEvent{Resource: framework.DeviceClass, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.ResourceSlice, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.DeviceTaintRule, ActionType: framework.Update | framework.Delete}},
	}, nil
}

// isSchedulableAfterClaimChange requeues a pod when a claim it uses was
// created or its status changed, or when any claim was deallocated or
// deleted while allocated (devices came free).
func (pl *DynamicResources) isSchedulableAfterClaimChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (framework.QueueingHint, error) {
	if newObj == nil {
		if _, unknown := oldObj.(cache.DeletedFinalStateUnknown); unknown {
			return framework.Queue, nil
		}
	}
	oldClaim, newClaim, err := pluginutil.As[*resourceapi.ResourceClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if newClaim == nil {
		if oldClaim != nil && oldClaim.Status.Allocation != nil {
			return framework.Queue, nil
		}
		return framework.QueueSkip, nil
	}
	uses := false
	if err := pl.foreachClaim(pod, func(_ string, c *resourceapi.ResourceClaim) {
		if c.UID == newClaim.UID {
			uses = true
		}
	}); err != nil {
		// The pod still misses a claim; this event did not bring it.
		return framework.QueueSkip, nil
	}
	if oldClaim != nil && oldClaim.Status.Allocation != nil && newClaim.Status.Allocation == nil {
		return framework.Queue, nil
	}
	if !uses {
		return framework.QueueSkip, nil
	}
	if oldClaim == nil {
		logger.V(5).Info("Claim of the pod was created", "pod", klog.KObj(pod), "claim", klog.KObj(newClaim))
		return framework.Queue, nil
	}
	if apiequality.Semantic.DeepEqual(&oldClaim.Status, &newClaim.Status) {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

// PreEnqueue keeps a pod out of the active queue until each of its claims
// exists, belongs to it (when made from a template) and is not being
// deleted.
func (pl *DynamicResources) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	if len(pod.Spec.ResourceClaims) == 0 {
		return nil
	}
	if err := pl.foreachClaim(pod, nil); err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	return nil
}

// foreachClaim resolves each of the pod's claims and calls fn (if set) with
// the pod's name for the claim and the claim. It fails on the first claim
// that is missing, being deleted, or generated for another pod. A claim
// that was deliberately not generated is skipped.
func (pl *DynamicResources) foreachClaim(pod *v1.Pod, fn func(podClaimName string, c *resourceapi.ResourceClaim)) error {
	for i := range pod.Spec.ResourceClaims {
		pc := &pod.Spec.ResourceClaims[i]
		name, checkOwner, err := resourceclaim.Name(pod, pc)
		if err != nil {
			return err
		}
		if name == nil {
			continue
		}
		c, err := pl.claims.Get(pod.Namespace, *name)
		if err != nil {
			return err
		}
		if c.DeletionTimestamp != nil {
			return fmt.Errorf("resourceclaim %q is being deleted", c.Name)
		}
		if checkOwner {
			if err := resourceclaim.IsForPod(pod, c, false); err != nil {
				return err
			}
		}
		if fn != nil {
			fn(pc.Name, c)
		}
	}
	return nil
}

// shared is what every instance of the plugin over one informer factory
// has in common: berth run builds the profile's plugins and, for
// /debug/explain, a second set over the same informers. Both must see the
// same in-flight allocations, and the slice tracker may index the slice
// informer only once.
type shared struct {
	claims *claimTracker
	slices *tracker.Tracker
	users  int
}

var (
	sharedMu  sync.Mutex
	byFactory = map[informers.SharedInformerFactory]*shared{}
)

// lookupShared returns the factory's trackers, starting them on first use;
// they stop when the last plugin instance's context ends.
func lookupShared(ctx context.Context, h framework.Handle) (*shared, error) {
	f := h.SharedInformerFactory()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s := byFactory[f]
	if s == nil {
		claims, err := newClaimTracker(f.Resource().V1().ResourceClaims().Informer())
		if err != nil {
			return nil, fmt.Errorf("plugin %s: watching ResourceClaims: %w", Name, err)
		}
		slices, err := tracker.StartTracker(context.WithoutCancel(ctx), tracker.Options{
			EnableDeviceTaintRules:   true,
			EnableConsumableCapacity: Features.ConsumableCapacity,
			SliceInformer:            f.Resource().V1().ResourceSlices(),
			TaintInformer:            f.Resource().V1().DeviceTaintRules(),
			// No client: with one, the tracker starts a core/v1 event
			// broadcaster, and berth's least-privilege RBAC only allows
			// events.k8s.io Events.
		})
		if err != nil {
			return nil, fmt.Errorf("plugin %s: ResourceSlice tracker: %w", Name, err)
		}
		s = &shared{claims: claims, slices: slices}
		byFactory[f] = s
	}
	s.users++
	context.AfterFunc(ctx, func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		if s.users--; s.users == 0 {
			delete(byFactory, f)
			s.slices.Stop()
		}
	})
	return s, nil
}

// classLister adapts the informer's lister to the allocator's interface.
type classLister struct {
	l resourcelisters.DeviceClassLister
}

func (c classLister) List() ([]*resourceapi.DeviceClass, error) { return c.l.List(labels.Everything()) }

func (c classLister) Get(name string) (*resourceapi.DeviceClass, error) { return c.l.Get(name) }
