package dynamicresources

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

const (
	driver = "gpu.example.com"
	class  = "gpu"
	ns     = "default"
)

func node(name string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
}

// slice publishes n GPUs (gpu-0 … gpu-n-1) of the given model on node.
func slice(nodeName string, n int, model string) *resourceapi.ResourceSlice {
	s := &resourceapi.ResourceSlice{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName + "-" + driver},
		Spec: resourceapi.ResourceSliceSpec{
			Driver:   driver,
			NodeName: ptr.To(nodeName),
			Pool:     resourceapi.ResourcePool{Name: nodeName, ResourceSliceCount: 1},
		},
	}
	for i := range n {
		s.Spec.Devices = append(s.Spec.Devices, resourceapi.Device{
			Name: "gpu-" + string(rune('0'+i)),
			Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{
				"model": {StringValue: ptr.To(model)},
			},
		})
	}
	return s
}

func deviceClass(name string) *resourceapi.DeviceClass {
	return &resourceapi.DeviceClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: resourceapi.DeviceClassSpec{Selectors: []resourceapi.DeviceSelector{{
			CEL: &resourceapi.CELDeviceSelector{Expression: `device.driver == "` + driver + `"`},
		}}},
	}
}

func claim(name string, reqs ...resourceapi.DeviceRequest) *resourceapi.ResourceClaim {
	return &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec:       resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: reqs}},
	}
}

func exactly(name, cls string, count int64, selectors ...string) resourceapi.DeviceRequest {
	r := resourceapi.DeviceRequest{Name: name, Exactly: &resourceapi.ExactDeviceRequest{
		DeviceClassName: cls, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: count,
	}}
	for _, s := range selectors {
		r.Exactly.Selectors = append(r.Exactly.Selectors, resourceapi.DeviceSelector{CEL: &resourceapi.CELDeviceSelector{Expression: s}})
	}
	return r
}

func podWith(name string, claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("pod-" + name)}}
	for _, c := range claims {
		p.Spec.ResourceClaims = append(p.Spec.ResourceClaims, v1.PodResourceClaim{Name: c, ResourceClaimName: ptr.To(c)})
	}
	return p
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	pl    *DynamicResources
	h     *st.Handle
	nodes []*framework.NodeInfo
}

func newFixture(t *testing.T, nodes []*v1.Node, objs ...runtime.Object) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	t.Cleanup(cancel)
	snap := st.NewSnapshot(nil, nodes)
	h := st.NewHandle(snap, objs...)
	p, err := New(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	h.Informers.Start(ctx.Done())
	h.Informers.WaitForCacheSync(ctx.Done())
	pl := p.(*DynamicResources)
	if !cache.WaitForCacheSync(ctx.Done(), pl.HasSynced) {
		t.Fatal("trackers did not sync")
	}
	return &fixture{t: t, ctx: ctx, pl: pl, h: h, nodes: snap.List()}
}

// filter runs PreFilter and Filter on every node and returns the state and
// the verdict per node.
func (f *fixture) filter(pod *v1.Pod) (*framework.CycleState, *framework.Status, map[string]*framework.Status) {
	cs := framework.NewCycleState()
	_, st := f.pl.PreFilter(f.ctx, cs, pod, f.nodes)
	if !st.IsSuccess() {
		return cs, st, nil
	}
	out := map[string]*framework.Status{}
	for _, ni := range f.nodes {
		out[ni.Node().Name] = f.pl.Filter(f.ctx, cs, pod, ni)
	}
	return cs, st, out
}

