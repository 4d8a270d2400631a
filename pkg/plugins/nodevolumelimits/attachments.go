package nodevolumelimits

import (
	"fmt"

	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// nodeIndex indexes VolumeAttachments by spec.nodeName.
const nodeIndex = "berth.nodevolumelimits/node"

func attachmentNode(obj interface{}) ([]string, error) {
	va, ok := obj.(*storagev1.VolumeAttachment)
	if !ok {
		return nil, nil
	}
	return []string{va.Spec.NodeName}, nil
}

// addNodeIndex adds the node index to the VolumeAttachment informer. Every
// profile's instance of the plugin shares the informer, so an index that
// is already there is fine.
func addNodeIndex(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[nodeIndex]; ok {
		return nil
	}
	if err := informer.AddIndexers(cache.Indexers{nodeIndex: attachmentNode}); err != nil {
		if _, ok := informer.GetIndexer().GetIndexers()[nodeIndex]; !ok {
			return fmt.Errorf("indexing VolumeAttachments by node: %w", err)
		}
	}
	return nil
}

// nodeAttachments returns the CSI volumes (volume ID → driver) that
// VolumeAttachments hold on the node. Attachments without an attacher or
// a PersistentVolume, or whose volume is gone or not CSI, are ignored.
func (pl *NodeVolumeLimits) nodeAttachments(logger klog.Logger, nodeName string) (map[string]string, error) {
	objs, err := pl.attachments.ByIndex(nodeIndex, nodeName)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(objs))
	for _, obj := range objs {
		va, ok := obj.(*storagev1.VolumeAttachment)
		if !ok || va.Spec.NodeName != nodeName || va.Spec.Attacher == "" || va.Spec.Source.PersistentVolumeName == nil {
			continue
		}
		pv, err := pl.pvLister.Get(*va.Spec.Source.PersistentVolumeName)
		if err != nil {
			logger.V(5).Info("VolumeAttachment's volume not found", "volumeAttachment", klog.KObj(va), "err", err)
			continue
		}
		if pv.Spec.CSI == nil {
			continue
		}
		out[volumeID(va.Spec.Attacher, pv.Spec.CSI.VolumeHandle)] = va.Spec.Attacher
	}
	return out, nil
}
