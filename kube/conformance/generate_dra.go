package conformance

import (
	"fmt"
	"math/rand/v2"
	"slices"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// DRA scenarios: three drivers whose devices the classes, claims and
// allocations share.
const (
	// gpuDriver publishes node-local GPUs, some partitionable.
	gpuDriver = "gpu.example.com"
	// nicDriver publishes node-local NICs, on some nodes shareable
	// (consumable bandwidth).
	nicDriver = "nic.example.com"
	// fpgaDriver publishes network-attached pools: for the nodes a
	// selector picks, for all nodes, or node by node.
	fpgaDriver = "fpga.example.com"

	// pcieRootAttr is the standard attribute GPUs and NICs share, for
	// matchAttribute constraints across drivers.
	pcieRootAttr = "resource.kubernetes.io/pcieRoot"
	// draAdminLabel on a namespace allows claims with admin access in it.
	draAdminLabel = resourceapi.DRAAdminNamespaceLabelKey
	// draGPUResource is the extended resource the gpu class backs when a
	// case has DRA extended resources; some nodes' device plugins advertise
	// it too.
	draGPUResource = "example.com/dra-gpu"
	// gpuTaintKey and maintenanceKey are the device taints.
	gpuTaintKey    = "gpu.example.com/unhealthy"
	maintenanceKey = "example.com/maintenance"
)

// deviceClassDefs are the classes a case may have (each sometimes
// missing); "gone" is never created.
var deviceClassDefs = []struct {
	name      string
	selectors []string
	config    bool
}{
	{"gpu", []string{`device.driver == "gpu.example.com"`}, false},
	// No guard: a GPU published without a model makes this a CEL runtime
	// error.
	{"gpu-a100", []string{`device.driver == "gpu.example.com"`, `device.attributes["gpu.example.com"].model == "a100"`}, true},
	{"gpu-large", []string{`device.driver == "gpu.example.com" && device.capacity["gpu.example.com"].memory.compareTo(quantity("40Gi")) >= 0`}, false},
	{"gpu-cuda12", []string{`device.driver == "gpu.example.com"`, `"cudaVersion" in device.attributes["gpu.example.com"] && device.attributes["gpu.example.com"].cudaVersion.isGreaterThan(semver("12.0.0"))`}, false},
	{"nic", []string{`device.driver == "nic.example.com"`}, true},
	{"fpga", []string{`device.driver == "fpga.example.com"`}, false},
	// Every device of every driver.
	{"any", nil, false},
}

// requestClasses weights the classes requests name.
var requestClasses = []string{"gpu", "gpu", "gpu", "gpu", "gpu", "gpu-a100", "gpu-a100", "gpu-large", "gpu-cuda12", "nic", "nic", "nic", "nic", "fpga", "fpga", "any", "any", "any", "gone"}

// ladders are prioritized lists as users write them: something scarce
// first, then something more likely to be there. Which subrequest a node
// can satisfy is what DynamicResources scores.
var ladders = [][]struct {
	class string
	count int64
}{
	{{"gpu-a100", 2}, {"gpu-a100", 1}, {"gpu", 1}},
	{{"gpu-large", 1}, {"gpu", 1}},
	{{"gpu", 2}, {"gpu", 1}},
	{{"gpu-cuda12", 1}, {"gpu", 1}, {"any", 1}},
	{{"gpu", 1}, {"nic", 1}},
	{{"nic", 2}, {"nic", 1}},
	{{"fpga", 1}, {"gpu", 1}},
}

// claimSelectors are request selectors per driver; "" is for the any class.
var claimSelectors = map[string][]string{
	gpuDriver: {
		`device.attributes["gpu.example.com"].model in ["h100", "a100"]`,
		`device.capacity["gpu.example.com"].memory.compareTo(quantity("20Gi")) > 0`,
		`device.attributes["gpu.example.com"].index == 0`,
		`!device.attributes["gpu.example.com"].mig`,
	},
	nicDriver: {
		`device.attributes["nic.example.com"].speed >= 25`,
		`device.attributes["nic.example.com"].sriov`,
	},
	fpgaDriver: {
		`device.attributes["fpga.example.com"].family == "agilex"`,
	},
	"": {
		`device.driver == "nic.example.com"`,
		`device.driver != "fpga.example.com"`,
		// A runtime error on every device not of the GPU driver.
		`device.attributes["gpu.example.com"].model == "t4"`,
	},
}

// classDriver is the driver whose devices a class selects, "" for any.
func classDriver(class string) string {
	switch class {
	case "gpu", "gpu-a100", "gpu-large", "gpu-cuda12":
		return gpuDriver
	case "nic":
		return nicDriver
	case "fpga":
		return fpgaDriver
	}
	return ""
}

// draDevice is a published device, remembered so that allocated claims
// name real devices.
type draDevice struct {
	driver, pool, name string
	// node is the node of a node-local device; sel the node selection of
	// a network-attached one (nil: all nodes).
	node string
	sel  *v1.NodeSelector
	// multi devices allow multiple allocations (consumable capacity).
	multi    bool
	capacity map[resourceapi.QualifiedName]resourceapi.DeviceCapacity
	// bindingConditions and bindingFailures are copied into allocations.
	bindingConditions, bindingFailures []string
}

// draGen adds a DRA scenario to a generated case, from a random stream of
// its own (see addStorage).
type draGen struct {
	*gen
	c       *Case
	devices []draDevice
	// claims are the claims pods reference by name, per namespace.
	claims map[string][]*resourceapi.ResourceClaim
	// templates are the ResourceClaimTemplates per namespace.
	templates map[string][]*resourceapi.ResourceClaimTemplate
	// generated are the claims made from templates for pods.
	generated []*resourceapi.ResourceClaim
	objs      []runtime.Object
}

// addDRA gives c, with probability p, a DRA scenario: DeviceClasses,
// ResourceSlices (node-local, partitionable, network-attached, per-device
// node selection; with taints, binding conditions, consumable capacity,
// outdated, incomplete and invalid pools), DeviceTaintRules,
// ResourceClaims (allocated and reserved by bound pods, allocated and not
// reserved, unallocated, shared, being deleted), ResourceClaimTemplates and
// the claims made from them, and claims on some bound and pending pods.
//
// With probability pExt (given a scenario) the case also has extended
// resources backed by DRA: the gpu class backs example.com/dra-gpu, some
// nodes advertise it through a device plugin, and some pending pods request
// it (see extendedRequest).
func addDRA(c *Case, base *gen, p, pExt float64) {
	d := &draGen{
		// UIDs from far above the other generators' so that none repeats.
		gen:       &gen{r: rand.New(rand.NewPCG(c.Seed^0x8ebc6af09c88c6e3, c.Seed+0x589965cc75374cc3)), nodes: base.nodes, images: base.images, seq: base.seq + 1_000_000},
		c:         c,
		claims:    map[string][]*resourceapi.ResourceClaim{},
		templates: map[string][]*resourceapi.ResourceClaimTemplate{},
	}
	if !d.chance(p) {
		return
	}
	// Drawn only when asked for, so that cases without are as before.
	extended := pExt > 0 && d.chance(pExt)
	d.deviceClasses(extended)
	for _, n := range c.Cluster.Nodes {
		if d.chance(0.75) {
			d.gpuPool(n)
		}
		if d.chance(0.6) {
			d.nicPool(n)
		}
	}
	for i := range d.r.IntN(3) {
		d.networkPool(i)
	}
	if d.chance(0.2) {
		d.perDevicePool()
	}
	if d.chance(0.15) {
		d.taintRule()
	}
	for range 1 + d.r.IntN(8) {
		d.claim(pick(d.gen, namespaces...).name)
	}
	for _, pod := range c.Pending {
		if d.chance(0.6) {
			d.podClaims(pod)
		}
		if extended && d.chance(0.35) {
			d.extendedRequest(pod)
		}
	}
	if extended {
		for _, n := range c.Cluster.Nodes {
			if d.chance(0.3) {
				// A device plugin advertises the resource on this node.
				n.Status.Allocatable[draGPUResource] = count(int64(1 + d.r.IntN(2)))
				n.Status.Capacity[draGPUResource] = n.Status.Allocatable[draGPUResource]
			}
		}
	}
	for _, ns := range namespaces {
		for _, t := range d.templates[ns.name] {
			d.objs = append(d.objs, t)
		}
		for _, cl := range d.claims[ns.name] {
			d.objs = append(d.objs, cl)
		}
	}
	for _, cl := range d.generated {
		d.objs = append(d.objs, cl)
	}
	c.Cluster.Objects = append(c.Cluster.Objects, d.objs...)
}

func (d *draGen) deviceClasses(extended bool) {
	for _, def := range deviceClassDefs {
		if !d.chance(0.97) {
			continue
		}
		dc := &resourceapi.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: def.name, UID: d.uid()}}
		for _, expr := range def.selectors {
			dc.Spec.Selectors = append(dc.Spec.Selectors, resourceapi.DeviceSelector{CEL: &resourceapi.CELDeviceSelector{Expression: expr}})
		}
		if extended && def.name == "gpu" {
			dc.Spec.ExtendedResourceName = ptr.To(draGPUResource)
		}
		if def.config && d.chance(0.7) {
			drv := gpuDriver
			if def.name == "nic" {
				drv = nicDriver
			}
			dc.Spec.Config = []resourceapi.DeviceClassConfiguration{{DeviceConfiguration: opaque(drv, `{"mode":"class"}`)}}
		}
		d.objs = append(d.objs, dc)
	}
}

