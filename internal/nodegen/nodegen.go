package nodegen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/klog/v2"
)

// Profile selects the shape of the generated fleet.
type Profile string

const (
	// ProfileBasic makes every node the same general-purpose 8-core machine.
	ProfileBasic Profile = "basic"
	// ProfileMixed cycles deterministically through instance types of
	// different sizes (small, medium, large, xlarge, high-memory).
	ProfileMixed Profile = "mixed"
	// ProfileGPU makes accelerator nodes exposing 4 or 8 nvidia.com/gpu,
	// labelled as NVIDIA's GPU feature discovery labels them (product,
	// count, and per-card memory in MiB).
	ProfileGPU Profile = "gpu"
)

// ResourceGPU is the extended resource name used by the gpu profile.
const ResourceGPU v1.ResourceName = "nvidia.com/gpu"

// LabelDiskType is the label carrying the node's disk kind (ssd or hdd).
const LabelDiskType = "disk-type"

// Profiles lists the valid profiles, in the order they are documented.
var Profiles = []Profile{ProfileBasic, ProfileMixed, ProfileGPU}

// ParseProfile converts a user-supplied name into a Profile.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown node profile %q; valid profiles are basic, mixed, gpu", s)
}

// Options describes a fleet to generate. Zero values get sensible defaults
// (see Defaults).
type Options struct {
	// Count is the number of nodes to create.
	Count int
	// StartIndex is the index of the first node; names are Prefix+index.
	StartIndex int
	// Profile selects the node shapes; defaults to ProfileBasic.
	Profile Profile
	// Prefix is prepended to the zero-padded index to form node names;
	// defaults to "node-".
	Prefix string
	// Zones is the number of topology zones (zone-a, zone-b, ...) nodes are
	// spread over round-robin; defaults to 3, at most 26.
	Zones int
	// Region is the topology.kubernetes.io/region label value; defaults to
	// "region-1".
	Region string
	// Workers is the number of concurrent creators; defaults to 48.
	Workers int
	// Progress, if non-nil, receives a progress line about once a second.
	Progress io.Writer
}

// Defaults returns o with zero fields replaced by their defaults.
func (o Options) Defaults() Options {
	if o.Profile == "" {
		o.Profile = ProfileBasic
	}
	if o.Prefix == "" {
		o.Prefix = "node-"
	}
	if o.Zones <= 0 {
		o.Zones = 3
	}
	if o.Region == "" {
		o.Region = "region-1"
	}
	if o.Workers <= 0 {
		o.Workers = 48
	}
	return o
}

// Validate reports the first problem with o (after defaulting).
func (o Options) Validate() error {
	o = o.Defaults()
	if o.Count < 0 {
		return fmt.Errorf("node count must not be negative (got %d)", o.Count)
	}
	if o.StartIndex < 0 {
		return fmt.Errorf("start index must not be negative (got %d)", o.StartIndex)
	}
	if o.Zones > 26 {
		return fmt.Errorf("at most 26 zones are supported (got %d)", o.Zones)
	}
	if _, err := ParseProfile(string(o.Profile)); err != nil {
		return err
	}
	return nil
}

// instanceType is one machine shape.
type instanceType struct {
	name     string
	cpu      int64 // cores
	memoryGi int64
	diskGi   int64
	gpus     int64
	gpuModel string
	// gpuMemoryMiB is each card's memory, published as GPU feature
	// discovery does (label nvidia.com/gpu.memory, in MiB).
	gpuMemoryMiB int64
	weight       int // relative frequency in the mixed profile
}

var (
	basicType = instanceType{name: "standard-8", cpu: 8, memoryGi: 32, diskGi: 100}

	mixedTypes = []instanceType{
		{name: "standard-4", cpu: 4, memoryGi: 16, diskGi: 50, weight: 3},
		{name: "standard-8", cpu: 8, memoryGi: 32, diskGi: 100, weight: 4},
		{name: "standard-16", cpu: 16, memoryGi: 64, diskGi: 200, weight: 2},
		{name: "standard-32", cpu: 32, memoryGi: 128, diskGi: 400, weight: 1},
		{name: "highmem-16", cpu: 16, memoryGi: 128, diskGi: 200, weight: 1},
	}

	gpuTypes = []instanceType{
		{name: "gpu-4x", cpu: 48, memoryGi: 384, diskGi: 1000, gpus: 4, gpuModel: "NVIDIA-A100-SXM4-40GB", gpuMemoryMiB: 40960, weight: 3},
		{name: "gpu-8x", cpu: 96, memoryGi: 1152, diskGi: 2000, gpus: 8, gpuModel: "NVIDIA-H100-80GB-HBM3", gpuMemoryMiB: 81920, weight: 1},
	}
)

