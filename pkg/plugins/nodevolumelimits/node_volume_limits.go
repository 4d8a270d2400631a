package nodevolumelimits

import (
	"context"
	"fmt"
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	csitrans "k8s.io/csi-translation-lib"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "NodeVolumeLimits"

	// ErrReasonMaxVolumeCountExceeded is Filter's reason when the pod's
	// volumes would take a driver over its attach limit on the node.
	ErrReasonMaxVolumeCountExceeded = "node(s) exceed max volume count"
)

// ErrReasonDriverNotInstalled is Filter's reason when the pod needs a
// driver that asks for pods to wait for it (preventPodSchedulingIfMissing)
// and the node's CSINode does not list it.
func ErrReasonDriverNotInstalled(driver string) string {
	return fmt.Sprintf("%s CSI driver is not installed on the node", driver)
}

// NodeVolumeLimits filters nodes by their CSI drivers' attach limits.
type NodeVolumeLimits struct {
	pvLister        corelisters.PersistentVolumeLister
	pvcLister       corelisters.PersistentVolumeClaimLister
	scLister        storagelisters.StorageClassLister
	csiNodeLister   storagelisters.CSINodeLister
	csiDriverLister storagelisters.CSIDriverLister
	attachments     cache.Indexer
	translator      csitrans.CSITranslator
	// unboundPrefix starts the made-up handle of a claim that has no
	// volume yet, so that it cannot equal a real volume handle.
	unboundPrefix string
}

var (
	_ framework.PreFilterPlugin   = (*NodeVolumeLimits)(nil)
	_ framework.FilterPlugin      = (*NodeVolumeLimits)(nil)
	_ framework.EnqueueExtensions = (*NodeVolumeLimits)(nil)
)

// New builds the plugin. It takes no arguments. It registers the informers
// it reads, including VolumeAttachments indexed by node.
func New(_ context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	f := h.SharedInformerFactory()
	vaInformer := f.Storage().V1().VolumeAttachments().Informer()
	if err := addNodeIndex(vaInformer); err != nil {
		return nil, err
	}
	return &NodeVolumeLimits{
		pvLister:        f.Core().V1().PersistentVolumes().Lister(),
		pvcLister:       f.Core().V1().PersistentVolumeClaims().Lister(),
		scLister:        f.Storage().V1().StorageClasses().Lister(),
		csiNodeLister:   f.Storage().V1().CSINodes().Lister(),
		csiDriverLister: f.Storage().V1().CSIDrivers().Lister(),
		attachments:     vaInformer.GetIndexer(),
		translator:      csitrans.New(),
		unboundPrefix:   rand.String(32),
	}, nil
}

// Name returns the plugin's name.
func (*NodeVolumeLimits) Name() string { return Name }

// PreFilter returns Skip for a pod with no volume that can count against a
// limit: no claim, no generic ephemeral volume, no migratable in-tree
// volume.
func (pl *NodeVolumeLimits) PreFilter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if slices.ContainsFunc(pod.Spec.Volumes, pl.mayCount) {
		return nil, nil
	}
	return nil, framework.NewStatus(framework.Skip)
}

// mayCount reports whether a pod volume may count against a CSI limit.
func (pl *NodeVolumeLimits) mayCount(v v1.Volume) bool {
	return v.PersistentVolumeClaim != nil || v.Ephemeral != nil || pl.translator.IsInlineMigratable(&v)
}

// PreFilterExtensions returns nil: Filter reads the node's pods directly.
func (*NodeVolumeLimits) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects the node when the pod's volumes that are not yet attached
// there would take a CSI driver over its limit, or when the pod needs a
// driver that is missing from the node and says pods must wait for it.
func (pl *NodeVolumeLimits) Filter(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if len(pod.Spec.Volumes) == 0 {
		return nil
	}
	node := nodeInfo.Node()
	if node == nil {
		return framework.AsStatus(fmt.Errorf("node not found"))
	}
	logger := klog.FromContext(ctx)
	csiNode, err := pl.csiNodeLister.Get(node.Name)
	if err != nil {
		// No CSINode: no limits, and no in-tree migration.
		logger.V(5).Info("Could not get the node's CSINode", "node", klog.KObj(node), "err", err)
		csiNode = nil
	}

	newVolumes := map[string]string{}
	if err := pl.addVolumes(logger, pod, csiNode, true, newVolumes); err != nil {
		if apierrors.IsNotFound(err) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		return framework.AsStatus(err)
	}
	if len(newVolumes) == 0 {
		return nil
	}
	for _, driver := range sets.List(sets.New(slices.Collect(maps.Values(newVolumes))...)) {
		installed, err := pl.driverInstalled(driver, csiNode)
		if err != nil {
			return framework.AsStatus(err)
		}
		if !installed {
			return framework.NewStatus(framework.Unschedulable, ErrReasonDriverNotInstalled(driver))
		}
	}
	limits := volumeLimits(csiNode)
	if len(limits) == 0 {
		return nil
	}

	attached := map[string]string{}
	for _, pi := range nodeInfo.Pods {
		if err := pl.addVolumes(logger, pi.Pod, csiNode, false, attached); err != nil {
			return framework.AsStatus(err)
		}
	}
	used := map[string]int{}
	for id, driver := range attached {
		delete(newVolumes, id)
		used[driver]++
	}
	held, err := pl.nodeAttachments(logger, node.Name)
	if err != nil {
		return framework.AsStatus(err)
	}
	// A volume attached for a pod on the node is counted once. The pod's
	// own volumes are not matched against attachments, as upstream does
	// not match them either.
	for id, driver := range held {
		if _, ok := attached[id]; !ok {
			used[driver]++
		}
	}
	wanted := map[string]int{}
	for _, driver := range newVolumes {
		wanted[driver]++
	}
	for driver, n := range wanted {
		limit, ok := limits[driver]
		if !ok {
			continue
		}
		logger.V(5).Info("Checking CSI volume limit", "pod", klog.KObj(pod), "node", klog.KObj(node), "driver", driver,
			"limit", limit, "used", used[driver], "new", n)
		if int64(used[driver]+n) > limit {
			return framework.NewStatus(framework.Unschedulable, ErrReasonMaxVolumeCountExceeded)
		}
	}
	return nil
}

// driverInstalled reports whether the node may take volumes of driver:
// always, unless the driver's CSIDriver sets preventPodSchedulingIfMissing
// and the node's CSINode does not list it. A driver without a CSIDriver
// object may not be a CSI driver at all, so it does not block.
func (pl *NodeVolumeLimits) driverInstalled(driver string, csiNode *storagev1.CSINode) (bool, error) {
	d, err := pl.csiDriverLister.Get(driver)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("error getting CSIDriver for provider %s: %w", driver, err)
	}
	if d.Spec.PreventPodSchedulingIfMissing == nil || !*d.Spec.PreventPodSchedulingIfMissing {
		return true, nil
	}
	if csiNode == nil {
		return false, nil
	}
	return slices.ContainsFunc(csiNode.Spec.Drivers, func(nd storagev1.CSINodeDriver) bool { return nd.Name == driver }), nil
}

// volumeLimits maps each driver of the CSINode that reports an attach
// limit to that limit. A nil CSINode has none.
func volumeLimits(csiNode *storagev1.CSINode) map[string]int64 {
	limits := map[string]int64{}
	if csiNode == nil {
		return limits
	}
	for _, d := range csiNode.Spec.Drivers {
		if d.Allocatable != nil && d.Allocatable.Count != nil {
			limits[d.Name] = int64(*d.Allocatable.Count)
		}
	}
	return limits
}