func opaque(driver, params string) resourceapi.DeviceConfiguration {
	return resourceapi.DeviceConfiguration{Opaque: &resourceapi.OpaqueDeviceConfiguration{
		Driver: driver, Parameters: runtime.RawExtension{Raw: []byte(params)},
	}}
}

// slice returns a ResourceSlice of driver's pool; the caller sets where
// its devices are.
func (d *draGen) slice(name, driver, pool string, generation, count int64) *resourceapi.ResourceSlice {
	return &resourceapi.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: d.uid()},
		Spec: resourceapi.ResourceSliceSpec{
			Driver: driver,
			Pool:   resourceapi.ResourcePool{Name: pool, Generation: generation, ResourceSliceCount: count},
		},
	}
}

func attrString(s string) resourceapi.DeviceAttribute {
	return resourceapi.DeviceAttribute{StringValue: &s}
}

func attrInt(i int64) resourceapi.DeviceAttribute { return resourceapi.DeviceAttribute{IntValue: &i} }

func attrBool(b bool) resourceapi.DeviceAttribute { return resourceapi.DeviceAttribute{BoolValue: &b} }

func attrVersion(v string) resourceapi.DeviceAttribute {
	return resourceapi.DeviceAttribute{VersionValue: &v}
}

// gpuPool publishes node n's GPUs: zero to four whole GPUs, or one
// partitionable GPU (a counter set in a slice of its own and the whole GPU
// and its partitions consuming from it). Sometimes the pool also has an
// outdated slice, misses a slice (incomplete) or repeats a device name in
// a second slice (invalid).
func (d *draGen) gpuPool(n *v1.Node) {
	var devs []resourceapi.Device
	var counters *resourceapi.ResourceSlice
	if d.chance(0.25) {
		counters = d.slice(n.Name+"-gpu-counters", gpuDriver, n.Name, 1, 0)
		counters.Spec.NodeName = ptr.To(n.Name)
		counters.Spec.SharedCounters = []resourceapi.CounterSet{{Name: "gpu-0-counters", Counters: map[string]resourceapi.Counter{
			"memory": {Value: qty("80Gi")}, "slices": {Value: count(7)},
		}}}
		whole := d.gpu(0, "a100", "80Gi")
		whole.ConsumesCounters = []resourceapi.DeviceCounterConsumption{{CounterSet: "gpu-0-counters", Counters: map[string]resourceapi.Counter{
			"memory": {Value: qty("80Gi")}, "slices": {Value: count(7)},
		}}}
		devs = append(devs, whole)
		for i, part := range []struct {
			name, mem string
			slices    int64
		}{{"1g-a", "10Gi", 1}, {"1g-b", "10Gi", 1}, {"3g", "40Gi", 3}, {"4g", "40Gi", 4}} {
			dev := d.gpu(i+1, "a100", part.mem)
			dev.Name = "gpu-0-" + part.name
			dev.Attributes["mig"] = attrBool(true)
			dev.ConsumesCounters = []resourceapi.DeviceCounterConsumption{{CounterSet: "gpu-0-counters", Counters: map[string]resourceapi.Counter{
				"memory": {Value: qty(part.mem)}, "slices": {Value: count(part.slices)},
			}}}
			devs = append(devs, dev)
		}
	} else {
		n := 1 + d.r.IntN(4)
		if d.chance(0.1) {
			n = 0 // a driver with nothing to publish
		}
		for i := range n {
			model := pick(d.gen, "a100", "a100", "h100", "t4")
			mem := map[string]string{"a100": pick(d.gen, "40Gi", "80Gi"), "h100": "80Gi", "t4": "16Gi"}[model]
			dev := d.gpu(i, model, mem)
			if d.chance(0.03) {
				delete(dev.Attributes, "model")
			}
			devs = append(devs, dev)
		}
	}
	for i := range devs {
		if d.chance(0.12) {
			devs[i].Taints = append(devs[i].Taints, d.deviceTaint())
		}
		if d.chance(0.05) {
			devs[i].BindsToNode = ptr.To(true)
			devs[i].BindingConditions = []string{"attached"}
			devs[i].BindingFailureConditions = []string{"attach-failed"}
		}
	}
	main := d.slice(n.Name+"-gpu", gpuDriver, n.Name, 1, 1)
	main.Spec.NodeName = ptr.To(n.Name)
	main.Spec.Devices = devs
	pool := []*resourceapi.ResourceSlice{main}
	if counters != nil {
		pool = append(pool, counters)
	}
	switch {
	case d.chance(0.05) && len(devs) > 0:
		// Invalid: a second slice of the same generation repeats a name.
		dup := d.slice(n.Name+"-gpu-dup", gpuDriver, n.Name, 1, 1)
		dup.Spec.NodeName = ptr.To(n.Name)
		dup.Spec.Devices = []resourceapi.Device{*devs[0].DeepCopy()}
		pool = append(pool, dup)
	case d.chance(0.05):
		// Outdated: a slice of the previous generation the driver has not
		// removed yet; its device must be ignored.
		old := d.slice(n.Name+"-gpu-old", gpuDriver, n.Name, 0, 1)
		old.Spec.NodeName = ptr.To(n.Name)
		old.Spec.Devices = []resourceapi.Device{d.gpu(9, "h100", "80Gi")}
		old.Spec.Devices[0].Name = "gpu-old"
		d.objs = append(d.objs, old)
	}
	total := int64(len(pool))
	if d.chance(0.05) {
		// Incomplete: the driver has not published every slice yet.
		total++
	}
	for _, s := range pool {
		s.Spec.Pool.ResourceSliceCount = total
		d.objs = append(d.objs, s)
	}
	for _, dev := range devs {
		d.devices = append(d.devices, draDevice{driver: gpuDriver, pool: n.Name, name: dev.Name, node: n.Name,
			capacity: dev.Capacity, bindingConditions: dev.BindingConditions, bindingFailures: dev.BindingFailureConditions})
	}
}

