package dynamicresources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const extGPU = "example.com/gpu"

// extClass backs extGPU with the driver's devices.
func extClass() *resourceapi.DeviceClass {
	dc := deviceClass(class)
	dc.Spec.ExtendedResourceName = ptr.To(extGPU)
	return dc
}

// extNodes: n1 has two DRA GPUs, n2's device plugin advertises one GPU,
// n3 has neither.
func extNodes() []*v1.Node {
	n2 := node("n2")
	n2.Status.Allocatable = v1.ResourceList{extGPU: *resource.NewQuantity(1, resource.DecimalSI)}
	return []*v1.Node{node("n1"), n2, node("n3")}
}

// newExtFixture is newFixture whose fake client names generated objects,
// as the API server does.
func newExtFixture(t *testing.T, nodes []*v1.Node, objs ...runtime.Object) *fixture {
	f := newFixture(t, nodes, objs...)
	f.h.Client.(*fake.Clientset).PrependReactor("create", "resourceclaims", func(a clienttesting.Action) (bool, runtime.Object, error) {
		c := a.(clienttesting.CreateAction).GetObject().(*resourceapi.ResourceClaim)
		if c.Name == "" && c.GenerateName != "" {
			c.Name = c.GenerateName + "x7k2p"
		}
		return false, nil, nil
	})
	return f
}

func TestExtendedResourceFilter(t *testing.T) {
	f := newExtFixture(t, extNodes(), extClass(), slice("n1", 2, "a100"))
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		pre  framework.Code
		want map[string]framework.Code
		why  map[string]string
	}{
		{
			name: "no backed resource",
			pod:  st.MakePod().Name("plain").Req("example.com/other", "1").Obj(),
			pre:  framework.Skip,
		},
		{
			name: "DRA devices or the device plugin",
			pod:  st.MakePod().Name("p").Req(extGPU, "1").Obj(),
			want: map[string]framework.Code{"n1": framework.Success, "n2": framework.Success, "n3": framework.UnschedulableAndUnresolvable},
		},
		{
			name: "implicit class name",
			pod:  st.MakePod().Name("p").Req(resourceapi.ResourceDeviceClassPrefix+class, "2").Obj(),
			want: map[string]framework.Code{"n1": framework.Success, "n2": framework.UnschedulableAndUnresolvable, "n3": framework.UnschedulableAndUnresolvable},
		},
		{
			name: "more than the node's devices",
			pod:  st.MakePod().Name("p").Req(extGPU, "3").Obj(),
			// n2's device plugin is NodeResourcesFit's business.
			want: map[string]framework.Code{"n1": framework.UnschedulableAndUnresolvable, "n2": framework.Success, "n3": framework.UnschedulableAndUnresolvable},
		},
		{
			name: "a resource nothing provides",
			pod:  st.MakePod().Name("p").Req(extGPU, "1", "example.com/other", "1").Obj(),
			want: map[string]framework.Code{"n1": framework.UnschedulableAndUnresolvable, "n2": framework.UnschedulableAndUnresolvable, "n3": framework.UnschedulableAndUnresolvable},
			why:  map[string]string{"n1": reasonCannotFitResource, "n2": reasonCannotFitResource},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, pre, got := f.filter(tc.pod)
			if pre.Code() != tc.pre {
				t.Fatalf("PreFilter = %v, want %v", pre, tc.pre)
			}
			for n, want := range tc.want {
				if got[n].Code() != want {
					t.Errorf("%s: Filter = %v, want %v", n, got[n], want)
				}
				if why := tc.why[n]; why != "" && got[n].Message() != why {
					t.Errorf("%s: reason %q, want %q", n, got[n].Message(), why)
				}
			}
		})
	}
}

