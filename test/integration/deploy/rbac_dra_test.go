package deploy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
)

// testAllocatesDevices gives a pod a ResourceClaim for one card of
// devcluster's fake GPU driver and waits until berth has bound it: the
// claim's informers (list, watch), the finalizer (update resourceclaims)
// and the allocation and reservation (update resourceclaims/status and
// resourceclaims/binding) all go through the manifests' rules.
func testAllocatesDevices(t *testing.T, gpuNode string) {
	ctx := context.Background()
	env := testenv.Current()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"2"}}}`, testenv.GPUCountLabel)
	if _, err := env.Client.CoreV1().Nodes().Patch(ctx, gpuNode, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := env.Client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{FieldSelector: resourceapi.ResourceSliceSelectorNodeName + "=" + gpuNode})
		return err == nil && len(l.Items) == 1 && len(l.Items[0].Spec.Devices) == 2, nil
	})
	if err != nil {
		t.Fatalf("the fake DRA driver published no slice for %s: %v", gpuNode, err)
	}

	ns := env.CreateNamespace(t, "rbac-dra")
	claim := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{
			Requests: []resourceapi.DeviceRequest{{Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: testenv.GPUDeviceClass}}},
		}},
	}
	if _, err := env.Client.ResourceV1().ResourceClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer"},
		Spec: v1.PodSpec{
			SchedulerName:  "berth",
			Containers:     []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
			ResourceClaims: []v1.PodResourceClaim{{Name: "gpu", ResourceClaimName: &claim.Name}},
		},
	}
	created, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got *resourceapi.ResourceClaim
	var node string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := env.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		if got, err = env.Client.ResourceV1().ResourceClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		return node != "", nil
	})
	if err != nil {
		t.Fatalf("the pod with a GPU claim was not bound: %v (claim status %+v)", err, got.Status)
	}
	if node != gpuNode {
		t.Errorf("pod bound to %s, the only GPU node is %s", node, gpuNode)
	}
	if a := got.Status.Allocation; a == nil || len(a.Devices.Results) != 1 || a.Devices.Results[0].Driver != testenv.GPUDriver || a.Devices.Results[0].Pool != gpuNode {
		t.Errorf("claim allocation %+v, want one %s device of pool %s", a, testenv.GPUDriver, gpuNode)
	}
	if r := got.Status.ReservedFor; len(r) != 1 || r[0].UID != created.UID {
		t.Errorf("claim reservedFor %+v, want the pod", r)
	}
	if !slices.Contains(got.Finalizers, resourceapi.Finalizer) {
		t.Errorf("claim finalizers %v lack %s", got.Finalizers, resourceapi.Finalizer)
	}
}

// testExtendedResource gives a pod a plain request for an extended
// resource that a DeviceClass backs with the fake driver's cards and no
// node advertises, and waits until berth has bound it: PreBind creates the
// pod's extended-resource claim (create resourceclaims), allocates and
// reserves it, and records it in the pod's status (patch pods/status).
// Run after testAllocatesDevices, which leaves one card free.
func testExtendedResource(t *testing.T, gpuNode string) {
	ctx := context.Background()
	env := testenv.Current()
	const resource = "example.com/berth-rbac-gpu"
	dc := &resourceapi.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-extended-gpu"},
		Spec: resourceapi.DeviceClassSpec{
			Selectors:            []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: fmt.Sprintf("device.driver == %q", testenv.GPUDriver)}}},
			ExtendedResourceName: ptr.To(resource),
		},
	}
	if _, err := env.Client.ResourceV1().DeviceClasses().Create(ctx, dc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.ResourceV1().DeviceClasses().Delete(context.Background(), dc.Name, metav1.DeleteOptions{})
	})
	ns := env.CreateNamespace(t, "rbac-dra-extended")
	one := apiresource.MustParse("1")
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer"},
		Spec: v1.PodSpec{
			SchedulerName: "berth",
			Containers: []v1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{resource: one}, Limits: v1.ResourceList{resource: one},
			}}},
		},
	}
	created, err := env.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got *v1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err = env.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && got.Spec.NodeName != "", err
	})
	if err != nil {
		t.Fatalf("the pod requesting %s was not bound: %v (status %+v)", resource, err, got.Status)
	}
	if got.Spec.NodeName != gpuNode {
		t.Errorf("pod bound to %s, the only GPU node is %s", got.Spec.NodeName, gpuNode)
	}
	st := got.Status.ExtendedResourceClaimStatus
	if st == nil || len(st.RequestMappings) != 1 || st.RequestMappings[0].ContainerName != "c" || st.RequestMappings[0].ResourceName != resource {
		t.Fatalf("pod status.extendedResourceClaimStatus = %+v", st)
	}
	claim, err := env.Client.ResourceV1().ResourceClaims(ns).Get(ctx, st.ResourceClaimName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Annotations[resourceapi.ExtendedResourceClaimAnnotation] != "true" {
		t.Errorf("claim annotations %v", claim.Annotations)
	}
	if o := metav1.GetControllerOf(claim); o == nil || o.UID != created.UID {
		t.Errorf("claim controller %+v, want the pod", o)
	}
	if a := claim.Status.Allocation; a == nil || len(a.Devices.Results) != 1 || a.Devices.Results[0].Pool != gpuNode {
		t.Errorf("claim allocation %+v, want one device of pool %s", a, gpuNode)
	}
	if r := claim.Status.ReservedFor; len(r) != 1 || r[0].UID != created.UID {
		t.Errorf("claim reservedFor %+v, want the pod", r)
	}
}