func (d *draGen) gpu(i int, model, mem string) resourceapi.Device {
	return resourceapi.Device{
		Name: fmt.Sprintf("gpu-%d", i),
		Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
			"model":       attrString(model),
			"index":       attrInt(int64(i)),
			"mig":         attrBool(false),
			"cudaVersion": attrVersion(pick(d.gen, "11.8.0", "12.2.0", "12.4.1")),
			pcieRootAttr:  attrString(fmt.Sprintf("pci-%d", i%2)),
		},
		Capacity: map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{"memory": {Value: qty(mem)}},
	}
}

func (d *draGen) deviceTaint() resourceapi.DeviceTaint {
	t := resourceapi.DeviceTaint{
		Key:    pick(d.gen, gpuTaintKey, gpuTaintKey, maintenanceKey),
		Value:  pick(d.gen, "", "true"),
		Effect: pick(d.gen, resourceapi.DeviceTaintEffectNoSchedule, resourceapi.DeviceTaintEffectNoSchedule, resourceapi.DeviceTaintEffectNoExecute, resourceapi.DeviceTaintEffectNone),
	}
	if d.chance(0.3) {
		t.TimeAdded = ptr.To(metav1.Unix(1700000000, 0))
	}
	return t
}

// nicPool publishes node n's NICs: one to three, on some nodes shareable
// (allowMultipleAllocations with a bandwidth request policy).
func (d *draGen) nicPool(n *v1.Node) {
	shared := d.chance(0.35)
	s := d.slice(n.Name+"-nic", nicDriver, n.Name, 1, 1)
	s.Spec.NodeName = ptr.To(n.Name)
	for i := range 1 + d.r.IntN(3) {
		dev := resourceapi.Device{
			Name: fmt.Sprintf("nic-%d", i),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
				"speed":      attrInt(pick[int64](d.gen, 10, 25, 100)),
				"sriov":      attrBool(d.chance(0.5)),
				pcieRootAttr: attrString(fmt.Sprintf("pci-%d", d.r.IntN(2))),
			},
			Capacity: map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{"bandwidth": {Value: qty("100G")}},
		}
		if shared {
			dev.AllowMultipleAllocations = ptr.To(true)
			policy := &resourceapi.CapacityRequestPolicy{Default: ptr.To(qty("10G"))}
			if d.chance(0.5) {
				policy.ValidRange = &resourceapi.CapacityRequestPolicyRange{Min: ptr.To(qty("1G")), Step: ptr.To(qty("1G"))}
			} else {
				policy.ValidValues = []resource.Quantity{qty("10G"), qty("25G"), qty("50G")}
			}
			dev.Capacity["bandwidth"] = resourceapi.DeviceCapacity{Value: qty("100G"), RequestPolicy: policy}
			if d.chance(0.5) {
				// Fractional steps: how a request rounds up depends on
				// DRAFractionalCapacityRange (off by default in v1.37).
				dev.Capacity["compute"] = resourceapi.DeviceCapacity{Value: qty("2"), RequestPolicy: &resourceapi.CapacityRequestPolicy{
					Default:    ptr.To(qty("250m")),
					ValidRange: &resourceapi.CapacityRequestPolicyRange{Min: ptr.To(qty("250m")), Step: ptr.To(qty("250m"))},
				}}
			}
		}
		if d.chance(0.05) {
			dev.Taints = append(dev.Taints, d.deviceTaint())
		}
		s.Spec.Devices = append(s.Spec.Devices, dev)
		d.devices = append(d.devices, draDevice{driver: nicDriver, pool: n.Name, name: dev.Name, node: n.Name, multi: shared, capacity: dev.Capacity})
	}
	d.objs = append(d.objs, s)
}

