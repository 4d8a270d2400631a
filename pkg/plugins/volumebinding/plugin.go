package volumebinding

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/storage/volume"
	csitrans "k8s.io/csi-translation-lib"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/csicapacity"
	"github.com/berthsched/berth/pkg/plugins/internal/pluginutil"
)

// Name is the plugin's name in configuration.
const Name = "VolumeBinding"

// DefaultBindTimeoutSeconds is how long PreBind waits, by default, for the
// PV controller (and a provisioner) to finish binding a pod's claims.
const DefaultBindTimeoutSeconds int64 = 600

// BoundAtAnnotation is set on every claim berth binds or sends to
// provisioning, with the time (RFC 3339) it did so, so operators can tell
// when and by which scheduler a claim was placed.
const BoundAtAnnotation = "berth.io/bound-at"

const stateKey framework.StateKey = Name

// translator is the part of csi-translation-lib the plugin uses.
type translator interface {
	IsPVMigratable(pv *v1.PersistentVolume) bool
	GetInTreePluginNameFromSpec(pv *v1.PersistentVolume, vol *v1.Volume) (string, error)
	TranslateInTreePVToCSI(logger klog.Logger, pv *v1.PersistentVolume) (*v1.PersistentVolume, error)
}

// VolumeBinding places pods whose volumes use PersistentVolumeClaims: bound
// claims pin the pod to nodes their PV admits; WaitForFirstConsumer claims
// are matched to an available PV or provisioned for the chosen node, which
// the binding cycle writes to the API and waits for.
type VolumeBinding struct {
	handle     framework.Handle
	pvcs       *assumeCache[*v1.PersistentVolumeClaim]
	pvs        *assumeCache[*v1.PersistentVolume]
	classes    storagelisters.StorageClassLister
	csiNodes   storagelisters.CSINodeLister
	drivers    storagelisters.CSIDriverLister
	nodes      corelisters.NodeLister
	pods       corelisters.PodLister
	capacities *csicapacity.Index
	translator translator

	bindTimeout  time.Duration
	pollInterval time.Duration
	shape        pluginutil.Shape
	now          func() time.Time
}

var (
	_ framework.PreFilterPlugin   = (*VolumeBinding)(nil)
	_ framework.FilterPlugin      = (*VolumeBinding)(nil)
	_ framework.PreScorePlugin    = (*VolumeBinding)(nil)
	_ framework.ScorePlugin       = (*VolumeBinding)(nil)
	_ framework.ReservePlugin     = (*VolumeBinding)(nil)
	_ framework.PreBindPlugin     = (*VolumeBinding)(nil)
	_ framework.EnqueueExtensions = (*VolumeBinding)(nil)
	_ framework.FailureExplainer  = (*VolumeBinding)(nil)
)

// SetDefaultArgs fills bindTimeoutSeconds (600) and the capacity scoring
// shape kube-scheduler v1.37 uses (StorageCapacityScoring is on by
// default): an empty node scores 10, a full one 0, so volumes spread.
func SetDefaultArgs(args *configv1.VolumeBindingArgs) {
	if args.BindTimeoutSeconds == nil {
		t := DefaultBindTimeoutSeconds
		args.BindTimeoutSeconds = &t
	}
	if len(args.Shape) == 0 {
		args.Shape = []configv1.UtilizationShapePoint{
			{Utilization: 0, Score: pluginutil.MaxShapeScore},
			{Utilization: 100, Score: 0},
		}
	}
}

// ValidateArgs checks bindTimeoutSeconds is not negative and the shape is
// well formed, reporting each problem under path.
func ValidateArgs(args *configv1.VolumeBindingArgs, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if args.BindTimeoutSeconds != nil && *args.BindTimeoutSeconds < 0 {
		errs = append(errs, field.Invalid(path.Child("bindTimeoutSeconds"), *args.BindTimeoutSeconds, "invalid BindTimeoutSeconds, should not be a negative value"))
	}
	return append(errs, pluginutil.ValidateShape(args.Shape, path.Child("shape"))...)
}

