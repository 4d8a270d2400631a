package volumebinding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

// Reserve assumes the node's plan: chosen PVs get the claim reference and
// claims to provision get the selected node, in the plugin's caches only,
// so the next pods' cycles do not pick the same PV or ignore the promise.
func (pl *VolumeBinding) Reserve(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	plan, ok := s.plan(nodeName)
	if !ok {
		s.allBound = true
		return nil
	}
	allBound, err := pl.assume(klog.FromContext(ctx), pod, nodeName, plan)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.allBound = allBound
	return nil
}

// assume writes the plan into the caches and replaces the plan's objects
// with the assumed versions PreBind will send.
func (pl *VolumeBinding) assume(logger klog.Logger, pod *v1.Pod, nodeName string, plan *podVolumes) (bool, error) {
	if pl.allPodVolumesBound(pod) {
		logger.V(4).Info("All volumes of the pod are bound; nothing to assume", "node", nodeName)
		return true, nil
	}
	var static []*staticBinding
	var dynamic []*provision
	undo := func() {
		pl.revert(&podVolumes{static: static, dynamic: dynamic})
	}
	for _, b := range plan.static {
		pv, dirty, err := volume.GetBindVolumeToClaim(b.pv, b.pvc)
		if err != nil {
			undo()
			return false, err
		}
		if dirty {
			if err := pl.pvs.Assume(pv.Name, pv); err != nil {
				undo()
				return false, err
			}
		}
		static = append(static, &staticBinding{pvc: b.pvc, pv: pv})
	}
	for _, p := range plan.dynamic {
		pvc := p.pvc.DeepCopy()
		metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, volume.AnnSelectedNode, nodeName)
		if err := pl.pvcs.Assume(pvcKey(pvc), pvc); err != nil {
			undo()
			return false, err
		}
		dynamic = append(dynamic, &provision{pvc: pvc})
	}
	plan.static, plan.dynamic = static, dynamic
	logger.V(4).Info("Assumed pod volumes", "node", nodeName, "staticBindings", len(static), "provisions", len(dynamic))
	return false, nil
}

func (pl *VolumeBinding) allPodVolumesBound(pod *v1.Pod) bool {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.PersistentVolumeClaim == nil && vol.Ephemeral == nil {
			continue
		}
		pvc, err := pl.pvcs.Get(pod.Namespace + "/" + claimName(pod, vol))
		if err != nil || !fullyBound(pvc) {
			return false
		}
	}
	return true
}

// revert drops the plan's assumptions.
func (pl *VolumeBinding) revert(plan *podVolumes) {
	for _, b := range plan.static {
		pl.pvs.Restore(b.pv.Name)
	}
	for _, p := range plan.dynamic {
		pl.pvcs.Restore(pvcKey(p.pvc))
	}
}

// Unreserve gives up the node's assumed plan.
func (pl *VolumeBinding) Unreserve(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return
	}
	if plan, ok := s.plan(nodeName); ok {
		pl.revert(plan)
	}
}

// PreBind writes the plan (a PV's claimRef for a static match, the
// selected-node annotation for a claim to provision; both stamped with
// BoundAtAnnotation) and waits, at most bindTimeoutSeconds, until the PV
// controller and provisioner have bound every claim.
func (pl *VolumeBinding) PreBind(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	s, err := framework.ReadState[*stateData](state, stateKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.allBound {
		return nil
	}
	plan, ok := s.plan(nodeName)
	if !ok {
		return framework.AsStatus(fmt.Errorf("no volume plan for node %q", nodeName))
	}
	logger := klog.FromContext(ctx)
	start := pl.now()
	if err := pl.write(ctx, pod, plan); err != nil {
		return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
	}
	err = wait.PollUntilContextTimeout(ctx, pl.pollInterval, pl.bindTimeout, false, func(context.Context) (bool, error) {
		return pl.bindingsDone(pod, nodeName, plan)
	})
	if err != nil {
		if wait.Interrupted(err) {
			err = fmt.Errorf("timed out after %v waiting for the claims of the pod to be bound", pl.bindTimeout)
		}
		return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
	}
	logger.V(2).Info("Pod volumes bound", "node", nodeName, "staticBindings", len(plan.static), "provisions", len(plan.dynamic), "duration", pl.now().Sub(start).Round(time.Millisecond))
	return nil
}

// write sends the plan to the API server. PVs are updated (the claimRef
// must not be lost to a concurrent change); claims to provision are
// updated with the selected node; claims bound to static PVs get the
// bound-at stamp by merge patch, since the PV controller is writing them
// at the same time.
func (pl *VolumeBinding) write(ctx context.Context, pod *v1.Pod, plan *podVolumes) error {
	client := pl.handle.ClientSet()
	stamp := pl.now().UTC().Format(time.RFC3339)
	for _, b := range plan.static {
		pv := b.pv.DeepCopy()
		metav1.SetMetaDataAnnotation(&pv.ObjectMeta, BoundAtAnnotation, stamp)
		updated, err := client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("binding PersistentVolume %q to claim %q: %w", pv.Name, pvcKey(b.pvc), err)
		}
		b.pv = updated
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{BoundAtAnnotation: stamp}}})
		if _, err := client.CoreV1().PersistentVolumeClaims(b.pvc.Namespace).Patch(ctx, b.pvc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("annotating claim %q: %w", pvcKey(b.pvc), err)
		}
		klog.FromContext(ctx).V(2).Info("Bound PersistentVolume to claim; waiting for the PV controller", "pv", pv.Name, "pvc", klog.KObj(b.pvc))
	}
	for _, p := range plan.dynamic {
		pvc := p.pvc.DeepCopy()
		metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, BoundAtAnnotation, stamp)
		updated, err := client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, pvc, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("selecting node for claim %q: %w", pvcKey(pvc), err)
		}
		p.pvc = updated
		klog.FromContext(ctx).V(2).Info("Selected node for claim; waiting for provisioning", "pvc", klog.KObj(pvc), "node", pvc.Annotations[volume.AnnSelectedNode])
	}
	return nil
}