// networkPool publishes FPGAs reachable from the nodes a selector picks
// (by zone or hostname), or from every node.
func (d *draGen) networkPool(i int) {
	pool := fmt.Sprintf("fabric-%d", i)
	s := d.slice(pool, fpgaDriver, pool, 1, 1)
	var sel *v1.NodeSelector
	switch {
	case d.chance(0.3):
		s.Spec.AllNodes = ptr.To(true)
	case d.chance(0.6):
		sel = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: zoneKey, Operator: v1.NodeSelectorOpIn, Values: []string{pick(d.gen, zones...)}},
		}}}}
	default:
		sel = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
			{Key: hostnameKey, Operator: v1.NodeSelectorOpIn, Values: d.someNodes()},
		}}}}
	}
	s.Spec.NodeSelector = sel
	for j := range 1 + d.r.IntN(3) {
		dev := resourceapi.Device{
			Name: fmt.Sprintf("fpga-%d", j),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
				"family": attrString(pick(d.gen, "agilex", "versal")),
				"slots":  attrInt(int64(1 + d.r.IntN(4))),
			},
		}
		s.Spec.Devices = append(s.Spec.Devices, dev)
		d.devices = append(d.devices, draDevice{driver: fpgaDriver, pool: pool, name: dev.Name, sel: sel})
	}
	d.objs = append(d.objs, s)
}

