package volumezone

import (
	"context"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "VolumeZone"

	// ErrReasonConflict is Filter's reason when the node is outside a
	// volume's zone or region.
	ErrReasonConflict = "node(s) had no available volume zone"
	// ErrReasonClaimNoName rejects a pod volume that names no claim.
	ErrReasonClaimNoName = "PersistentVolumeClaim had no name"
	// ErrReasonUnboundNoClass rejects an unbound claim without a class:
	// nothing will ever bind it with delayed binding.
	ErrReasonUnboundNoClass = "PersistentVolumeClaim had no pv name and storageClass name"
	// ErrReasonUnboundImmediate rejects an unbound claim whose class binds
	// immediately: the PV controller has not bound it yet.
	ErrReasonUnboundImmediate = "PersistentVolume had no name"

	preFilterStateKey framework.StateKey = "PreFilter" + Name

	// zoneDelimiter separates the zones of a multi-zone volume's label.
	zoneDelimiter = "__"
)

// topologyLabels are the PersistentVolume labels that place a volume, in
// the order they are checked: the deprecated beta labels first.
var topologyLabels = []string{
	v1.LabelFailureDomainBetaZone,
	v1.LabelFailureDomainBetaRegion,
	v1.LabelTopologyZone,
	v1.LabelTopologyRegion,
}

// gaLabel maps a beta topology label to its GA name, which a node may
// carry instead; other labels map to themselves.
func gaLabel(key string) string {
	switch key {
	case v1.LabelFailureDomainBetaZone:
		return v1.LabelTopologyZone
	case v1.LabelFailureDomainBetaRegion:
		return v1.LabelTopologyRegion
	}
	return key
}

// ErrReasonNoBindingMode is the reason for an unbound claim whose class
// has no volumeBindingMode.
func ErrReasonNoBindingMode(class string) string {
	return fmt.Sprintf("VolumeBindingMode not set for StorageClass %q", class)
}

// VolumeZone filters nodes by the topology labels of the pod's bound
// PersistentVolumes.
type VolumeZone struct {
	pvLister  corelisters.PersistentVolumeLister
	pvcLister corelisters.PersistentVolumeClaimLister
	scLister  storagelisters.StorageClassLister
}

var (
	_ framework.PreFilterPlugin   = (*VolumeZone)(nil)
	_ framework.FilterPlugin      = (*VolumeZone)(nil)
	_ framework.EnqueueExtensions = (*VolumeZone)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	f := h.SharedInformerFactory()
	return &VolumeZone{
		pvLister:  f.Core().V1().PersistentVolumes().Lister(),
		pvcLister: f.Core().V1().PersistentVolumeClaims().Lister(),
		scLister:  f.Storage().V1().StorageClasses().Lister(),
	}, nil
}

// Name returns the plugin's name.
func (*VolumeZone) Name() string { return Name }

// volumeTopology is one topology label of one bound volume: the node must
// have key (or its GA form) set to one of values.
type volumeTopology struct {
	pv     string
	key    string
	values sets.Set[string]
}

// preFilterState is the pod's volume topologies; it does not depend on
// the pods on any node, so clones share it.
type preFilterState []volumeTopology

// Clone returns the state itself; it is never modified after PreFilter.
func (s preFilterState) Clone() framework.StateData { return s }

// PreFilter collects the topologies of the pod's bound volumes. It returns
// Skip when there are none, and rejects the pod when a claim, class or
// volume it needs is missing or a claim cannot be bound by scheduling.
func (pl *VolumeZone) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	topologies, status := pl.podTopologies(klog.FromContext(ctx), pod)
	if !status.IsSuccess() {
		return nil, status
	}
	if len(topologies) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, preFilterState(topologies))
	return nil, nil
}

