package dynamicresources

// Extended resources backed by DRA (kube-scheduler v1.37's
// DRAExtendedResource, GA). A DeviceClass may back an extended resource
// name (spec.extendedResourceName, or implicitly
// deviceclass.resource.kubernetes.io/<class>). A container's plain request
// for such a name is satisfied by the node's device plugin when the node
// advertises the resource in its allocatable, and by DRA devices when it
// does not. For the latter berth keeps one claim per pod, owned by the
// scheduler:
//
//   - PreFilter adds it after the pod's own claims, in memory under a name
//     no real claim can have and with a made-up UID, or finds the one an
//     earlier attempt created (which Filter then refuses, and PostFilter
//     deletes, so that the next attempt starts afresh);
//   - Filter gives it, per node, the device requests for the resources the
//     node does not advertise, and allocates it with the pod's claims;
//   - Reserve puts its allocation in flight under the made-up UID;
//   - PreBind creates it (generateName <pod>-extended-resources-, owned by
//     the pod, annotated as an extended-resource claim), writes its
//     allocation and reservation, and records in the pod's
//     status.extendedResourceClaimStatus which request serves which
//     container's resource;
//   - Unreserve deletes a claim PreBind created.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/internal/draextended"
)

// extendedClaimName is the in-memory name of a pod's extended-resource
// claim until PreBind creates it. It is not a valid object name, so no
// real claim has it.
const extendedClaimName = "<extended-resources>"

// Reasons for extended resources, worded as kube-scheduler words them.
const (
	reasonCannotFitResource  = "cannot fit resource"
	reasonStaleExtendedClaim = "cannot schedule extended resource claim"
)

// extendedState is what PreFilter learnt about the pod's extended
// resources backed by DRA.
type extendedState struct {
	// scalars are the pod's effective requests of scalar resources.
	scalars map[v1.ResourceName]int64
	// initialUID is the claim's UID as PreFilter made it up; in-flight
	// allocations are kept under it even after PreBind created the claim.
	initialUID types.UID
}

// nodeExtended is the extended-resource claim for one node: its device
// requests and which request serves which container's resource.
type nodeExtended struct {
	claim    *resourceapi.ResourceClaim
	mappings []v1.ContainerExtendedResourceRequest
}

// hasBackedRequest is a cheap check, by name only, for a container
// request of a resource some DeviceClass backs.
func (pl *DynamicResources) hasBackedRequest(pod *v1.Pod) bool {
	if pl.dra == nil {
		return false
	}
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			for name := range cs[i].Resources.Requests {
				if pl.dra.Backed(name) {
					return true
				}
			}
		}
	}
	return false
}

// preFilterExtended returns the pod's extended-resource claim (nil when no
// requested resource is backed by DRA) and records the pod's requests.
func (pl *DynamicResources) preFilterExtended(pod *v1.Pod, s *stateData) *resourceapi.ResourceClaim {
	if !pl.hasBackedRequest(pod) {
		return nil
	}
	scalars := framework.PodRequests(pod).ScalarResources
	backed := false
	for name, q := range scalars {
		if q != 0 && pl.dra.Backed(name) {
			backed = true
			break
		}
	}
	if !backed {
		return nil
	}
	s.ext = &extendedState{scalars: scalars}
	if c := pl.claims.FindExtended(pod); c != nil {
		s.ext.initialUID = c.UID
		return c
	}
	c := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    pod.Namespace,
			Name:         extendedClaimName,
			GenerateName: pod.Name + "-extended-resources-",
			UID:          uuid.NewUUID(),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true),
			}},
			Annotations: map[string]string{resourceapi.ExtendedResourceClaimAnnotation: "true"},
		},
	}
	s.ext.initialUID = c.UID
	return c
}

// isExtendedClaimFor reports whether c is pod's extended-resource claim:
// annotated as one and controlled by the pod.
func isExtendedClaimFor(pod *v1.Pod, c *resourceapi.ResourceClaim) bool {
	if c.Annotations[resourceapi.ExtendedResourceClaimAnnotation] != "true" {
		return false
	}
	for _, o := range c.OwnerReferences {
		if o.UID == pod.UID && o.Name == pod.Name && ptr.Deref(o.Controller, false) {
			return true
		}
	}
	return false
}

