package noderesources

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// newFitWithClasses builds the plugin over a factory holding classes and
// waits until it has seen them.
func newFitWithClasses(t *testing.T, classes ...*resourceapi.DeviceClass) *Fit {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := st.NewHandle(nil)
	for _, dc := range classes {
		if _, err := h.Client.ResourceV1().DeviceClasses().Create(ctx, dc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewFit(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	h.Informers.Start(ctx.Done())
	f := p.(*Fit)
	if !cache.WaitForCacheSync(ctx.Done(), f.HasSynced) {
		t.Fatal("DeviceClasses did not sync")
	}
	return f
}

func gpuClass(name, extended string) *resourceapi.DeviceClass {
	dc := &resourceapi.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1, 0))}}
	if extended != "" {
		dc.Spec.ExtendedResourceName = ptr.To(extended)
	}
	return dc
}

// A resource a DeviceClass backs is left to DynamicResources on nodes that
// do not advertise it, and checked as usual on nodes that do.
func TestFitLeavesDRABackedResources(t *testing.T) {
	withClass := newFitWithClasses(t, gpuClass("gpu", "example.com/gpu"))
	without := newFitWithClasses(t)
	nodeInfo := func(kv ...string) *framework.NodeInfo {
		ni := framework.NewNodeInfo()
		ni.SetNode(st.MakeNode().Name("n").Capacity(append([]string{"cpu", "4", "pods", "10"}, kv...)...).Obj())
		return ni
	}
	unresolvable := func(r ...string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, r...)
	}
	for _, tc := range []struct {
		name          string
		f             *Fit
		pod           *v1.Pod
		ni            *framework.NodeInfo
		want          *framework.Status
		wantSignature string
	}{
		{
			name: "no class: an ordinary extended resource", f: without,
			pod: st.MakePod().Name("p").Req("example.com/gpu", "1").Obj(), ni: nodeInfo(),
			want: unresolvable(InsufficientReason("example.com/gpu")),
		},
		{
			name: "explicit name, node without it", f: withClass,
			pod: st.MakePod().Name("p").Req("example.com/gpu", "1").Obj(), ni: nodeInfo(),
			wantSignature: "example.com/gpu=gpu",
		},
		{
			name: "explicit name, node advertising zero", f: withClass,
			pod: st.MakePod().Name("p").Req("example.com/gpu", "1").Obj(), ni: nodeInfo("example.com/gpu", "0"),
			wantSignature: "example.com/gpu=gpu",
		},
		{
			name: "implicit name", f: withClass,
			pod: st.MakePod().Name("p").Req(resourceapi.ResourceDeviceClassPrefix+"gpu", "1").Obj(), ni: nodeInfo(),
			wantSignature: resourceapi.ResourceDeviceClassPrefix + "gpu=gpu",
		},
		{
			name: "node's device plugin advertises too little", f: withClass,
			pod: st.MakePod().Name("p").Req("example.com/gpu", "2").Obj(), ni: nodeInfo("example.com/gpu", "1"),
			want:          unresolvable(InsufficientReason("example.com/gpu")),
			wantSignature: "example.com/gpu=gpu",
		},
		{
			name: "another resource is still checked", f: withClass,
			pod: st.MakePod().Name("p").Req("example.com/gpu", "1", "example.com/fpga", "1").Obj(), ni: nodeInfo(),
			want:          unresolvable(InsufficientReason("example.com/fpga")),
			wantSignature: "example.com/gpu=gpu",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runFilter(t, tc.f, tc.pod, tc.ni)
			if got.Code() != tc.want.Code() || !equalReasons(got.Reasons(), tc.want.Reasons()) {
				t.Errorf("Filter = %v, want %v", got, tc.want)
			}
			if sig := tc.f.SignatureFragment(tc.pod); sig != tc.wantSignature {
				t.Errorf("SignatureFragment = %q, want %q", sig, tc.wantSignature)
			}
		})
	}
}

func equalReasons(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFitDeviceClassHint(t *testing.T) {
	f := newFitWithClasses(t)
	pod := st.MakePod().Name("p").Req("example.com/gpu", "1").Obj()
	implicit := st.MakePod().Name("p").Req(resourceapi.ResourceDeviceClassPrefix+"gpu", "1").Obj()
	for _, tc := range []struct {
		name           string
		pod            *v1.Pod
		oldObj, newObj *resourceapi.DeviceClass
		want           framework.QueueingHint
	}{
		{name: "class backing the resource added", pod: pod, newObj: gpuClass("gpu", "example.com/gpu"), want: framework.Queue},
		{name: "class backing another resource added", pod: pod, newObj: gpuClass("gpu", "example.com/fpga"), want: framework.QueueSkip},
		{name: "class of the implicit name added", pod: implicit, newObj: gpuClass("gpu", ""), want: framework.Queue},
		{name: "class starts backing the resource", pod: pod, oldObj: gpuClass("gpu", ""), newObj: gpuClass("gpu", "example.com/gpu"), want: framework.Queue},
		{name: "unrelated class update", pod: pod, oldObj: gpuClass("gpu", "example.com/gpu"), newObj: gpuClass("gpu", "example.com/gpu"), want: framework.QueueSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var oldObj, newObj interface{}
			if tc.oldObj != nil {
				oldObj = tc.oldObj
			}
			if tc.newObj != nil {
				newObj = tc.newObj
			}
			got, err := f.hintAfterDeviceClassChange(klog.Background(), tc.pod, oldObj, newObj)
			if err != nil || got != tc.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	// A node without the resource now counts as able to take the pod.
	withClass := newFitWithClasses(t, gpuClass("gpu", "example.com/gpu"))
	n := st.MakeNode().Name("n").Capacity("cpu", "4", "pods", "10").Obj()
	if got, _ := withClass.hintAfterNodeChange(klog.Background(), pod, nil, n); got != framework.Queue {
		t.Errorf("node added without the DRA-backed resource: %v, want Queue", got)
	}
	if got, _ := f.hintAfterNodeChange(klog.Background(), pod, nil, n); got != framework.QueueSkip {
		t.Errorf("node added without the resource, no class: %v, want QueueSkip", got)
	}
}