// pick returns the weighted, deterministic choice for index i.
func pick(types []instanceType, i int) instanceType {
	total := 0
	for _, t := range types {
		total += t.weight
	}
	// Spread consecutive indices over the cycle with a multiplier co-prime
	// to typical totals so neighbours differ.
	slot := (i * 7) % total
	for _, t := range types {
		if slot < t.weight {
			return t
		}
		slot -= t.weight
	}
	return types[len(types)-1]
}

func typeFor(p Profile, i int) instanceType {
	switch p {
	case ProfileMixed:
		return pick(mixedTypes, i)
	case ProfileGPU:
		return pick(gpuTypes, i)
	default:
		return basicType
	}
}

// NodeName returns the name of the node with index i.
func NodeName(o Options, i int) string {
	o = o.Defaults()
	return fmt.Sprintf("%s%05d", o.Prefix, i)
}

// Node builds (without creating) the node with index i. Its status carries
// capacity, allocatable, addresses and a Ready condition; its spec has no
// taints.
func Node(o Options, i int) *v1.Node {
	o = o.Defaults()
	t := typeFor(o.Profile, i)
	name := NodeName(o, i)
	zone := fmt.Sprintf("zone-%c", 'a'+rune(i%o.Zones))
	disk := "ssd"
	if i%4 == 3 {
		disk = "hdd"
	}

	// Reserve what a kubelet typically does: system+kube reserved CPU,
	// memory and the eviction threshold, and a slice of the disk.
	cpuCap := resource.NewMilliQuantity(t.cpu*1000, resource.DecimalSI)
	cpuAlloc := resource.NewMilliQuantity(t.cpu*1000-reservedCPUMilli(t.cpu), resource.DecimalSI)
	memCap := resource.NewQuantity(t.memoryGi<<30, resource.BinarySI)
	memAlloc := resource.NewQuantity(t.memoryGi<<30-reservedMemory(t.memoryGi), resource.BinarySI)
	diskCap := resource.NewQuantity(t.diskGi<<30, resource.BinarySI)
	diskAlloc := resource.NewQuantity(t.diskGi<<30*9/10, resource.BinarySI)
	pods := resource.NewQuantity(110, resource.DecimalSI)

	capacity := v1.ResourceList{
		v1.ResourceCPU:              *cpuCap,
		v1.ResourceMemory:           *memCap,
		v1.ResourceEphemeralStorage: *diskCap,
		v1.ResourcePods:             *pods,
	}
	allocatable := v1.ResourceList{
		v1.ResourceCPU:              *cpuAlloc,
		v1.ResourceMemory:           *memAlloc,
		v1.ResourceEphemeralStorage: *diskAlloc,
		v1.ResourcePods:             pods.DeepCopy(),
	}
	labels := map[string]string{
		v1.LabelHostname:           name,
		v1.LabelOSStable:           "linux",
		v1.LabelArchStable:         "amd64",
		v1.LabelTopologyZone:       zone,
		v1.LabelTopologyRegion:     o.Region,
		v1.LabelInstanceTypeStable: t.name,
		LabelDiskType:              disk,
	}
	if t.gpus > 0 {
		gpus := resource.NewQuantity(t.gpus, resource.DecimalSI)
		capacity[ResourceGPU] = *gpus
		allocatable[ResourceGPU] = gpus.DeepCopy()
		labels["nvidia.com/gpu.present"] = "true"
		labels["nvidia.com/gpu.product"] = t.gpuModel
		labels["nvidia.com/gpu.count"] = fmt.Sprint(t.gpus)
		labels["nvidia.com/gpu.memory"] = fmt.Sprint(t.gpuMemoryMiB)
	}

	now := metav1.Now()
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: v1.NodeStatus{
			Capacity:    capacity,
			Allocatable: allocatable,
			Phase:       v1.NodeRunning,
			Conditions: []v1.NodeCondition{
				{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "synthetic node generated by nodegen", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
			},
			Addresses: []v1.NodeAddress{
				{Type: v1.NodeInternalIP, Address: fmt.Sprintf("10.%d.%d.%d", 128+(i>>16)&63, (i>>8)&255, i&255)},
				{Type: v1.NodeHostName, Address: name},
			},
			NodeInfo: v1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				KubeletVersion:          "v1.37.2",
				ContainerRuntimeVersion: "containerd://2.1.0",
				OSImage:                 "Synthetic Linux",
			},
		},
	}
}