// filterExtended returns the node's variant of the extended-resource
// claim: nil when the node's device plugins provide every resource (or
// there is no such claim). A claim left by an earlier attempt is refused,
// so that PostFilter deletes it; a request that neither the node nor any
// DeviceClass provides makes the pod not fit.
func (pl *DynamicResources) filterExtended(s *stateData, pod *v1.Pod, ni *framework.NodeInfo) (*nodeExtended, *framework.Status) {
	ext := s.extClaim()
	if ext == nil {
		return nil, nil
	}
	if ext.Spec.Devices.Requests != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonStaleExtendedClaim)
	}
	var need []v1.ResourceName
	for name, q := range s.ext.scalars {
		if q == 0 || !draextended.IsDRAExtendedResourceName(name) {
			continue
		}
		alloc, advertised := ni.Allocatable.ScalarResources[name]
		switch {
		case alloc == 0 && pl.dra.Backed(name):
			need = append(need, name)
		case !advertised:
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, reasonCannotFitResource)
		}
	}
	if len(need) == 0 || ext.Status.Allocation != nil {
		return nil, nil
	}
	slices.Sort(need)
	c := ext.DeepCopy()
	var mappings []v1.ContainerExtendedResourceRequest
	c.Spec.Devices.Requests, mappings = pl.extendedRequests(pod, need)
	return &nodeExtended{claim: c, mappings: mappings}, nil
}

