package volumebinding

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/csicapacity"
)

// Reasons a node is rejected, word for word kube-scheduler's.
const (
	ReasonBindConflict   = "node(s) didn't find available persistent volumes to bind"
	ReasonNodeConflict   = "node(s) didn't match PersistentVolume's node affinity"
	ReasonNotEnoughSpace = "node(s) did not have enough free storage"
	ReasonPVNotExist     = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	// ReasonUnboundImmediate rejects a pod in PreFilter: an Immediate claim
	// is bound by the PV controller alone, never by a scheduler.
	ReasonUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
)

// podClaims sorts a pod's claims by what the scheduler must do for them.
type podClaims struct {
	// bound claims: their PV's node affinity must admit the node.
	bound []*v1.PersistentVolumeClaim
	// delayed are unbound WaitForFirstConsumer claims: the scheduler picks
	// a static PV or a node to provision on.
	delayed []*v1.PersistentVolumeClaim
	// immediate are unbound claims the PV controller should have bound.
	immediate []*v1.PersistentVolumeClaim
	// candidates are, per delayed claim, the PVs of its class that could
	// match it on some node (candidatesFor).
	candidates map[string]*candidates
	// capacities is the CSIStorageCapacity index as of PreFilter.
	capacities csicapacity.Snapshot
}

// staticBinding is a claim matched to an available PV.
type staticBinding struct {
	pvc *v1.PersistentVolumeClaim
	pv  *v1.PersistentVolume
}

// provision is a claim to be provisioned on the chosen node, with the
// CSIStorageCapacity that vouched for it (nil when capacity is not tracked).
type provision struct {
	pvc      *v1.PersistentVolumeClaim
	capacity *storagev1.CSIStorageCapacity
}

// podVolumes is the plan for one node.
type podVolumes struct {
	static  []*staticBinding
	dynamic []*provision
}

func pvcKey(pvc *v1.PersistentVolumeClaim) string { return pvc.Namespace + "/" + pvc.Name }

func fullyBound(pvc *v1.PersistentVolumeClaim) bool {
	return pvc.Spec.VolumeName != "" && metav1.HasAnnotation(pvc.ObjectMeta, volume.AnnBindCompleted)
}

// checkClaimsExist is PreFilter's first pass over the informer's claims:
// whether the pod uses any claim, and the first problem that no node can
// fix (a missing, lost or terminating claim, or an ephemeral claim that
// belongs to another pod).
func (pl *VolumeBinding) checkClaimsExist(pod *v1.Pod) (bool, error) {
	has := false
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.PersistentVolumeClaim == nil && vol.Ephemeral == nil {
			continue
		}
		has = true
		name := claimName(pod, vol)
		pvc, err := pl.pvcs.GetAPIObj(pod.Namespace + "/" + name)
		if err != nil {
			if vol.Ephemeral != nil && apierrors.IsNotFound(err) {
				return true, fmt.Errorf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name)
			}
			return true, err
		}
		if pvc.Status.Phase == v1.ClaimLost {
			return true, fmt.Errorf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", pvc.Name, pvc.Spec.VolumeName)
		}
		if pvc.DeletionTimestamp != nil {
			return true, fmt.Errorf("persistentvolumeclaim %q is being deleted", pvc.Name)
		}
		if vol.Ephemeral != nil {
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return true, err
			}
		}
	}
	return has, nil
}

func claimName(pod *v1.Pod, vol *v1.Volume) string { return framework.PodVolumeClaimName(pod, vol) }

// classify reads the pod's claims, assumptions included, and sorts them.
func (pl *VolumeBinding) classify(pod *v1.Pod) (*podClaims, error) {
	out := &podClaims{}
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		if vol.PersistentVolumeClaim == nil && vol.Ephemeral == nil {
			continue
		}
		key := pod.Namespace + "/" + claimName(pod, vol)
		pvc, err := pl.pvcs.Get(key)
		if err != nil {
			return nil, fmt.Errorf("error getting PVC %q: %v", key, err)
		}
		if vol.Ephemeral != nil {
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return nil, err
			}
		}
		if fullyBound(pvc) {
			out.bound = append(out.bound, pvc)
			continue
		}
		delay, err := volume.IsDelayBindingMode(pvc, pl.classes)
		if err != nil {
			return nil, err
		}
		if delay && pvc.Spec.VolumeName == "" {
			out.delayed = append(out.delayed, pvc)
		} else {
			out.immediate = append(out.immediate, pvc)
		}
	}
	out.candidates = map[string]*candidates{}
	if len(out.delayed) > 0 {
		out.capacities = pl.capacities.Current()
	}
	byClass := map[string][]*v1.PersistentVolume{}
	for _, pvc := range out.delayed {
		class := volume.GetPersistentVolumeClaimClass(pvc)
		pvs, ok := byClass[class]
		if !ok {
			var err error
			if pvs, err = pl.pvs.ByIndex(classIndex, class); err != nil {
				return nil, err
			}
			byClass[class] = pvs
		}
		out.candidates[pvcKey(pvc)] = candidatesFor(pvc, pvs)
	}
	return out, nil
}