// someNodes returns one or two node names (a missing one sometimes).
func (d *draGen) someNodes() []string {
	out := []string{"node-missing"}
	if len(d.nodes) > 0 && d.chance(0.9) {
		out[0] = pick(d.gen, d.nodes...).Name
	}
	if n := pick(d.gen, d.nodes...).Name; d.chance(0.4) && n != out[0] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// perDevicePool publishes FPGAs whose node selection is per device: a
// node name (sometimes of a node that does not exist), a node selector or
// all nodes.
func (d *draGen) perDevicePool() {
	s := d.slice("edge", fpgaDriver, "edge", 1, 1)
	s.Spec.PerDeviceNodeSelection = ptr.To(true)
	for j := range 1 + d.r.IntN(3) {
		dev := resourceapi.Device{
			Name:       fmt.Sprintf("edge-%d", j),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{"family": attrString("agilex"), "slots": attrInt(1)},
		}
		dd := draDevice{driver: fpgaDriver, pool: "edge", name: dev.Name}
		switch {
		case d.chance(0.5):
			dev.NodeName = ptr.To(d.someNodes()[0])
			dd.node = *dev.NodeName
		case d.chance(0.5):
			dev.NodeSelector = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
				{Key: zoneKey, Operator: v1.NodeSelectorOpIn, Values: []string{pick(d.gen, zones...)}},
			}}}}
			dd.sel = dev.NodeSelector
		default:
			dev.AllNodes = ptr.To(true)
		}
		s.Spec.Devices = append(s.Spec.Devices, dev)
		d.devices = append(d.devices, dd)
	}
	d.objs = append(d.objs, s)
}

// taintRule taints GPUs through a DeviceTaintRule: all of the driver's,
// one node's pool, or one device.
func (d *draGen) taintRule() {
	r := &resourceapi.DeviceTaintRule{ObjectMeta: metav1.ObjectMeta{Name: "gpu-maintenance", UID: d.uid()}}
	r.Spec.DeviceSelector = &resourceapi.DeviceTaintSelector{Driver: ptr.To(gpuDriver)}
	if len(d.nodes) > 0 && d.chance(0.7) {
		r.Spec.DeviceSelector.Pool = ptr.To(pick(d.gen, d.nodes...).Name)
		if d.chance(0.5) {
			r.Spec.DeviceSelector.Device = ptr.To(pick(d.gen, "gpu-0", "gpu-1"))
		}
	}
	r.Spec.Taint = d.deviceTaint()
	r.Spec.Taint.Key = maintenanceKey
	r.Spec.Taint.TimeAdded = nil
	d.objs = append(d.objs, r)
}

// claimSpec returns one to three requests: exact (a count, or all
// devices) or a prioritized list of two or three subrequests; selectors,
// tolerations, admin access (only where the namespace allows it),
// capacity requests; sometimes constraints and configuration.
func (d *draGen) claimSpec(ns string) resourceapi.ResourceClaimSpec {
	var spec resourceapi.ResourceClaimSpec
	n := 1
	if d.chance(0.25) {
		n += 1 + d.r.IntN(2)
	}
	var names []string
	multi := false
	for i := range n {
		req := resourceapi.DeviceRequest{Name: fmt.Sprintf("req-%d", i)}
		if d.chance(0.35) {
			ladder := pick(d.gen, ladders...)
			random := d.chance(0.2)
			for j, step := range ladder {
				sub := resourceapi.DeviceSubRequest{Name: fmt.Sprintf("sub-%d", j), DeviceClassName: step.class,
					AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: step.count}
				if random {
					sub.DeviceClassName = pick(d.gen, requestClasses...)
					sub.AllocationMode, sub.Count = d.allocationMode()
				}
				sub.Selectors = d.selectors(sub.DeviceClassName)
				sub.Tolerations = d.tolerations()
				sub.Capacity = d.capacityRequest(sub.DeviceClassName)
				req.FirstAvailable = append(req.FirstAvailable, sub)
			}
		} else {
			class := pick(d.gen, requestClasses...)
			ex := &resourceapi.ExactDeviceRequest{DeviceClassName: class}
			ex.AllocationMode, ex.Count = d.allocationMode()
			multi = multi || ex.Count > 1 || ex.AllocationMode == resourceapi.DeviceAllocationModeAll
			ex.Selectors = d.selectors(class)
			ex.Tolerations = d.tolerations()
			ex.Capacity = d.capacityRequest(class)
			if ns == "team-a" && d.chance(0.25) {
				ex.AdminAccess = ptr.To(true)
			}
			req.Exactly = ex
		}
		names = append(names, req.Name)
		spec.Devices.Requests = append(spec.Devices.Requests, req)
	}
	if (n > 1 || multi) && d.chance(0.4) {
		c := resourceapi.DeviceConstraint{}
		if n > 1 && d.chance(0.5) {
			c.Requests = names[:2]
		}
		switch {
		case d.chance(0.1):
			c.DistinctAttribute = ptr.To(resourceapi.FullyQualifiedName(pcieRootAttr))
		default:
			c.MatchAttribute = ptr.To(resourceapi.FullyQualifiedName(pick(d.gen, pcieRootAttr, pcieRootAttr, "gpu.example.com/model", "nic.example.com/speed")))
		}
		spec.Devices.Constraints = append(spec.Devices.Constraints, c)
	}
	if d.chance(0.2) {
		cfg := resourceapi.DeviceClaimConfiguration{DeviceConfiguration: opaque(pick(d.gen, gpuDriver, nicDriver), `{"mode":"claim"}`)}
		if d.chance(0.5) {
			cfg.Requests = names[:1]
		}
		spec.Devices.Config = append(spec.Devices.Config, cfg)
	}
	return spec
}

