package volumerestrictions

import (
	"context"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/berthsched/berth/pkg/framework"
)

const (
	// Name is the plugin's name in the registry and in configurations.
	Name = "VolumeRestrictions"

	// ErrReasonDiskConflict is Filter's reason when a pod on the node holds
	// an in-line disk the pod needs.
	ErrReasonDiskConflict = "node(s) had no available disk"
	// ErrReasonReadWriteOncePodConflict is Filter's reason when a
	// ReadWriteOncePod claim of the pod is used by another pod.
	ErrReasonReadWriteOncePodConflict = "node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod"

	preFilterStateKey framework.StateKey = "PreFilter" + Name
)

// VolumeRestrictions rejects nodes where the pod's volumes cannot be used
// because another pod holds them.
type VolumeRestrictions struct {
	pvcLister corelisters.PersistentVolumeClaimLister
	handle    framework.Handle
}

var (
	_ framework.PreFilterPlugin     = (*VolumeRestrictions)(nil)
	_ framework.PreFilterExtensions = (*VolumeRestrictions)(nil)
	_ framework.FilterPlugin        = (*VolumeRestrictions)(nil)
	_ framework.EnqueueExtensions   = (*VolumeRestrictions)(nil)
)

// New builds the plugin. It takes no arguments.
func New(_ context.Context, args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	if args != nil {
		return nil, fmt.Errorf("plugin %s takes no args, got %T", Name, args)
	}
	return &VolumeRestrictions{
		pvcLister: h.SharedInformerFactory().Core().V1().PersistentVolumeClaims().Lister(),
		handle:    h,
	}, nil
}

// Name returns the plugin's name.
func (*VolumeRestrictions) Name() string { return Name }

// preFilterState is the pod's ReadWriteOncePod claims and how many uses of
// them by other pods the cycle sees. AddPod and RemovePod change the count,
// so Clone copies it.
type preFilterState struct {
	namespace string
	// rwopClaims are the names of the pod's claims with ReadWriteOncePod.
	rwopClaims sets.Set[string]
	// inUse is, after PreFilter, the number of those claims some pod uses;
	// then each pod added or removed adds or subtracts its references.
	inUse int
}

// Clone copies the count; the claim set is never modified and is shared.
func (s *preFilterState) Clone() framework.StateData {
	c := *s
	return &c
}

// references counts pod's volumes that use one of the claims.
func (s *preFilterState) references(pod *v1.Pod) int {
	if pod.Namespace != s.namespace || len(s.rwopClaims) == 0 {
		return 0
	}
	n := 0
	for i := range pod.Spec.Volumes {
		if claim := framework.PodVolumeClaimName(pod, &pod.Spec.Volumes[i]); claim != "" && s.rwopClaims.Has(claim) {
			n++
		}
	}
	return n
}

// PreFilter looks up every claim of the pod (a missing one rejects the
// pod), keeps those with ReadWriteOncePod, and counts how many of them a
// pod in the snapshot already uses. It returns Skip when the pod has no
// in-line disk to check and none of its RWOP claims is in use.
func (pl *VolumeRestrictions) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	rwop, err := pl.readWriteOncePodClaims(pod)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		return nil, framework.AsStatus(err)
	}
	s := &preFilterState{namespace: pod.Namespace, rwopClaims: rwop}
	if len(rwop) > 0 {
		nodes := pl.handle.SnapshotSharedLister().NodeInfos().List()
		for claim := range rwop {
			key := pod.Namespace + "/" + claim
			if slices.ContainsFunc(nodes, func(ni *framework.NodeInfo) bool { return ni.PVCRefCounts[key] > 0 }) {
				s.inUse++
			}
		}
	}
	if s.inUse == 0 && !slices.ContainsFunc(pod.Spec.Volumes, hasExclusiveDisk) {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, s)
	return nil, nil
}

// readWriteOncePodClaims returns the names of the pod's
// persistentVolumeClaim volumes whose claim has the ReadWriteOncePod
// access mode. Every claim must exist.
func (pl *VolumeRestrictions) readWriteOncePodClaims(pod *v1.Pod) (sets.Set[string], error) {
	claims := sets.New[string]()
	for i := range pod.Spec.Volumes {
		src := pod.Spec.Volumes[i].PersistentVolumeClaim
		if src == nil {
			continue
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(src.ClaimName)
		if err != nil {
			return nil, err
		}
		if slices.Contains(pvc.Spec.AccessModes, v1.ReadWriteOncePod) {
			claims.Insert(pvc.Name)
		}
	}
	return claims, nil
}

// PreFilterExtensions returns the plugin: the ReadWriteOncePod count
// depends on which pods exist.
func (pl *VolumeRestrictions) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts podInfoToAdd's uses of the pod's ReadWriteOncePod claims.
func (*VolumeRestrictions) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, podInfoToAdd *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.inUse += s.references(podInfoToAdd.Pod)
	return nil
}

// RemovePod uncounts podInfoToRemove's uses of the pod's ReadWriteOncePod
// claims, so that preemption sees that evicting the holder frees a claim.
func (*VolumeRestrictions) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, podInfoToRemove *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.inUse -= s.references(podInfoToRemove.Pod)
	return nil
}

// Filter rejects the node when a pod on it holds an in-line disk the pod
// needs, and every node while a ReadWriteOncePod claim of the pod is used
// by another pod.
func (*VolumeRestrictions) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if !disksAvailable(pod, nodeInfo) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonDiskConflict)
	}
	s, err := framework.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.inUse > 0 {
		return framework.NewStatus(framework.Unschedulable, ErrReasonReadWriteOncePodConflict)
	}
	return nil
}
