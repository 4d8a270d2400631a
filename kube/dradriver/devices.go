package dradriver

import (
	"fmt"
	"strconv"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/dynamic-resource-allocation/resourceslice"
	"k8s.io/utils/ptr"
)

const (
	// DriverName is the DRA driver name in ResourceSlices and allocation
	// results. It also qualifies the node labels and device attributes.
	DriverName = "gpu.devcluster.berth.io"
	// DeviceClassName is the DeviceClass selecting every device of the
	// driver; claims ask for a card with deviceClassName: DeviceClassName.
	DeviceClassName = DriverName

	// CountLabel on a node declares how many cards it has (1 to MaxCount).
	// Without it, or with an invalid value, the node has no GPUs.
	CountLabel = DriverName + "/count"
	// ModelLabel on a GPU node sets the AttributeModel of its cards;
	// default DefaultModel.
	ModelLabel = DriverName + "/model"
	// MemoryLabel on a GPU node sets the CapacityMemory of each card as a
	// quantity such as 40Gi; default DefaultMemory.
	MemoryLabel = DriverName + "/memory"

	// DefaultModel is the card model of a GPU node without ModelLabel.
	DefaultModel = "devgpu"
	// DefaultMemory is the memory of a card on a GPU node without
	// MemoryLabel.
	DefaultMemory = "80Gi"
	// MaxCount is the most cards a node may declare: all of a node's
	// devices are published in one ResourceSlice, so that a change is one
	// atomic update.
	MaxCount = resourceapi.ResourceSliceMaxDevices

	// DeviceNamePrefix starts every device name; card i is named
	// DeviceNamePrefix + i.
	DeviceNamePrefix = "gpu-"
	// AttributeModel is the string attribute holding the card model.
	AttributeModel resourceapi.QualifiedName = "model"
	// AttributeIndex is the int attribute holding the card's index on its
	// node, for claims that want particular cards.
	AttributeIndex resourceapi.QualifiedName = "index"
	// AttributeNVLinkDomain is the int attribute grouping cards that share
	// a fast interconnect (index / NVLinkDomainSize), so that a claim for
	// several cards can ask for one domain with a matchAttribute
	// constraint.
	AttributeNVLinkDomain resourceapi.QualifiedName = "nvlinkDomain"
	// CapacityMemory is the capacity holding the card's memory.
	CapacityMemory resourceapi.QualifiedName = "memory"
	// NVLinkDomainSize is how many consecutive cards share an
	// AttributeNVLinkDomain.
	NVLinkDomainSize = 4

	// ManagedByLabel marks the DeviceClass the driver owns; its value is
	// DriverName.
	ManagedByLabel = "app.kubernetes.io/managed-by"
)

// GPUs is what a node's labels declare about its cards.
type GPUs struct {
	// Count is the number of cards, 1 to MaxCount.
	Count int
	// Model is the card model.
	Model string
	// Memory is each card's memory.
	Memory resource.Quantity
}

// Equal reports whether g and o publish the same devices.
func (g GPUs) Equal(o GPUs) bool {
	return g.Count == o.Count && g.Model == o.Model && g.Memory.Cmp(o.Memory) == 0
}

// NodeGPUs reads the cards node declares. ok is false for a node without
// GPUs; err says why a CountLabel or MemoryLabel value is unusable (the
// node then has no GPUs, or the default memory).
func NodeGPUs(node *v1.Node) (g GPUs, ok bool, err error) {
	labels := node.Labels
	s, found := labels[CountLabel]
	if !found {
		return g, false, nil
	}
	n, perr := strconv.Atoi(s)
	if perr != nil || n < 0 || n > MaxCount {
		return g, false, fmt.Errorf("label %s=%q is not a card count from 0 to %d", CountLabel, s, MaxCount)
	}
	if n == 0 {
		return g, false, nil
	}
	g = GPUs{Count: n, Model: DefaultModel, Memory: resource.MustParse(DefaultMemory)}
	if m := labels[ModelLabel]; m != "" {
		g.Model = m
	}
	if m, found := labels[MemoryLabel]; found {
		q, perr := resource.ParseQuantity(m)
		if perr != nil || q.Sign() <= 0 {
			err = fmt.Errorf("label %s=%q is not a positive quantity; using %s", MemoryLabel, m, DefaultMemory)
		} else {
			g.Memory = q
		}
	}
	return g, true, err
}

// DeviceName is the name of card index.
func DeviceName(index int) string { return DeviceNamePrefix + strconv.Itoa(index) }

// Devices returns one device per card, in index order (the allocator
// tries devices in the order listed, so low indices fill first).
func Devices(g GPUs) []resourceapi.Device {
	devices := make([]resourceapi.Device, g.Count)
	for i := range devices {
		devices[i] = resourceapi.Device{
			Name: DeviceName(i),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
				AttributeModel:        {StringValue: ptr.To(g.Model)},
				AttributeIndex:        {IntValue: ptr.To(int64(i))},
				AttributeNVLinkDomain: {IntValue: ptr.To(int64(i / NVLinkDomainSize))},
			},
			Capacity: map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{
				CapacityMemory: {Value: g.Memory.DeepCopy()},
			},
		}
	}
	return devices
}

// Resources is the desired state of one GPU node for its slice
// controller: one pool named after the node, in one slice. A generation
// higher than the published one makes the controller publish with it.
func Resources(node string, g GPUs, generation int64) *resourceslice.DriverResources {
	return &resourceslice.DriverResources{Pools: map[string]resourceslice.Pool{
		node: {
			Generation: generation,
			Slices:     []resourceslice.Slice{{Devices: Devices(g)}},
		},
	}}
}

// DeviceClass returns the class selecting every device of the driver.
func DeviceClass() *resourceapi.DeviceClass {
	return &resourceapi.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:   DeviceClassName,
			Labels: map[string]string{ManagedByLabel: DriverName},
		},
		Spec: resourceapi.DeviceClassSpec{
			Selectors: []resourceapi.DeviceSelector{{
				CEL: &resourceapi.CELDeviceSelector{Expression: fmt.Sprintf("device.driver == %q", DriverName)},
			}},
		},
	}
}