func (d *draGen) allocationMode() (resourceapi.DeviceAllocationMode, int64) {
	if d.chance(0.07) {
		return resourceapi.DeviceAllocationModeAll, 0
	}
	return resourceapi.DeviceAllocationModeExactCount, pick[int64](d.gen, 1, 1, 1, 1, 2, 3)
}

func (d *draGen) selectors(class string) []resourceapi.DeviceSelector {
	if !d.chance(0.3) {
		return nil
	}
	exprs := claimSelectors[classDriver(class)]
	if class == "gone" {
		exprs = claimSelectors[gpuDriver]
	}
	return []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: pick(d.gen, exprs...)}}}
}

func (d *draGen) tolerations() []resourceapi.DeviceToleration {
	if !d.chance(0.3) {
		return nil
	}
	switch d.r.IntN(4) {
	case 0:
		return []resourceapi.DeviceToleration{{Key: gpuTaintKey, Operator: resourceapi.DeviceTolerationOpExists}}
	case 1:
		return []resourceapi.DeviceToleration{{Key: gpuTaintKey, Operator: resourceapi.DeviceTolerationOpExists, Effect: resourceapi.DeviceTaintEffectNoSchedule}}
	case 2:
		return []resourceapi.DeviceToleration{{Key: maintenanceKey, Operator: resourceapi.DeviceTolerationOpEqual, Value: "true"}}
	}
	return []resourceapi.DeviceToleration{{Operator: resourceapi.DeviceTolerationOpExists}}
}

func (d *draGen) capacityRequest(class string) *resourceapi.CapacityRequirements {
	if (class != "nic" && class != "any") || !d.chance(0.5) {
		return nil
	}
	// Requests name a capacity as the device does (unqualified); now and
	// then with the driver's domain, which matches no device.
	prefix := ""
	if d.chance(0.1) {
		prefix = nicDriver + "/"
	}
	if d.chance(0.3) {
		return &resourceapi.CapacityRequirements{Requests: map[resourceapi.QualifiedName]resource.Quantity{
			resourceapi.QualifiedName(prefix + "compute"): qty(pick(d.gen, "300m", "600m", "1", "1100m")),
		}}
	}
	return &resourceapi.CapacityRequirements{Requests: map[resourceapi.QualifiedName]resource.Quantity{
		resourceapi.QualifiedName(prefix + "bandwidth"): qty(pick(d.gen, "10G", "20G", "35G", "60G", "150G")),
	}}
}

// claim makes a claim pods reference by name, in namespace ns: allocated
// (on a node, and then usually reserved by a bound pod of the namespace
// there that uses it, sometimes two), or not; some being deleted.
func (d *draGen) claim(ns string) *resourceapi.ResourceClaim {
	cl := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("claim-%d", d.numClaims()), Namespace: ns, UID: d.uid()}}
	cl.Spec = d.claimSpec(ns)
	if d.chance(0.4) {
		var holders []*v1.Pod
		if p := d.boundPodIn(ns, ""); p != nil && d.chance(0.75) {
			holders = append(holders, p)
			if q := d.boundPodIn(ns, p.Spec.NodeName); q != nil && q != p && d.chance(0.3) {
				holders = append(holders, q)
			}
		}
		node := ""
		if len(holders) > 0 {
			node = holders[0].Spec.NodeName
		}
		d.allocate(cl, node)
		for _, p := range holders {
			d.reserve(cl, p)
			addPodClaim(p, cl.Name, nil)
		}
	}
	if d.chance(0.04) {
		d.deleting(cl)
	}
	d.claims[ns] = append(d.claims[ns], cl)
	return cl
}

// boundPodIn returns one of the bound pods in namespace ns (on node, if
// not ""), or nil.
func (d *draGen) boundPodIn(ns, node string) *v1.Pod {
	var ps []*v1.Pod
	for _, p := range d.c.Cluster.Pods {
		if p.Namespace == ns && (node == "" || p.Spec.NodeName == node) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return pick(d.gen, ps...)
}

func (d *draGen) deleting(cl *resourceapi.ResourceClaim) {
	cl.DeletionTimestamp = ptr.To(metav1.Unix(1700000000, 0))
	cl.Finalizers = []string{resourceapi.Finalizer}
}

func (d *draGen) reserve(cl *resourceapi.ResourceClaim, p *v1.Pod) {
	cl.Status.ReservedFor = append(cl.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: p.Name, UID: p.UID})
}

// addPodClaim adds a claim to the pod and to its first container: by name,
// or (with a template) as the resourceclaim controller records it.
func addPodClaim(p *v1.Pod, claimName string, template *string) string {
	name := fmt.Sprintf("dra-%d", len(p.Spec.ResourceClaims))
	pc := v1.PodResourceClaim{Name: name}
	if template != nil {
		pc.ResourceClaimTemplateName = template
	} else {
		pc.ResourceClaimName = ptr.To(claimName)
	}
	p.Spec.ResourceClaims = append(p.Spec.ResourceClaims, pc)
	p.Spec.Containers[0].Resources.Claims = append(p.Spec.Containers[0].Resources.Claims, v1.ResourceClaim{Name: name})
	return name
}