// waitFor polls until cond holds (informers deliver asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPreEnqueueAndPreFilterRejections(t *testing.T) {
	tmplPod := podWith("tmpl")
	tmplPod.Spec.ResourceClaims = []v1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: ptr.To("one-gpu")}}
	f := newFixture(t, []*v1.Node{node("n1")},
		deviceClass(class), slice("n1", 1, "a100"),
		claim("ok", exactly("gpu", class, 1)),
		claim("noclass", exactly("gpu", "missing", 1)),
	)
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		pre  string // PreEnqueue reason, "" for success
		pf   string // PreFilter reason when PreEnqueue passes
		code framework.Code
	}{
		{name: "no claims", pod: podWith("plain"), code: framework.Skip},
		{name: "claim missing", pod: podWith("p", "absent"), pre: `could not find ResourceClaim "default/absent"`},
		{name: "template claim not generated yet", pod: tmplPod, pre: `pod "default/tmpl": ResourceClaim not created yet`},
		{name: "class missing", pod: podWith("p", "noclass"), pf: "request gpu: device class missing does not exist", code: framework.UnschedulableAndUnresolvable},
		{name: "fine", pod: podWith("p", "ok"), code: framework.Success},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := f.pl.PreEnqueue(f.ctx, tc.pod)
			if tc.pre != "" {
				if st.IsSuccess() || st.Code() != framework.UnschedulableAndUnresolvable || !strings.Contains(st.Message(), tc.pre) {
					t.Fatalf("PreEnqueue = %v, want UnschedulableAndUnresolvable %q", st, tc.pre)
				}
				return
			}
			if !st.IsSuccess() {
				t.Fatalf("PreEnqueue = %v", st)
			}
			_, st = f.pl.PreFilter(f.ctx, framework.NewCycleState(), tc.pod, f.nodes)
			if st.Code() != tc.code || (tc.pf != "" && st.Message() != tc.pf) {
				t.Fatalf("PreFilter = %v, want %v %q", st, tc.code, tc.pf)
			}
		})
	}
}

// Two pods in flight never get the same device: the first pod's Reserve
// takes the node's only GPU, the second fits nowhere until the first is
// unreserved.
func TestReserveKeepsDeviceFromOthers(t *testing.T) {
	f := newFixture(t, []*v1.Node{node("n1"), node("n2")},
		deviceClass(class), slice("n1", 1, "a100"),
		claim("c1", exactly("gpu", class, 1)), claim("c2", exactly("gpu", class, 1)),
	)
	p1, p2 := podWith("p1", "c1"), podWith("p2", "c2")
	cs1, st, verdicts := f.filter(p1)
	if !st.IsSuccess() || !verdicts["n1"].IsSuccess() || verdicts["n2"].IsSuccess() {
		t.Fatalf("p1: PreFilter %v, Filter %v", st, verdicts)
	}
	if verdicts["n2"].Code() != framework.UnschedulableAndUnresolvable {
		t.Fatalf("n2 without devices: %v", verdicts["n2"])
	}
	if st := f.pl.Reserve(f.ctx, cs1, p1, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if _, _, v := f.filter(p2); v["n1"].IsSuccess() {
		t.Fatal("p2 got the GPU that p1 holds in flight")
	}
	f.pl.Unreserve(f.ctx, cs1, p1, "n1")
	if _, _, v := f.filter(p2); !v["n1"].IsSuccess() {
		t.Fatalf("after Unreserve p2 should fit n1: %v", v["n1"])
	}
}

// PreBind writes the allocation and the reservation; the device stays taken
// for the next cycle before and after the informer delivers the claim.
func TestPreBindWritesAllocation(t *testing.T) {
	f := newFixture(t, []*v1.Node{node("n1")},
		deviceClass(class), slice("n1", 1, "a100"),
		claim("c1", exactly("gpu", class, 1)), claim("c2", exactly("gpu", class, 1)),
	)
	p1 := podWith("p1", "c1")
	cs, _, v := f.filter(p1)
	if !v["n1"].IsSuccess() {
		t.Fatal(v)
	}
	if st := f.pl.Reserve(f.ctx, cs, p1, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := f.pl.PreBind(f.ctx, cs, p1, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	got, err := f.h.Client.ResourceV1().ResourceClaims(ns).Get(f.ctx, "c1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Allocation == nil || len(got.Status.Allocation.Devices.Results) != 1 || got.Status.Allocation.Devices.Results[0].Device != "gpu-0" {
		t.Fatalf("allocation not written: %+v", got.Status.Allocation)
	}
	if len(got.Status.ReservedFor) != 1 || got.Status.ReservedFor[0].UID != p1.UID {
		t.Fatalf("reservedFor = %+v", got.Status.ReservedFor)
	}
	if len(got.Finalizers) != 1 || got.Finalizers[0] != resourceapi.Finalizer {
		t.Fatalf("finalizers = %v", got.Finalizers)
	}
	if n := f.pl.claims.InFlight(); n != 0 {
		t.Fatalf("%d allocations left in flight after PreBind", n)
	}
	if _, _, v := f.filter(podWith("p2", "c2")); v["n1"].IsSuccess() {
		t.Fatal("p2 got the GPU written for p1")
	}
	waitFor(t, "informer to deliver the allocation", func() bool {
		c, _, _ := f.pl.claims.store.GetByKey(ns + "/c1")
		return c != nil && c.(*resourceapi.ResourceClaim).Status.Allocation != nil
	})
	if _, _, v := f.filter(podWith("p2", "c2")); v["n1"].IsSuccess() {
		t.Fatal("p2 got the GPU after the informer caught up")
	}
	// p1's own claim is allocated and reserved for it: PreFilter passes
	// and Filter checks reachability only.
	if _, st, v := f.filter(p1); !st.IsSuccess() || !v["n1"].IsSuccess() {
		t.Fatalf("p1 again: %v %v", st, v)
	}
}

// An allocated claim pins the pod to the nodes its allocation selects;
// PostFilter deallocates it when nobody else uses it.
func TestAllocatedClaimNodeSelectorAndPostFilter(t *testing.T) {
	c := claim("c1", exactly("gpu", class, 1))
	c.Status.Allocation = &resourceapi.AllocationResult{
		Devices: resourceapi.DeviceAllocationResult{Results: []resourceapi.DeviceRequestAllocationResult{{Request: "gpu", Driver: driver, Pool: "n1", Device: "gpu-0"}}},
		NodeSelector: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{
			Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"n1"}}}}}},
	}
	f := newFixture(t, []*v1.Node{node("n1"), node("n2")}, deviceClass(class), slice("n1", 1, "a100"), c)
	p := podWith("p", "c1")
	cs, st, v := f.filter(p)
	if !st.IsSuccess() || !v["n1"].IsSuccess() || v["n2"].Message() != reasonNotAvailable {
		t.Fatalf("PreFilter %v, Filter %v", st, v)
	}
	_, pf := f.pl.PostFilter(f.ctx, cs, p, nil)
	if pf.Message() != "deallocation of ResourceClaim completed" {
		t.Fatalf("PostFilter = %v", pf)
	}
	got, _ := f.h.Client.ResourceV1().ResourceClaims(ns).Get(f.ctx, "c1", metav1.GetOptions{})
	if got.Status.Allocation != nil {
		t.Fatal("claim still allocated")
	}
}