// findPodVolumes decides, for one node, whether the pod's claims can be
// satisfied there and how: the static PVs to bind and the claims to
// provision. Reasons are the node's rejection; err is an internal error.
// note, when not nil, is told which claim made the node fail and why, for
// ExplainFailure.
func (pl *VolumeBinding) findPodVolumes(logger klog.Logger, claims *podClaims, node *v1.Node, note func(claim, why string)) (*podVolumes, []string, error) {
	if note == nil {
		note = func(string, string) {}
	}
	plan := &podVolumes{}
	boundOK, pvsExist := true, true
	unboundOK, enoughSpace := true, true
	var err error
	reasons := func() []string {
		var r []string
		if !boundOK {
			r = append(r, ReasonNodeConflict)
		}
		if !unboundOK {
			r = append(r, ReasonBindConflict)
		}
		if !enoughSpace {
			r = append(r, ReasonNotEnoughSpace)
		}
		if !pvsExist {
			r = append(r, ReasonPVNotExist)
		}
		return r
	}
	if len(claims.bound) > 0 {
		if boundOK, pvsExist, err = pl.checkBound(logger, claims.bound, node, note); err != nil {
			return nil, nil, err
		}
	}
	if len(claims.delayed) == 0 {
		return plan, reasons(), nil
	}
	var toMatch, toProvision []*v1.PersistentVolumeClaim
	for _, pvc := range claims.delayed {
		selected, ok := pvc.Annotations[volume.AnnSelectedNode]
		if !ok {
			toMatch = append(toMatch, pvc)
			continue
		}
		// Provisioning was already started for another node: only that
		// node can host the pod now.
		if selected != node.Name {
			unboundOK = false
			note(pvcKey(pvc), fmt.Sprintf("is being provisioned for node %q (annotation %s)", selected, volume.AnnSelectedNode))
			return plan, reasons(), nil
		}
		toProvision = append(toProvision, pvc)
	}
	if len(toMatch) > 0 {
		var rest []*v1.PersistentVolumeClaim
		unboundOK, plan.static, rest, err = matchStatic(toMatch, claims.candidates, node)
		if err != nil {
			return nil, nil, err
		}
		toProvision = append(toProvision, rest...)
	}
	if len(toProvision) > 0 {
		unboundOK, enoughSpace, plan.dynamic, err = pl.checkProvisioning(logger, toProvision, claims.capacities, node, note)
		if err != nil {
			return nil, nil, err
		}
	}
	return plan, reasons(), nil
}

// checkBound reports whether the PVs of the bound claims admit the node,
// and whether they all exist.
func (pl *VolumeBinding) checkBound(logger klog.Logger, claims []*v1.PersistentVolumeClaim, node *v1.Node, note func(claim, why string)) (affinityOK, exist bool, err error) {
	csiNode := pl.csiNode(node.Name)
	for _, pvc := range claims {
		pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
		if err != nil {
			if apierrors.IsNotFound(err) {
				note(pvcKey(pvc), fmt.Sprintf("is bound to PersistentVolume %q, which does not exist", pvc.Spec.VolumeName))
				return true, false, nil
			}
			return true, false, err
		}
		if pv, err = pl.translate(pv, csiNode); err != nil {
			return false, true, err
		}
		if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
			logger.V(5).Info("Bound volume does not admit node", "pv", pv.Name, "node", node.Name, "err", err)
			note(pvcKey(pvc), fmt.Sprintf("is bound to PersistentVolume %q, whose node affinity does not admit the node", pv.Name))
			return false, true, nil
		}
	}
	return true, true, nil
}

// matchStatic picks, smallest claims first, the smallest available PV of
// each claim's class that fits it and admits the node. Claims without a
// match are returned for provisioning.
func matchStatic(claims []*v1.PersistentVolumeClaim, cands map[string]*candidates, node *v1.Node) (allMatched bool, bindings []*staticBinding, unmatched []*v1.PersistentVolumeClaim, err error) {
	sorted := append([]*v1.PersistentVolumeClaim(nil), claims...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].Spec.Resources.Requests[v1.ResourceStorage], sorted[j].Spec.Resources.Requests[v1.ResourceStorage]
		return a.Cmp(b) < 0
	})
	chosen := map[string]*v1.PersistentVolume{}
	allMatched = true
	for _, pvc := range sorted {
		pv, err := volume.FindMatchingVolume(pvc, cands[pvcKey(pvc)].forNode(node), node, chosen, true, true)
		if err != nil {
			return false, nil, nil, err
		}
		if pv == nil {
			unmatched = append(unmatched, pvc)
			allMatched = false
			continue
		}
		chosen[pv.Name] = pv
		bindings = append(bindings, &staticBinding{pvc: pvc, pv: pv})
	}
	return allMatched, bindings, unmatched, nil
}