// New builds the plugin from *configv1.VolumeBindingArgs (nil means the
// defaults). It registers informers for claims, volumes, classes, CSI
// nodes, drivers and storage capacities with the handle's factory.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, err := pluginutil.DecodeArgs(Name, obj, SetDefaultArgs, ValidateArgs, field.NewPath("args"))
	if err != nil {
		return nil, err
	}
	if h == nil || h.SharedInformerFactory() == nil {
		return nil, fmt.Errorf("plugin %s needs a handle with an informer factory", Name)
	}
	f := h.SharedInformerFactory()
	pvInf := f.Core().V1().PersistentVolumes().Informer()
	if err := addClassIndex(pvInf); err != nil {
		return nil, fmt.Errorf("plugin %s: indexing PersistentVolumes: %w", Name, err)
	}
	capInf := f.Storage().V1().CSIStorageCapacities()
	caps, err := csicapacity.NewIndex(capInf.Informer(), capInf.Lister())
	if err != nil {
		return nil, fmt.Errorf("plugin %s: watching CSIStorageCapacities: %w", Name, err)
	}
	return &VolumeBinding{
		handle:       h,
		pvcs:         newAssumeCache[*v1.PersistentVolumeClaim](f.Core().V1().PersistentVolumeClaims().Informer(), schema.GroupResource{Resource: "persistentvolumeclaim"}),
		pvs:          newAssumeCache[*v1.PersistentVolume](pvInf, schema.GroupResource{Resource: "persistentvolume"}),
		classes:      f.Storage().V1().StorageClasses().Lister(),
		csiNodes:     f.Storage().V1().CSINodes().Lister(),
		drivers:      f.Storage().V1().CSIDrivers().Lister(),
		nodes:        f.Core().V1().Nodes().Lister(),
		pods:         f.Core().V1().Pods().Lister(),
		capacities:   caps,
		translator:   csitrans.New(),
		bindTimeout:  time.Duration(*args.BindTimeoutSeconds) * time.Second,
		pollInterval: 100 * time.Millisecond,
		shape:        pluginutil.NewShape(args.Shape),
		now:          time.Now,
	}, nil
}

// Name implements framework.Plugin.
func (pl *VolumeBinding) Name() string { return Name }

// stateData is one pod's cycle: its claims, and the plan for every node
// that passed Filter (written concurrently by parallel Filter calls).
type stateData struct {
	claims *podClaims

	mu     sync.Mutex
	byNode map[string]*podVolumes
	// hasStatic is set when some node's plan binds a static PV; scoring
	// then rates static matches rather than provisioning capacity.
	hasStatic bool
	// allBound is set by Reserve when nothing is left for PreBind to do.
	allBound bool
	// failures counts, per claim and reason, the nodes the claim failed on.
	failures map[claimReason]int
}

type claimReason struct{ claim, why string }

// Clone shares the state: preemption's what-if runs never change volume
// plans, and Reserve must see what Filter found.
func (d *stateData) Clone() framework.StateData { return d }

func (d *stateData) plan(node string) (*podVolumes, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.byNode[node]
	return p, ok
}

func (d *stateData) note(claim, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failures == nil {
		d.failures = map[claimReason]int{}
	}
	d.failures[claimReason{claim, why}]++
}

// ExplainFailure names the claims that kept the pod off nodes, each reason
// with the number of nodes it applied to, most nodes first, for the pod's
// failure message ("why is my pod pending?").
func (pl *VolumeBinding) ExplainFailure(state *framework.CycleState, pod *v1.Pod) string {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]claimReason, 0, len(s.failures))
	for k := range s.failures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := s.failures[keys[i]], s.failures[keys[j]]
		if a != b {
			return a > b
		}
		if keys[i].claim != keys[j].claim {
			return keys[i].claim < keys[j].claim
		}
		return keys[i].why < keys[j].why
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		n := s.failures[k]
		unit := "nodes"
		if n == 1 {
			unit = "node"
		}
		parts = append(parts, fmt.Sprintf("claim %q %s (%d %s)", k.claim, k.why, n, unit))
	}
	return strings.Join(parts, "; ")
}