// Score ranks nodes by which alternative of a prioritized list they gave.
func TestScorePrioritizedList(t *testing.T) {
	req := resourceapi.DeviceRequest{Name: "gpu", FirstAvailable: []resourceapi.DeviceSubRequest{
		{Name: "big", DeviceClassName: class, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 1,
			Selectors: []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{Expression: `device.attributes["` + driver + `"].model == "h100"`}}}},
		{Name: "small", DeviceClassName: class, AllocationMode: resourceapi.DeviceAllocationModeExactCount, Count: 1},
	}}
	f := newFixture(t, []*v1.Node{node("n1"), node("n2")},
		deviceClass(class), slice("n1", 1, "h100"), slice("n2", 1, "t4"), claim("c", req))
	p := podWith("p", "c")
	cs, _, v := f.filter(p)
	if !v["n1"].IsSuccess() || !v["n2"].IsSuccess() {
		t.Fatal(v)
	}
	var scores framework.NodeScoreList
	for _, ni := range f.nodes {
		s, st := f.pl.Score(f.ctx, cs, p, ni)
		if !st.IsSuccess() {
			t.Fatal(st)
		}
		scores = append(scores, framework.NodeScore{Name: ni.Node().Name, Score: s})
	}
	f.pl.NormalizeScore(f.ctx, cs, p, scores)
	if scores[0].Score != framework.MaxNodeScore || scores[1].Score >= scores[0].Score {
		t.Fatalf("scores = %v, want n1 (h100, first choice) on top", scores)
	}
}

func TestExplainFailure(t *testing.T) {
	busy := claim("busy", exactly("gpu", class, 1))
	busy.Status.Allocation = &resourceapi.AllocationResult{Devices: resourceapi.DeviceAllocationResult{
		Results: []resourceapi.DeviceRequestAllocationResult{{Request: "gpu", Driver: driver, Pool: "n1", Device: "gpu-0"}}}}
	f := newFixture(t, []*v1.Node{node("n1")}, deviceClass(class), slice("n1", 1, "a100"), busy,
		claim("taken", exactly("gpu", class, 1)),
		claim("h100", exactly("gpu", class, 1, `device.attributes["`+driver+`"].model == "h100"`)))
	cs, _, v := f.filter(podWith("p", "taken"))
	if v["n1"].IsSuccess() {
		t.Fatal("fits")
	}
	if got := f.pl.ExplainFailure(cs, podWith("p", "taken")); !strings.Contains(got, `claim "taken=taken"`) || !strings.Contains(got, "every matching device is allocated") {
		t.Fatalf("explain = %q", got)
	}
	cs, _, _ = f.filter(podWith("q", "h100"))
	if got := f.pl.ExplainFailure(cs, podWith("q", "h100")); !strings.Contains(got, "no node has devices that satisfy it") || !strings.Contains(got, "1 device(s) of class gpu with 1 selector(s)") {
		t.Fatalf("explain = %q", got)
	}
}