// checkProvisioning decides whether the claims can be provisioned for the
// node: the class must name a provisioner, its allowedTopologies must admit
// the node and, when the driver tracks capacity, some CSIStorageCapacity
// the node can reach must hold each claim.
func (pl *VolumeBinding) checkProvisioning(logger klog.Logger, claims []*v1.PersistentVolumeClaim, caps csicapacity.Snapshot, node *v1.Node, note func(claim, why string)) (ok, enoughSpace bool, plan []*provision, err error) {
	for _, pvc := range claims {
		className := volume.GetPersistentVolumeClaimClass(pvc)
		if className == "" {
			return false, false, nil, fmt.Errorf("no class for claim %q", pvcKey(pvc))
		}
		class, err := pl.classes.Get(className)
		if err != nil {
			return false, false, nil, fmt.Errorf("failed to find storage class %q", className)
		}
		if class.Provisioner == "" || class.Provisioner == volume.NotSupportedProvisioner {
			logger.V(5).Info("Storage class cannot provision", "storageClass", className, "pvc", klog.KObj(pvc))
			note(pvcKey(pvc), fmt.Sprintf("matches no available PersistentVolume (class %q, %s, access modes %v) and class %q cannot provision one", className, requestOf(pvc), pvc.Spec.AccessModes, className))
			return false, true, nil, nil
		}
		if !matchTopology(class.AllowedTopologies, node.Labels) {
			note(pvcKey(pvc), fmt.Sprintf("cannot be provisioned outside class %q's allowedTopologies", className))
			return false, true, nil, nil
		}
		sufficient, capacity, err := pl.capacityFor(pvc, class, caps, node)
		if err != nil {
			return false, false, nil, err
		}
		if !sufficient {
			note(pvcKey(pvc), fmt.Sprintf("requests %s of class %q: no CSIStorageCapacity the node reaches holds it", requestOf(pvc), className))
			return true, false, nil, nil
		}
		plan = append(plan, &provision{pvc: pvc, capacity: capacity})
	}
	return true, true, plan, nil
}

