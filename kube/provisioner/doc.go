// Package provisioner is a dynamic volume provisioner for the local
// development control plane (devcluster), built on
// sigs.k8s.io/sig-storage-lib-external-provisioner. There are no kubelets
// and no disks: it creates PersistentVolume objects that look like local
// volumes (a fake path under BasePath), so that the PV controller of
// kube-controller-manager, the provisioner and a scheduler go through the
// real dynamic provisioning handshake, WaitForFirstConsumer included:
//
//  1. the scheduler sets volume.kubernetes.io/selected-node on the claim;
//  2. the PV controller sees a claim of a class whose provisioner is not
//     in-tree and sets volume.kubernetes.io/storage-provisioner;
//  3. the library calls Provision with the selected node, and creates the
//     returned PV pre-bound to the claim (spec.claimRef);
//  4. the PV controller binds the claim to it.
//
// When the selected node lacks capacity, Provision returns
// ProvisioningReschedule and the library removes the selected-node
// annotation, which tells the scheduler to pick again.
//
// Capacity is tracked like a CSI driver does it: a CSIDriver object named
// after the provisioner has spec.storageCapacity=true, and one
// CSIStorageCapacity per (StorageClass of this provisioner, node in the
// class's allowed topologies) in Options.Namespace says how much is free:
// the node's capacity (CapacityAnnotation, else Options.NodeCapacity)
// minus the volumes provisioned with affinity to that node. The objects
// select their node with matchLabels {kubernetes.io/hostname: <node>},
// are labelled ManagedByLabel=<provisioner name>, and are only written
// when their value changes.
package provisioner
