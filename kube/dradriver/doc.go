// Package dradriver is a fake Dynamic Resource Allocation (DRA) driver for
// the local development control plane (devcluster). There are no kubelets
// and no cards: it only does the control-plane half of a DRA driver, which
// is all a scheduler sees. It publishes ResourceSlices (resource.k8s.io/v1)
// describing the GPUs that node labels declare, and a DeviceClass selecting
// them, so that the resourceclaim controller of kube-controller-manager and
// a scheduler go through real device allocation.
//
// A node is a GPU node when it carries CountLabel with a card count from 1
// to MaxCount; ModelLabel and MemoryLabel optionally set the cards' model
// and memory (defaults DefaultModel and DefaultMemory):
//
//	kubectl label node node-00001 gpu.devcluster.berth.io/count=8 \
//	    gpu.devcluster.berth.io/model=h100 gpu.devcluster.berth.io/memory=80Gi
//
// Each GPU node gets one pool, named after the node, in one ResourceSlice
// with spec.nodeName set and the node as owner (so the garbage collector
// also removes it). The pool has one device per card, gpu-0 … gpu-<n-1>,
// with the attributes AttributeModel (string), AttributeIndex (int) and
// AttributeNVLinkDomain (int, index / NVLinkDomainSize: cards 0-3 share
// domain 0, 4-7 domain 1 …) and the capacity CapacityMemory. Unqualified
// names belong to the driver's domain, so a CEL selector reads them as
// device.attributes["gpu.devcluster.berth.io"].model and
// device.capacity["gpu.devcluster.berth.io"].memory.
//
// The DeviceClass DeviceClassName selects every device of the driver
// (device.driver == DriverName).
//
// Publishing uses k8s.io/dynamic-resource-allocation/resourceslice, the
// library real drivers use: one resourceslice.Controller per GPU node, the
// way each node's kubelet plugin runs one, since only a controller owned
// by a Node writes spec.nodeName. A node informer drives them: a new GPU
// node starts its controller, a relabelled one gets new devices and a
// bumped pool generation, and a node that is deleted or loses its count
// label has its controller stopped and its slices deleted. Slices left by
// an earlier run (devcluster --keep-data) are reconciled the same way at
// start.
package dradriver