func TestClaimChangeHints(t *testing.T) {
	f := newFixture(t, nil, claim("mine"), claim("other"))
	p := podWith("p", "mine")
	mine, other := claim("mine"), claim("other")
	allocated := other.DeepCopy()
	allocated.Status.Allocation = &resourceapi.AllocationResult{}
	reserved := mine.DeepCopy()
	reserved.Status.ReservedFor = []resourceapi.ResourceClaimConsumerReference{{Resource: "pods", Name: "x", UID: "x"}}
	for _, tc := range []struct {
		name     string
		old, new interface{}
		want     framework.QueueingHint
	}{
		{"own claim created", nil, mine, framework.Queue},
		{"other claim created", nil, other, framework.QueueSkip},
		{"other claim deallocated", allocated, other, framework.Queue},
		{"allocated claim deleted", allocated, nil, framework.Queue},
		{"unallocated claim deleted", other, nil, framework.QueueSkip},
		{"own claim status changed", mine, reserved, framework.Queue},
		{"own claim unchanged status", mine, mine.DeepCopy(), framework.QueueSkip},
		{"final state unknown", cache.DeletedFinalStateUnknown{Obj: other}, nil, framework.Queue},
	} {
		got, err := f.pl.isSchedulableAfterClaimChange(klog.Background(), p, tc.old, tc.new)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestArgs(t *testing.T) {
	a := &configv1.DynamicResourcesArgs{}
	SetDefaultArgs(a)
	if a.FilterTimeout.Duration != 10*time.Second || a.BindingTimeout.Duration != 10*time.Minute {
		t.Fatalf("defaults = %v %v", a.FilterTimeout, a.BindingTimeout)
	}
	a.FilterTimeout.Duration = -time.Second
	a.BindingTimeout.Duration = time.Millisecond
	errs := ValidateArgs(a, field.NewPath("args"))
	if len(errs) != 2 || errs[0].Field != "args.filterTimeout" || errs[1].Field != "args.bindingTimeout" {
		t.Fatalf("errs = %v", errs)
	}
}

func TestBindingConditions(t *testing.T) {
	c := claim("c")
	now := time.Now()
	c.Status.Allocation = &resourceapi.AllocationResult{
		AllocationTimestamp: &metav1.Time{Time: now.Add(-time.Minute)},
		Devices: resourceapi.DeviceAllocationResult{Results: []resourceapi.DeviceRequestAllocationResult{{
			Request: "gpu", Driver: driver, Pool: "n1", Device: "gpu-0",
			BindingConditions: []string{"Attached"}, BindingFailureConditions: []string{"Failed"},
		}}},
	}
	pl := &DynamicResources{bindingTimeout: 2 * time.Minute, now: func() time.Time { return now }}
	if ready, err := claimReadyForBinding(c); ready || err != nil {
		t.Fatalf("no device status yet: %v %v", ready, err)
	}
	if pl.bindingTimedOut(c) {
		t.Fatal("timed out too early")
	}
	c.Status.Devices = []resourceapi.AllocatedDeviceStatus{{Driver: driver, Pool: "n1", Device: "gpu-0",
		Conditions: []metav1.Condition{{Type: "Attached", Status: metav1.ConditionTrue}}}}
	if ready, err := claimReadyForBinding(c); !ready || err != nil {
		t.Fatalf("attached: %v %v", ready, err)
	}
	c.Status.Devices[0].Conditions = append(c.Status.Devices[0].Conditions, metav1.Condition{Type: "Failed", Status: metav1.ConditionTrue, Reason: "Boom"})
	if _, err := claimReadyForBinding(c); err == nil || !strings.Contains(err.Error(), "Boom") {
		t.Fatalf("failure condition: %v", err)
	}
	pl.now = func() time.Time { return now.Add(5 * time.Minute) }
	if !pl.bindingTimedOut(c) {
		t.Fatal("should have timed out")
	}
}