// allocate gives cl an allocation as the scheduler would have recorded it
// for node (any node with devices if ""): for each request (one of the
// subrequests of a prioritized list) devices of the class's driver,
// reachable from the node, sometimes devices that no longer exist; admin
// access, share IDs and consumed capacity, binding conditions with the
// device status a driver reports. The node selector is the node's name,
// the network-attached pool's selector, or none.
func (d *draGen) allocate(cl *resourceapi.ResourceClaim, node string) {
	if node == "" {
		var withDevices []string
		for _, dev := range d.devices {
			if dev.node != "" {
				withDevices = append(withDevices, dev.node)
			}
		}
		if len(withDevices) > 0 {
			node = pick(d.gen, withDevices...)
		}
	}
	a := &resourceapi.AllocationResult{}
	used := map[string]bool{}
	var sel *v1.NodeSelector
	local := false
	for _, req := range cl.Spec.Devices.Requests {
		name, class, cnt, admin := req.Name, "", int64(1), false
		if req.Exactly != nil {
			class, admin = req.Exactly.DeviceClassName, ptr.Deref(req.Exactly.AdminAccess, false)
			if req.Exactly.Count > 0 {
				cnt = req.Exactly.Count
			}
		} else {
			sub := pick(d.gen, req.FirstAvailable...)
			name, class = req.Name+"/"+sub.Name, sub.DeviceClassName
			if sub.Count > 0 {
				cnt = sub.Count
			}
		}
		var cands []draDevice
		for _, dev := range d.devices {
			if drv := classDriver(class); (drv == "" || drv == dev.driver) && (dev.node == node || dev.node == "") && !used[dev.driver+dev.pool+dev.name] {
				cands = append(cands, dev)
			}
		}
		for range cnt {
			var dev draDevice
			if len(cands) == 0 || d.chance(0.05) {
				// A device the driver no longer publishes.
				dev = draDevice{driver: gpuDriver, pool: node, name: "gpu-gone", node: node}
				if node == "" {
					dev.pool = "gone"
				}
			} else {
				k := d.r.IntN(len(cands))
				dev = cands[k]
				cands = slices.Delete(cands, k, k+1)
			}
			used[dev.driver+dev.pool+dev.name] = true
			res := resourceapi.DeviceRequestAllocationResult{Request: name, Driver: dev.driver, Pool: dev.pool, Device: dev.name}
			if admin {
				res.AdminAccess = ptr.To(true)
			}
			if dev.multi && d.chance(0.8) {
				res.ShareID = ptr.To(d.shareID())
				if d.chance(0.8) {
					res.ConsumedCapacity = map[resourceapi.QualifiedName]resource.Quantity{"bandwidth": qty(pick(d.gen, "10G", "25G", "50G"))}
					if _, ok := dev.capacity["compute"]; ok {
						res.ConsumedCapacity["compute"] = qty(pick(d.gen, "250m", "750m", "1", "1250m"))
					}
				}
			}
			if len(dev.bindingConditions) > 0 {
				res.BindingConditions, res.BindingFailureConditions = dev.bindingConditions, dev.bindingFailures
				d.deviceStatus(cl, a, dev)
			}
			if dev.node != "" {
				local = true
			} else if dev.sel != nil {
				sel = dev.sel
			}
			a.Devices.Results = append(a.Devices.Results, res)
		}
	}
	switch {
	case local && node != "":
		a.NodeSelector = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{
			{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{node}},
		}}}}
	case sel != nil:
		a.NodeSelector = sel.DeepCopy()
	}
	if cfg := cl.Spec.Devices.Config; len(cfg) > 0 {
		a.Devices.Config = append(a.Devices.Config, resourceapi.DeviceAllocationConfiguration{
			Source: resourceapi.AllocationConfigSourceClaim, Requests: cfg[0].Requests, DeviceConfiguration: cfg[0].DeviceConfiguration,
		})
	}
	cl.Status.Allocation = a
}

// deviceStatus records the binding condition a driver reports for dev:
// met, failed, or not yet (the allocation then times out, or not, by its
// timestamp).
func (d *draGen) deviceStatus(cl *resourceapi.ResourceClaim, a *resourceapi.AllocationResult, dev draDevice) {
	if a.AllocationTimestamp == nil {
		// Long past (the binding timeout has expired) or far ahead.
		a.AllocationTimestamp = ptr.To(metav1.Unix(pick[int64](d.gen, 1700000000, 4102444800), 0))
	}
	var conds []metav1.Condition
	switch d.r.IntN(4) {
	case 0:
		conds = []metav1.Condition{{Type: dev.bindingConditions[0], Status: metav1.ConditionTrue, Reason: "Attached", LastTransitionTime: metav1.Unix(1700000000, 0)}}
	case 1:
		conds = []metav1.Condition{{Type: dev.bindingFailures[0], Status: metav1.ConditionTrue, Reason: "AttachFailed", LastTransitionTime: metav1.Unix(1700000000, 0)}}
	case 2:
		conds = []metav1.Condition{{Type: dev.bindingConditions[0], Status: metav1.ConditionFalse, Reason: "Attaching", LastTransitionTime: metav1.Unix(1700000000, 0)}}
	default:
		return // no status yet
	}
	for _, s := range cl.Status.Devices {
		if s.Driver == dev.driver && s.Pool == dev.pool && s.Device == dev.name {
			return
		}
	}
	cl.Status.Devices = append(cl.Status.Devices, resourceapi.AllocatedDeviceStatus{Driver: dev.driver, Pool: dev.pool, Device: dev.name, Conditions: conds})
}