// extendedRequests builds the device requests for the resources in need
// (sorted) and the mapping from each container's resource to the request
// that serves it. Regular containers and sidecars each get a request of
// their own. A plain init container runs before them and alone: it first
// reuses the requests of long-lived containers after it, and of what it
// still lacks only the largest such remainder among init containers is
// requested, once, for all of them.
func (pl *DynamicResources) extendedRequests(pod *v1.Pod, need []v1.ResourceName) ([]resourceapi.DeviceRequest, []v1.ContainerExtendedResourceRequest) {
	containers := make([]*v1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		containers = append(containers, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		containers = append(containers, &pod.Spec.Containers[i])
	}
	shortLived := func(i int) bool {
		return i < len(pod.Spec.InitContainers) && ptr.Deref(containers[i].RestartPolicy, "") != v1.ContainerRestartPolicyAlways
	}
	var requests []resourceapi.DeviceRequest
	var mappings []v1.ContainerExtendedResourceRequest
	for _, name := range need {
		class := pl.dra.DeviceClass(name)
		if class == nil {
			continue
		}
		long := make([]*resourceapi.DeviceRequest, len(containers))
		var longMaps, shortMaps []v1.ContainerExtendedResourceRequest
		for i, c := range containers {
			if shortLived(i) {
				continue
			}
			r, m := containerRequest(i, c, name, class.Name, nil)
			long[i] = r
			longMaps = append(longMaps, m...)
		}
		var largest *resourceapi.DeviceRequest
		shortNames := sets.New[string]()
		for i, c := range containers {
			if !shortLived(i) {
				continue
			}
			r, m := containerRequest(i, c, name, class.Name, long[i:])
			if r != nil {
				shortNames.Insert(r.Name)
				if largest == nil || r.Exactly.Count > largest.Exactly.Count {
					largest = r
				}
			}
			shortMaps = append(shortMaps, m...)
		}
		if largest != nil {
			for i := range shortMaps {
				if shortNames.Has(shortMaps[i].RequestName) {
					shortMaps[i].RequestName = largest.Name
				}
			}
			requests = append(requests, *largest)
		}
		for _, r := range long {
			if r != nil {
				requests = append(requests, *r)
			}
		}
		mappings = append(mappings, longMaps...)
		mappings = append(mappings, shortMaps...)
	}
	slices.SortFunc(requests, func(a, b resourceapi.DeviceRequest) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return requests, mappings
}

// containerRequest returns the device request container i (in init
// containers followed by containers) needs for resource name, after using
// what the reusable requests provide, and its mappings. The request is
// named container-<i>-request-<j>, j being the resource's place among the
// container's requested resources in name order.
func containerRequest(i int, c *v1.Container, name v1.ResourceName, class string, reusable []*resourceapi.DeviceRequest) (*resourceapi.DeviceRequest, []v1.ContainerExtendedResourceRequest) {
	q, ok := c.Resources.Requests[name]
	if !ok {
		return nil, nil
	}
	want, ok := q.AsInt64()
	if !ok || want == 0 {
		return nil, nil
	}
	var maps []v1.ContainerExtendedResourceRequest
	var have int64
	for _, r := range reusable {
		if r == nil {
			continue
		}
		have += r.Exactly.Count
		maps = append(maps, v1.ContainerExtendedResourceRequest{ContainerName: c.Name, ResourceName: string(name), RequestName: r.Name})
		if have >= want {
			return nil, maps
		}
	}
	place := 0
	for other := range c.Resources.Requests {
		if other < name {
			place++
		}
	}
	r := &resourceapi.DeviceRequest{
		Name: fmt.Sprintf("container-%d-request-%d", i, place),
		Exactly: &resourceapi.ExactDeviceRequest{
			DeviceClassName: class,
			AllocationMode:  resourceapi.DeviceAllocationModeExactCount,
			Count:           want - have,
		},
	}
	maps = append(maps, v1.ContainerExtendedResourceRequest{ContainerName: c.Name, ResourceName: string(name), RequestName: r.Name})
	return r, maps
}

// createExtendedClaim creates the node's extended-resource claim in the
// API, without allocation (PreBind writes that next).
func (pl *DynamicResources) createExtendedClaim(ctx context.Context, ne *nodeExtended) (*resourceapi.ResourceClaim, error) {
	c := ne.claim.DeepCopy()
	c.Name, c.UID = "", ""
	c.Status = resourceapi.ResourceClaimStatus{}
	created, err := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace).Create(ctx, c, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create claim for extended resources: %w", err)
	}
	return created, nil
}

// recordExtendedClaim writes the claim's name and the container mappings
// to the pod's status.extendedResourceClaimStatus.
func (pl *DynamicResources) recordExtendedClaim(ctx context.Context, pod *v1.Pod, claim *resourceapi.ResourceClaim, ne *nodeExtended) error {
	if len(ne.mappings) == 0 {
		return fmt.Errorf("no request mappings for the extended resource claim of pod %s", klog.KObj(pod))
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"extendedResourceClaimStatus": &v1.PodExtendedResourceClaimStatus{
			RequestMappings:   ne.mappings,
			ResourceClaimName: claim.Name,
		},
	}})
	if err != nil {
		return err
	}
	err = retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
	}, func() error {
		_, err := pl.handle.ClientSet().CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	})
	if err != nil {
		return fmt.Errorf("record extended resource claim in pod %s status: %w", klog.KObj(pod), err)
	}
	return nil
}

// deleteClaim removes the delete-protection finalizer from a claim berth
// created and deletes it.
func (pl *DynamicResources) deleteClaim(ctx context.Context, c *resourceapi.ResourceClaim) error {
	client := pl.handle.ClientSet().ResourceV1().ResourceClaims(c.Namespace)
	_, err := pl.updateClaim(ctx, c, func(c *resourceapi.ResourceClaim) (*resourceapi.ResourceClaim, error) {
		i := slices.Index(c.Finalizers, resourceapi.Finalizer)
		if i < 0 {
			return c, nil
		}
		c.Finalizers = slices.Delete(c.Finalizers, i, i+1)
		if _, err := client.Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("remove finalizer from claim %s: %w", klog.KObj(c), err)
		}
		return c, nil
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := client.Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete claim %s: %w", klog.KObj(c), err)
	}
	klog.FromContext(ctx).V(5).Info("Deleted extended resource claim", "claim", klog.KObj(c))
	return nil
}