func reservedCPUMilli(cores int64) int64 {
	// 6% of the first core, 1% of the next, 0.5% of the next two, 0.25% above.
	m := int64(60)
	if cores > 1 {
		m += 10
	}
	if cores > 2 {
		m += 5 * min(cores-2, 2)
	}
	if cores > 4 {
		m += (cores - 4) * 25 / 10
	}
	return m + 100 // plus system-reserved
}

func reservedMemory(gi int64) int64 {
	// ~6% for the kubelet/system plus a 100Mi eviction threshold.
	return gi<<30*6/100 + 100<<20
}

// Result summarises a Create run.
type Result struct {
	// Created is the number of nodes created.
	Created int
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// Create creates o.Count nodes concurrently: each is created, its status
// set (Ready condition, capacity, allocatable) with UpdateStatus, and the
// node.kubernetes.io/not-ready taint that the API server's
// TaintNodesByCondition admission adds at creation is removed with an
// Update. It stops at the first error and returns it.
func Create(ctx context.Context, client kubernetes.Interface, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	o = o.Defaults()
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	indices := make(chan int)
	workers := min(o.Workers, max(o.Count, 1))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range indices {
				if err := createOne(ctx, client, o, i); err != nil {
					fail(err)
					return
				}
				done.Add(1)
			}
		}()
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if o.Progress == nil {
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				n := done.Load()
				el := time.Since(start).Seconds()
				fmt.Fprintf(o.Progress, "created %d/%d nodes (%.0f nodes/s)\n", n, o.Count, float64(n)/el)
			}
		}
	}()

feed:
	for i := o.StartIndex; i < o.StartIndex+o.Count; i++ {
		select {
		case indices <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(indices)
	wg.Wait()
	close(stopProgress)
	<-progressDone

	res := Result{Created: int(done.Load()), Elapsed: time.Since(start)}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return res, firstErr
	}
	klog.V(2).InfoS("Generated nodes", "count", res.Created, "profile", o.Profile, "elapsed", res.Elapsed)
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "created %d nodes (profile %s) in %s\n", res.Created, o.Profile, res.Elapsed.Round(time.Millisecond))
	}
	return res, nil
}

func createOne(ctx context.Context, client kubernetes.Interface, o Options, i int) error {
	want := Node(o, i)
	nodes := client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s already exists; delete it or choose another --start-index/--prefix", want.Name)
	}
	if err != nil {
		return fmt.Errorf("create node %s: %w", want.Name, err)
	}
	// Status is ignored on create; set it through the status subresource.
	// A merge patch needs no resourceVersion, so it cannot conflict with
	// controllers (e.g. the TTL controller) touching the node meanwhile.
	statusPatch, err := json.Marshal(map[string]any{"status": want.Status})
	if err != nil {
		return err
	}
	if _, err := nodes.Patch(ctx, want.Name, types.MergePatchType, statusPatch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("set status of node %s: %w", want.Name, err)
	}
	return removeNotReadyTaint(ctx, nodes, created)
}

// removeNotReadyTaint drops the not-ready taint with a JSON patch guarded
// by a test of the current taints, re-reading the node if they changed.
func removeNotReadyTaint(ctx context.Context, nodes corev1client.NodeInterface, node *v1.Node) error {
	for attempt := 0; ; attempt++ {
		kept, removed := withoutNotReadyTaint(node.Spec.Taints)
		if !removed {
			return nil
		}
		ops := []map[string]any{{"op": "test", "path": "/spec/taints", "value": node.Spec.Taints}}
		if len(kept) == 0 {
			ops = append(ops, map[string]any{"op": "remove", "path": "/spec/taints"})
		} else {
			ops = append(ops, map[string]any{"op": "replace", "path": "/spec/taints", "value": kept})
		}
		patch, err := json.Marshal(ops)
		if err != nil {
			return err
		}
		_, err = nodes.Patch(ctx, node.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
		if err == nil {
			return nil
		}
		if attempt >= 5 || !(apierrors.IsInvalid(err) || apierrors.IsConflict(err)) {
			return fmt.Errorf("remove not-ready taint from node %s: %w", node.Name, err)
		}
		if node, err = nodes.Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("remove not-ready taint from node %s: %w", node.Name, err)
		}
	}
}

func withoutNotReadyTaint(taints []v1.Taint) ([]v1.Taint, bool) {
	var kept []v1.Taint
	removed := false
	for _, t := range taints {
		if t.Key == v1.TaintNodeNotReady {
			removed = true
			continue
		}
		kept = append(kept, t)
	}
	return kept, removed
}

// HasNotReadyTaint reports whether n carries the node.kubernetes.io/not-ready
// taint.
func HasNotReadyTaint(n *v1.Node) bool {
	_, has := withoutNotReadyTaint(n.Spec.Taints)
	return has
}

// IsReady reports whether n has a Ready=True condition.
func IsReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