// errGiveUp ends the wait: binding cannot succeed any more.
var errGiveUp = errors.New("volume binding cannot complete")

// bindingsDone checks, from the informers, whether every claim of the plan
// is bound, and fails early when the outcome can no longer be right: the
// pod is gone, a PV lost its claimRef, provisioning was rescheduled to
// another node, or a PV does not admit the node.
func (pl *VolumeBinding) bindingsDone(pod *v1.Pod, nodeName string, plan *podVolumes) (bool, error) {
	node, err := pl.nodes.Get(nodeName)
	if err != nil {
		return false, fmt.Errorf("failed to get node %q: %w", nodeName, err)
	}
	csiNode := pl.csiNode(nodeName)
	if _, err := pl.pods.Pods(pod.Namespace).Get(pod.Name); apierrors.IsNotFound(err) {
		return false, fmt.Errorf("%w: pod does not exist any more", errGiveUp)
	}
	for _, b := range plan.static {
		pv, err := pl.pvs.GetAPIObj(b.pv.Name)
		if err != nil {
			return false, fmt.Errorf("%w: checking PersistentVolume %q: %v", errGiveUp, b.pv.Name, err)
		}
		pvc, err := pl.pvcs.GetAPIObj(pvcKey(b.pvc))
		if err != nil {
			return false, fmt.Errorf("%w: checking claim %q: %v", errGiveUp, pvcKey(b.pvc), err)
		}
		if resourceVersion(b.pv) > resourceVersion(pv) {
			return false, nil // the informer has not seen our write yet
		}
		if pv, err = pl.translate(pv, csiNode); err != nil {
			return false, err
		}
		if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
			return false, fmt.Errorf("%w: PersistentVolume %q does not admit node %q: %v", errGiveUp, pv.Name, nodeName, err)
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == "" {
			return false, fmt.Errorf("%w: claimRef of PersistentVolume %q was reset", errGiveUp, pv.Name)
		}
		if !fullyBound(pvc) {
			return false, nil
		}
	}
	for _, p := range plan.dynamic {
		pvc, err := pl.pvcs.GetAPIObj(pvcKey(p.pvc))
		if err != nil {
			return false, fmt.Errorf("%w: checking claim %q: %v", errGiveUp, pvcKey(p.pvc), err)
		}
		if resourceVersion(p.pvc) > resourceVersion(pvc) {
			return false, nil
		}
		if pvc.Annotations[volume.AnnSelectedNode] != nodeName {
			return false, fmt.Errorf("%w: provisioning failed for claim %q (the provisioner gave the node back)", errGiveUp, pvcKey(pvc))
		}
		if pvc.Spec.VolumeName != "" {
			pv, err := pl.pvs.GetAPIObj(pvc.Spec.VolumeName)
			if err != nil {
				if apierrors.IsNotFound(err) {
					return false, nil
				}
				return false, err
			}
			if pv, err = pl.translate(pv, csiNode); err != nil {
				return false, err
			}
			if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
				return false, fmt.Errorf("%w: provisioned PersistentVolume %q does not admit node %q: %v", errGiveUp, pv.Name, nodeName, err)
			}
		}
		if !fullyBound(pvc) {
			return false, nil
		}
	}
	return true, nil
}
