// Package dynamicresources is berth's DynamicResources plugin: Dynamic
// Resource Allocation (resource.k8s.io/v1) with kube-scheduler v1.37's
// semantics. A pod's ResourceClaims must exist before it is queued
// (PreEnqueue); PreFilter reads them and prepares the structured allocator
// of k8s.io/dynamic-resource-allocation over the ResourceSlices, the
// DeviceClasses and the devices already allocated; Filter asks the
// allocator whether the node can satisfy every unallocated claim (and
// checks that allocated claims are reachable from the node); Score prefers
// nodes where prioritized lists got their earlier alternatives; Reserve
// records the chosen allocation in flight, so that no other pod is given
// the same device before the API knows; PreBind writes the allocation and
// reservedFor to each claim's status and waits for devices' binding
// conditions; Unreserve gives everything back. PostFilter deallocates an
// allocated claim that keeps a pod from fitting anywhere when no other pod
// uses it.
//
// The allocator, the CEL cache and the ResourceSlice tracker (which applies
// DeviceTaintRules) are the staging library's; this package writes none of
// its own allocation logic. The claim tracker (tracker.go) is berth's: an
// informer store overlaid with claims berth wrote but has not yet seen
// back, plus the in-flight allocations between Reserve and PreBind.
package dynamicresources
