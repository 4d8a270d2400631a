package nodevolumelimits

import (
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/storage/ephemeral"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	csiplugins "k8s.io/csi-translation-lib/plugins"
	"k8s.io/klog/v2"
)

// migratedPlugins are the in-tree volume plugins whose volumes count
// against the CSI driver they migrate to, as kube-scheduler v1.37 has it
// (the translation library knows more plugins; their volumes do not count).
var migratedPlugins = sets.New(
	csiplugins.AWSEBSInTreePluginName,
	csiplugins.PortworxVolumePluginName,
	csiplugins.GCEPDInTreePluginName,
	csiplugins.AzureDiskInTreePluginName,
	csiplugins.CinderInTreePluginName,
)

// migrationOn reports whether volumes of the in-tree plugin count against
// their CSI driver on the node: only with a CSINode.
func migrationOn(csiNode *storagev1.CSINode, plugin string) bool {
	return csiNode != nil && migratedPlugins.Has(plugin)
}

// volumeID is how a volume is told apart from others on a node.
func volumeID(driver, handle string) string { return driver + "/" + handle }

// addVolumes adds to out (volume ID → driver) the pod's volumes that count
// against a CSI driver's limit. For the pod being scheduled (incoming) a
// claim that cannot be read is an error, wrapping the lister's not-found;
// for a pod already on the node the volume is just not counted, since the
// claim may be gone while the pod is terminating.
func (pl *NodeVolumeLimits) addVolumes(logger klog.Logger, pod *v1.Pod, csiNode *storagev1.CSINode, incoming bool, out map[string]string) error {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		var claimName string
		switch {
		case vol.PersistentVolumeClaim != nil:
			claimName = vol.PersistentVolumeClaim.ClaimName
		case vol.Ephemeral != nil:
			claimName = ephemeral.VolumeClaimName(pod, vol)
		default:
			if err := pl.addInlineVolume(logger, pod, vol, csiNode, out); err != nil {
				return err
			}
			continue
		}
		if claimName == "" {
			return errors.New("PersistentVolumeClaim had no name")
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(claimName)
		if err != nil {
			if incoming {
				return fmt.Errorf("looking up PVC %s/%s: %w", pod.Namespace, claimName, err)
			}
			logger.V(5).Info("Not counting a volume whose claim cannot be read", "pod", klog.KObj(pod), "pvc", klog.KRef(pod.Namespace, claimName))
			continue
		}
		if vol.Ephemeral != nil {
			// A claim of that name not created for this pod is not its volume.
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return err
			}
		}
		driver, handle := pl.claimVolume(logger, csiNode, pvc)
		if driver == "" || handle == "" {
			logger.V(5).Info("Claim does not resolve to a CSI volume, not counting it", "pvc", klog.KObj(pvc))
			continue
		}
		out[volumeID(driver, handle)] = driver
	}
	return nil
}

// addInlineVolume counts an in-line in-tree volume whose plugin is
// migrated to CSI on the node. Other in-line volumes never count.
func (pl *NodeVolumeLimits) addInlineVolume(logger klog.Logger, pod *v1.Pod, vol *v1.Volume, csiNode *storagev1.CSINode, out map[string]string) error {
	if !pl.translator.IsInlineMigratable(vol) {
		return nil
	}
	plugin, err := pl.translator.GetInTreePluginNameFromSpec(nil, vol)
	if err != nil {
		return fmt.Errorf("looking up provisioner name for volume %s: %w", vol.Name, err)
	}
	if !migrationOn(csiNode, plugin) {
		logger.V(5).Info("In-tree plugin is not migrated on the node, not counting the volume", "plugin", plugin, "pod", klog.KObj(pod))
		return nil
	}
	pv, err := pl.translator.TranslateInTreeInlineVolumeToCSI(logger, vol, pod.Namespace)
	if err != nil || pv == nil {
		return fmt.Errorf("converting volume(%s) from inline to csi: %w", vol.Name, err)
	}
	driver, err := pl.translator.GetCSINameFromInTreeName(plugin)
	if err != nil {
		return fmt.Errorf("looking up CSI driver name for provisioner %s: %w", plugin, err)
	}
	if pv.Spec.CSI == nil {
		return nil
	}
	out[volumeID(driver, pv.Spec.CSI.VolumeHandle)] = driver
	return nil
}

// claimVolume returns the CSI driver and volume handle of a claim, or
// empty strings when it does not count: through its bound volume, or,
// for an unbound claim or one whose volume is not there, through its
// class's provisioner with a handle made up from the claim.
func (pl *NodeVolumeLimits) claimVolume(logger klog.Logger, csiNode *storagev1.CSINode, pvc *v1.PersistentVolumeClaim) (driver, handle string) {
	if pvc.Spec.VolumeName == "" {
		return pl.classVolume(logger, csiNode, pvc)
	}
	pv, err := pl.pvLister.Get(pvc.Spec.VolumeName)
	if err != nil {
		logger.V(5).Info("Claim's volume not found, counting by class", "pvc", klog.KObj(pvc), "pv", pvc.Spec.VolumeName)
		return pl.classVolume(logger, csiNode, pvc)
	}
	src := pv.Spec.CSI
	if src == nil {
		if !pl.translator.IsPVMigratable(pv) {
			return "", ""
		}
		plugin, err := pl.translator.GetInTreePluginNameFromSpec(pv, nil)
		if err != nil || !migrationOn(csiNode, plugin) {
			return "", ""
		}
		csiPV, err := pl.translator.TranslateInTreePVToCSI(logger, pv)
		if err != nil || csiPV.Spec.CSI == nil {
			logger.V(5).Info("Could not translate in-tree volume to CSI", "pv", klog.KObj(pv), "err", err)
			return "", ""
		}
		src = csiPV.Spec.CSI
	}
	return src.Driver, src.VolumeHandle
}

// classVolume resolves a claim without a volume through its class. A claim
// without a (known) class must bind immediately, so it is bound before the
// pod can be scheduled and is not counted here.
func (pl *NodeVolumeLimits) classVolume(logger klog.Logger, csiNode *storagev1.CSINode, pvc *v1.PersistentVolumeClaim) (driver, handle string) {
	className := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if className == "" {
		return "", ""
	}
	class, err := pl.scLister.Get(className)
	if err != nil {
		logger.V(5).Info("Claim's class not found, not counting it", "pvc", klog.KObj(pvc), "storageClass", className)
		return "", ""
	}
	// Two pods of the node using the same unbound claim share this handle.
	handle = fmt.Sprintf("%s-%s/%s", pl.unboundPrefix, pvc.Namespace, pvc.Name)
	driver = class.Provisioner
	if pl.translator.IsMigratableIntreePluginByName(driver) {
		if !migrationOn(csiNode, driver) {
			return "", ""
		}
		if driver, err = pl.translator.GetCSINameFromInTreeName(driver); err != nil {
			return "", ""
		}
	}
	return driver, handle
}