// PreFilterExtensions returns nil: the state does not depend on other pods.
func (*VolumeZone) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// podTopologies resolves every PersistentVolumeClaim volume of the pod to
// its volume's topologies. Unbound claims of delayed-binding classes are
// left out: their volume is not chosen yet.
func (pl *VolumeZone) podTopologies(logger klog.Logger, pod *v1.Pod) ([]volumeTopology, *framework.Status) {
	var out []volumeTopology
	for i := range pod.Spec.Volumes {
		src := pod.Spec.Volumes[i].PersistentVolumeClaim
		if src == nil {
			continue
		}
		if src.ClaimName == "" {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonClaimNoName)
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(src.ClaimName)
		if err != nil {
			return nil, lookupStatus(err)
		}
		if pvc.Spec.VolumeName == "" {
			if status := pl.checkUnbound(pvc); status != nil {
				return nil, status
			}
			continue
		}
		pv, err := pl.pvLister.Get(pvc.Spec.VolumeName)
		if err != nil {
			return nil, lookupStatus(err)
		}
		out = append(out, volumeTopologies(logger, pv)...)
	}
	return out, nil
}

// checkUnbound returns nil when an unbound claim's class delays binding
// (the volume is chosen with the node), and the rejection otherwise.
func (pl *VolumeZone) checkUnbound(pvc *v1.PersistentVolumeClaim) *framework.Status {
	className := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if className == "" {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundNoClass)
	}
	class, err := pl.scLister.Get(className)
	if err != nil {
		return lookupStatus(err)
	}
	switch {
	case class.VolumeBindingMode == nil:
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNoBindingMode(className))
	case *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediate)
}

// lookupStatus turns a lister error into a status: a missing object will
// not appear by retrying on another node, anything else is an error.
func lookupStatus(err error) *framework.Status {
	if apierrors.IsNotFound(err) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	return framework.AsStatus(err)
}

// volumeTopologies returns the topology labels of pv. A label whose value
// does not parse is ignored, as upstream ignores it. spec.nodeAffinity is
// not read here: NodeAffinity of the volume is VolumeBinding's check.
func volumeTopologies(logger klog.Logger, pv *v1.PersistentVolume) []volumeTopology {
	var out []volumeTopology
	for _, key := range topologyLabels {
		value, ok := pv.Labels[key]
		if !ok {
			continue
		}
		zones, ok := parseZones(value)
		if !ok {
			logger.V(5).Info("Ignoring a volume topology label that does not parse", "pv", klog.KObj(pv), "label", key, "value", value)
			continue
		}
		out = append(out, volumeTopology{pv: pv.Name, key: key, values: zones})
	}
	return out
}

// parseZones splits a topology label value into its zones. Every zone
// must be non-empty after trimming spaces.
func parseZones(value string) (sets.Set[string], bool) {
	parts := strings.Split(value, zoneDelimiter)
	zones := make(sets.Set[string], len(parts))
	for _, z := range parts {
		z = strings.TrimSpace(z)
		if z == "" {
			return nil, false
		}
		zones.Insert(z)
	}
	return zones, true
}

// Filter rejects the node when it carries topology labels and one of the
// pod's volumes is in a zone or region the node is not in. A node may be
// labelled with the GA form of a volume's beta label.
func (pl *VolumeZone) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if len(pod.Spec.Volumes) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	topologies, err := framework.ReadState[preFilterState](state, preFilterStateKey)
	if err != nil {
		// PreFilter did not run (a caller that runs Filter alone):
		// compute what it would have stored.
		var status *framework.Status
		if topologies, status = pl.podTopologies(logger, pod); !status.IsSuccess() {
			return status
		}
	}
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(fmt.Errorf("node not found"))
	}
	if !hasTopologyLabel(node) {
		// Typically a single-zone cluster whose nodes are not labelled.
		return nil
	}
	for _, t := range topologies {
		v, ok := node.Labels[t.key]
		if !ok {
			v, ok = node.Labels[gaLabel(t.key)]
		}
		if !ok || !t.values.Has(v) {
			logger.V(10).Info("Node is outside a volume's topology", "pod", klog.KObj(pod), "node", klog.KObj(node), "pv", t.pv, "label", t.key)
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
		}
	}
	return nil
}

func hasTopologyLabel(node *v1.Node) bool {
	for _, key := range topologyLabels {
		if _, ok := node.Labels[key]; ok {
			return true
		}
	}
	return false
}