func (d *draGen) shareID() types.UID {
	return types.UID(fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", d.r.Uint32(), d.r.IntN(1<<16), d.r.IntN(1<<12), d.r.IntN(1<<12), d.r.Int64N(1<<48)))
}

// podClaims gives a pending pod one or two claims: one of its namespace's
// claims by name (or a missing one), or a template, with the claim the
// resourceclaim controller made from it named in the pod's status (or not
// made yet, or no claim needed, or one another pod owns). Half of them
// drop their other constraints first, so that DRA decides where they fit.
func (d *draGen) podClaims(p *v1.Pod) {
	if d.chance(0.5) {
		simplify(p)
	}
	used := map[string]bool{}
	for range 1 + d.r.IntN(2) {
		if d.chance(0.45) {
			name := "claim-missing"
			if d.chance(0.95) {
				cs := d.claims[p.Namespace]
				var cl *resourceapi.ResourceClaim
				if len(cs) == 0 || d.chance(0.2) {
					cl = d.claim(p.Namespace)
				} else {
					cl = pick(d.gen, cs...)
				}
				name = cl.Name
				if cl.Status.Allocation != nil && !used[name] && d.chance(0.1) {
					// Already reserved for this pod (an earlier attempt
					// got as far as reserving it).
					d.reserve(cl, p)
				}
			}
			if used[name] {
				continue
			}
			used[name] = true
			addPodClaim(p, name, nil)
			continue
		}
		t := d.template(p.Namespace)
		pcName := addPodClaim(p, "", ptr.To(t.Name))
		switch r := d.r.Float64(); {
		case r < 0.1:
			// The controller has not made the claim yet.
			continue
		case r < 0.15:
			// No claim needed.
			p.Status.ResourceClaimStatuses = append(p.Status.ResourceClaimStatuses, v1.PodResourceClaimStatus{Name: pcName})
			continue
		}
		cl := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%s-%s", p.Name, pcName, d.suffix()), Namespace: p.Namespace, UID: d.uid(),
			Annotations: map[string]string{resourceapi.PodResourceClaimAnnotation: pcName},
		}, Spec: *t.Spec.Spec.DeepCopy()}
		owner := p.UID
		if d.chance(0.04) {
			owner = d.uid() // an earlier pod of the same name
		}
		cl.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: owner, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		p.Status.ResourceClaimStatuses = append(p.Status.ResourceClaimStatuses, v1.PodResourceClaimStatus{Name: pcName, ResourceClaimName: ptr.To(cl.Name)})
		switch {
		case d.chance(0.04):
			continue // named in the status, but gone
		case d.chance(0.1):
			// Allocated and reserved in an earlier attempt.
			d.allocate(cl, "")
			d.reserve(cl, p)
		case d.chance(0.02):
			d.deleting(cl)
		}
		d.generated = append(d.generated, cl)
	}
}

// numClaims is the number of claims made so far, for naming the next.
func (d *draGen) numClaims() int {
	n := 0
	for _, cs := range d.claims {
		n += len(cs)
	}
	return n
}

// extendedRequest makes the pod's first container request an extended
// resource: the one the gpu class backs, the implicit name of a class that
// exists (deviceclass.resource.kubernetes.io/<class>) or of one that does
// not. Where a node advertises the resource itself NodeResourcesFit counts
// it; elsewhere DynamicResources allocates devices for it.
func (d *draGen) extendedRequest(p *v1.Pod) {
	name := v1.ResourceName(pick(d.gen, draGPUResource, draGPUResource, resourceapi.ResourceDeviceClassPrefix+"gpu-large", resourceapi.ResourceDeviceClassPrefix+"gone"))
	q := count(int64(1 + d.r.IntN(2)))
	c := &p.Spec.Containers[0]
	if c.Resources.Requests == nil {
		c.Resources.Requests = v1.ResourceList{}
	}
	if c.Resources.Limits == nil {
		c.Resources.Limits = v1.ResourceList{}
	}
	c.Resources.Requests[name], c.Resources.Limits[name] = q, q
}

// template returns one of the namespace's templates, making a new one
// sometimes.
func (d *draGen) template(ns string) *resourceapi.ResourceClaimTemplate {
	if ts := d.templates[ns]; len(ts) > 0 && d.chance(0.6) {
		return pick(d.gen, ts...)
	}
	t := &resourceapi.ResourceClaimTemplate{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("template-%d", len(d.templates[ns])), Namespace: ns, UID: d.uid(),
	}}
	t.Spec.Spec = d.claimSpec(ns)
	d.templates[ns] = append(d.templates[ns], t)
	return t
}

// suffix is the random part of a generated claim name.
func (d *draGen) suffix() string {
	const chars = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = chars[d.r.IntN(len(chars))]
	}
	return string(b)
}