// matchTopology reports whether node labels satisfy a class's
// allowedTopologies: no terms admit every node; terms are ORed; a term's
// expressions are ANDed, each needing the label's value among its values;
// a term without expressions admits nothing.
func matchTopology(terms []v1.TopologySelectorTerm, nodeLabels map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms {
		if len(term.MatchLabelExpressions) == 0 {
			continue
		}
		ok := true
		for _, e := range term.MatchLabelExpressions {
			v, has := nodeLabels[e.Key]
			if !has || !sets.New(e.Values...).Has(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// capacityFor finds the CSIStorageCapacity that vouches for provisioning
// the claim for the node. Capacity is not checked (sufficient, nil) when
// the claim requests no storage, the provisioner has no CSIDriver object,
// or the driver does not track capacity.
func (pl *VolumeBinding) capacityFor(pvc *v1.PersistentVolumeClaim, class *storagev1.StorageClass, caps csicapacity.Snapshot, node *v1.Node) (bool, *storagev1.CSIStorageCapacity, error) {
	size, ok := pvc.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return true, nil, nil
	}
	driver, err := pl.drivers.Get(class.Provisioner)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil, nil
		}
		return false, nil, err
	}
	if !csicapacity.Tracked(driver) {
		return true, nil, nil
	}
	for c := range caps.Reachable(class.Name, node) {
		if csicapacity.VolumeLimit(c) >= size.Value() {
			return true, c, nil
		}
	}
	return false, nil, nil
}

// csiNode returns the node's CSINode or nil.
func (pl *VolumeBinding) csiNode(name string) *storagev1.CSINode {
	n, err := pl.csiNodes.Get(name)
	if err != nil {
		return nil
	}
	return n
}

// translate turns an in-tree PV into its CSI form when the node's CSINode
// says the in-tree plugin was migrated, so node affinity is checked on the
// topology keys the CSI driver uses.
func (pl *VolumeBinding) translate(pv *v1.PersistentVolume, csiNode *storagev1.CSINode) (*v1.PersistentVolume, error) {
	if csiNode == nil || !pl.translator.IsPVMigratable(pv) {
		return pv, nil
	}
	name, err := pl.translator.GetInTreePluginNameFromSpec(pv, nil)
	if err != nil {
		return nil, fmt.Errorf("could not get plugin name from pv: %v", err)
	}
	if !migratedPlugins.Has(name) {
		return pv, nil
	}
	if !sets.New(strings.Split(csiNode.Annotations[v1.MigratedPluginsAnnotationKey], ",")...).Has(name) {
		return pv, nil
	}
	out, err := pl.translator.TranslateInTreePVToCSI(klog.Background(), pv)
	if err != nil {
		return nil, fmt.Errorf("could not translate pv: %v", err)
	}
	return out, nil
}

// migratedPlugins are the in-tree volume plugins whose CSI migration is
// on for good in Kubernetes v1.37.
var migratedPlugins = sets.New(
	"kubernetes.io/aws-ebs",
	"kubernetes.io/gce-pd",
	"kubernetes.io/azure-disk",
	"kubernetes.io/cinder",
	"kubernetes.io/portworx-volume",
)

func requestOf(pvc *v1.PersistentVolumeClaim) string {
	if q, ok := pvc.Spec.Resources.Requests[v1.ResourceStorage]; ok {
		return q.String()
	}
	return "no size"
}

// candidates are the PVs that may match one claim, split so that a node
// only checks the node affinity of PVs that can be on it: local PVs pinned
// to one hostname are filed under it; the rest (zonal, unpinned, and any
// PV pre-bound to the claim, which FindMatchingVolume must see on every
// node because it decides alone) are checked everywhere.
type candidates struct {
	anywhere []*v1.PersistentVolume
	byHost   map[string][]*v1.PersistentVolume
}

// forNode lists the candidates the node can hold.
func (c *candidates) forNode(node *v1.Node) []*v1.PersistentVolume {
	if c == nil {
		return nil
	}
	pinned := c.byHost[node.Labels[v1.LabelHostname]]
	if len(pinned) == 0 {
		return c.anywhere
	}
	if len(c.anywhere) == 0 {
		return pinned
	}
	return append(append(make([]*v1.PersistentVolume, 0, len(c.anywhere)+len(pinned)), c.anywhere...), pinned...)
}

// pinnedHost returns the hostname a PV's required node affinity confines
// it to: a single term with a "kubernetes.io/hostname In [h]" expression.
func pinnedHost(pv *v1.PersistentVolume) (string, bool) {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 {
		return "", false
	}
	for _, e := range na.Required.NodeSelectorTerms[0].MatchExpressions {
		if e.Key == v1.LabelHostname && e.Operator == v1.NodeSelectorOpIn && len(e.Values) == 1 {
			return e.Values[0], true
		}
	}
	return "", false
}

// candidatesFor keeps the PVs that volume.FindMatchingVolume could return
// for the claim on some node: it drops, once per pod instead of once per
// node, every PV that the node-independent checks (taken by another claim,
// too small, volume mode, attributes class, terminating, not Available,
// selector, class, access modes) would skip anyway. PVs pre-bound to the
// claim are kept whatever their phase, as FindMatchingVolume returns them
// first. The smallest fit per node is the same as over all PVs (only
// which of two equally small PVs wins may differ, as it does upstream,
// where it depends on informer order).
func candidatesFor(pvc *v1.PersistentVolumeClaim, pvs []*v1.PersistentVolume) *candidates {
	requested := pvc.Spec.Resources.Requests[v1.ResourceStorage]
	class := volume.GetPersistentVolumeClaimClass(pvc)
	vac := ptr.Deref(pvc.Spec.VolumeAttributesClassName, "")
	var selector labels.Selector
	if pvc.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(pvc.Spec.Selector)
		if err != nil {
			// FindMatchingVolume reports the bad selector; keep every PV so
			// it gets to.
			return &candidates{anywhere: pvs}
		}
		selector = sel
	}
	out := &candidates{}
	for _, pv := range pvs {
		boundToClaim := volume.IsVolumeBoundToClaim(pv, pvc)
		if pv.Spec.ClaimRef != nil && !boundToClaim {
			continue
		}
		size := pv.Spec.Capacity[v1.ResourceStorage]
		if size.Cmp(requested) < 0 || volume.CheckVolumeModeMismatches(&pvc.Spec, &pv.Spec) ||
			vac != ptr.Deref(pv.Spec.VolumeAttributesClassName, "") || pv.DeletionTimestamp != nil {
			continue
		}
		if !boundToClaim && (pv.Status.Phase != v1.VolumeAvailable ||
			(selector != nil && !selector.Matches(labels.Set(pv.Labels))) ||
			volume.GetPersistentVolumeClass(pv) != class || !volume.CheckAccessModes(pvc, pv)) {
			continue
		}
		if h, ok := pinnedHost(pv); ok && !boundToClaim {
			if out.byHost == nil {
				out.byHost = map[string][]*v1.PersistentVolume{}
			}
			out.byHost[h] = append(out.byHost[h], pv)
			continue
		}
		out.anywhere = append(out.anywhere, pv)
	}
	return out
}