// PreFilter reads the pod's claims. Pods without claims skip the plugin;
// a missing, lost or terminating claim, or an unbound Immediate one,
// rejects the pod on every node.
func (pl *VolumeBinding) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	has, err := pl.checkClaimsExist(pod)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	if !has {
		state.Write(stateKey, &stateData{})
		return nil, framework.NewStatus(framework.Skip)
	}
	claims, err := pl.classify(pod)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(claims.immediate) > 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonUnboundImmediate)
	}
	state.Write(stateKey, &stateData{claims: claims, byNode: map[string]*podVolumes{}})
	return nil, nil
}

// PreFilterExtensions is nil: other pods do not change volume verdicts.
func (pl *VolumeBinding) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter checks the pod's claims against one node and keeps the plan.
func (pl *VolumeBinding) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	node := ni.Node()
	plan, reasons, err := pl.findPodVolumes(klog.FromContext(ctx), s.claims, node, s.note)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasons...)
	}
	s.mu.Lock()
	s.byNode[node.Name] = plan
	s.hasStatic = s.hasStatic || len(plan.static) > 0
	s.mu.Unlock()
	return nil
}

// PreScore skips pods without claims (their score would be 0 everywhere).
func (pl *VolumeBinding) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.claims == nil {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score rates how full the node's storage would be, per class, on the
// configured shape: for static matches, the claims' requests against the
// chosen PVs' sizes; otherwise the requests to provision against the
// node's reported CSIStorageCapacity.
func (pl *VolumeBinding) Score(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	plan, ok := s.plan(ni.Node().Name)
	if !ok {
		return 0, nil
	}
	type usage struct{ requested, capacity int64 }
	byClass := map[string]*usage{}
	at := func(class string) *usage {
		u := byClass[class]
		if u == nil {
			u = &usage{}
			byClass[class] = u
		}
		return u
	}
	if len(plan.static) > 0 {
		for _, b := range plan.static {
			u := at(b.pv.Spec.StorageClassName)
			req, pvCap := b.pvc.Spec.Resources.Requests[v1.ResourceStorage], b.pv.Spec.Capacity[v1.ResourceStorage]
			u.requested += req.Value()
			u.capacity += pvCap.Value()
		}
	} else {
		for _, p := range plan.dynamic {
			if p.capacity == nil {
				continue
			}
			// Grouped by spec.storageClassName, as kube-scheduler does
			// (a claim naming its class only by the beta annotation
			// would crash upstream; berth falls back to it).
			class := volume.GetPersistentVolumeClaimClass(p.pvc)
			if p.pvc.Spec.StorageClassName != nil {
				class = *p.pvc.Spec.StorageClassName
			}
			u := at(class)
			if p.capacity.Capacity != nil {
				u.capacity = p.capacity.Capacity.Value()
			}
			req := p.pvc.Spec.Resources.Requests[v1.ResourceStorage]
			u.requested += req.Value()
		}
	}
	if len(byClass) == 0 {
		return 0, nil
	}
	var sum int64
	for _, u := range byClass {
		if u.capacity == 0 || u.requested > u.capacity {
			sum += pl.shape.At(100)
		} else {
			sum += pl.shape.At(u.requested * 100 / u.capacity)
		}
	}
	return int64(math.Round(float64(sum) / float64(len(byClass)))), nil
}

// ScoreExtensions is nil: scores are already in 0..MaxNodeScore.
func (pl *VolumeBinding) ScoreExtensions() framework.ScoreExtensions { return nil }