// PreBind creates the pod's extended-resource claim with the allocation
// Filter found, reserves it for the pod and records it in the pod's
// status; Unreserve deletes it again.
func TestExtendedResourceClaimLifecycle(t *testing.T) {
	pod := st.MakePod().Name("p").Req(extGPU, "2").Obj()
	f := newExtFixture(t, extNodes(), extClass(), slice("n1", 2, "a100"), pod)
	cs, _, v := f.filter(pod)
	if !v["n1"].IsSuccess() {
		t.Fatal(v)
	}
	if st := f.pl.Reserve(f.ctx, cs, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if f.pl.claims.InFlight() != 1 {
		t.Fatalf("in flight: %d, want 1", f.pl.claims.InFlight())
	}
	if st := f.pl.PreBind(f.ctx, cs, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if f.pl.claims.InFlight() != 0 {
		t.Fatalf("in flight after PreBind: %d", f.pl.claims.InFlight())
	}
	claims, err := f.h.Client.ResourceV1().ResourceClaims(ns).List(f.ctx, metav1.ListOptions{})
	if err != nil || len(claims.Items) != 1 {
		t.Fatalf("claims: %v, %v", claims, err)
	}
	c := claims.Items[0]
	if c.GenerateName != "p-extended-resources-" || c.Annotations[resourceapi.ExtendedResourceClaimAnnotation] != "true" || !isExtendedClaimFor(pod, &c) {
		t.Errorf("claim metadata: %+v", c.ObjectMeta)
	}
	wantReqs := []resourceapi.DeviceRequest{{Name: "container-0-request-0", Exactly: &resourceapi.ExactDeviceRequest{
		DeviceClassName: class, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 2,
	}}}
	if diff := cmp.Diff(wantReqs, c.Spec.Devices.Requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if c.Status.Allocation == nil || len(c.Status.Allocation.Devices.Results) != 2 {
		t.Errorf("allocation: %+v", c.Status.Allocation)
	}
	if len(c.Status.ReservedFor) != 1 || c.Status.ReservedFor[0].UID != pod.UID {
		t.Errorf("reservedFor: %+v", c.Status.ReservedFor)
	}
	got, err := f.h.Client.CoreV1().Pods(ns).Get(f.ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := &v1.PodExtendedResourceClaimStatus{
		ResourceClaimName: c.Name,
		RequestMappings:   []v1.ContainerExtendedResourceRequest{{ContainerName: "c", ResourceName: extGPU, RequestName: "container-0-request-0"}},
	}
	if diff := cmp.Diff(want, got.Status.ExtendedResourceClaimStatus); diff != "" {
		t.Errorf("pod status (-want +got):\n%s", diff)
	}
	// The devices are taken for the next pod.
	if _, _, v := f.filter(st.MakePod().Name("q").Req(extGPU, "1").Obj()); v["n1"].IsSuccess() {
		t.Error("another pod got the devices PreBind wrote")
	}

	f.pl.Unreserve(f.ctx, cs, pod, "n1")
	claims, err = f.h.Client.ResourceV1().ResourceClaims(ns).List(f.ctx, metav1.ListOptions{})
	if err != nil || len(claims.Items) != 0 {
		t.Fatalf("Unreserve left claims: %v, %v", claims.Items, err)
	}
}

// On a node whose device plugin provides the resource, nothing is
// allocated and no claim is created.
func TestExtendedResourceByDevicePlugin(t *testing.T) {
	pod := st.MakePod().Name("p").Req(extGPU, "1").Obj()
	f := newExtFixture(t, extNodes(), extClass(), slice("n1", 2, "a100"), pod)
	cs, _, v := f.filter(pod)
	if !v["n2"].IsSuccess() {
		t.Fatal(v)
	}
	if st := f.pl.Reserve(f.ctx, cs, pod, "n2"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := f.pl.PreBind(f.ctx, cs, pod, "n2"); !st.IsSuccess() {
		t.Fatal(st)
	}
	claims, _ := f.h.Client.ResourceV1().ResourceClaims(ns).List(f.ctx, metav1.ListOptions{})
	if len(claims.Items) != 0 || f.pl.claims.InFlight() != 0 {
		t.Fatalf("claims %v, in flight %d", claims.Items, f.pl.claims.InFlight())
	}
}

// A claim an earlier attempt created is refused and PostFilter deletes it,
// so that the next attempt starts afresh.
func TestExtendedResourceStaleClaim(t *testing.T) {
	pod := st.MakePod().Name("p").Req(extGPU, "1").Obj()
	stale := claim("p-extended-resources-old", exactly("container-0-request-0", class, 1))
	stale.Annotations = map[string]string{resourceapi.ExtendedResourceClaimAnnotation: "true"}
	stale.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true)}}
	f := newExtFixture(t, extNodes(), extClass(), slice("n1", 2, "a100"), pod, stale)
	cs, pre, v := f.filter(pod)
	if !pre.IsSuccess() {
		t.Fatal(pre)
	}
	for n, s := range v {
		if s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != reasonStaleExtendedClaim {
			t.Errorf("%s: %v, want %q", n, s, reasonStaleExtendedClaim)
		}
	}
	if _, st := f.pl.PostFilter(f.ctx, cs, pod, nil); st.Message() != "deletion of ResourceClaim completed" {
		t.Fatalf("PostFilter = %v", st)
	}
	if _, err := f.h.Client.ResourceV1().ResourceClaims(ns).Get(f.ctx, stale.Name, metav1.GetOptions{}); err == nil {
		t.Fatal("stale claim not deleted")
	}
}

// Requests and mappings: regular containers and sidecars get their own
// requests; plain init containers reuse what later long-lived containers
// request and share one request for the rest, the largest.
func TestExtendedRequests(t *testing.T) {
	f := newExtFixture(t, extNodes(), extClass())
	pod := st.MakePod().Name("p").
		InitReq(extGPU, "3").                       // 0: reuses 1 (sidecar) + 1 (c), needs 1 more
		SidecarReq(extGPU, "1", "cpu", "1").        // 1: own request, after cpu in name order
		InitReq(extGPU, "4", "example.com/a", "1"). // 2: reuses c, needs 3 more: the largest
		Req(extGPU, "1").Obj()                      // 3 ("c")
	reqs, maps := f.pl.extendedRequests(pod, []v1.ResourceName{extGPU})
	req := func(name string, n int64) resourceapi.DeviceRequest {
		return resourceapi.DeviceRequest{Name: name, Exactly: &resourceapi.ExactDeviceRequest{
			DeviceClassName: class, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: n,
		}}
	}
	wantReqs := []resourceapi.DeviceRequest{req("container-1-request-1", 1), req("container-2-request-1", 3), req("container-3-request-0", 1)}
	if diff := cmp.Diff(wantReqs, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	m := func(c, r string) v1.ContainerExtendedResourceRequest {
		return v1.ContainerExtendedResourceRequest{ContainerName: c, ResourceName: extGPU, RequestName: r}
	}
	wantMaps := []v1.ContainerExtendedResourceRequest{
		m("sidecar1", "container-1-request-1"),
		m("c", "container-3-request-0"),
		m("init0", "container-1-request-1"), m("init0", "container-3-request-0"), m("init0", "container-2-request-1"),
		m("init2", "container-3-request-0"), m("init2", "container-2-request-1"),
	}
	if diff := cmp.Diff(wantMaps, maps); diff != "" {
		t.Errorf("mappings (-want +got):\n%s", diff)
	}
}
