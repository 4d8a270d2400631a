package noderesources

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// nodeInfo places pods (whose spec.nodeName is set to node's name) on node.
func nodeInfo(t testing.TB, node *v1.Node, pods ...*v1.Pod) *framework.NodeInfo {
	t.Helper()
	for _, p := range pods {
		p.Spec.NodeName = node.Name
	}
	ni, err := st.NewSnapshot(pods, []*v1.Node{node}).Get(node.Name)
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

func newFit(t testing.TB, args *configv1.NodeResourcesFitArgs) *Fit {
	t.Helper()
	var obj runtime.Object // a nil *args must stay an untyped nil
	if args != nil {
		obj = args
	}
	p, err := NewFit(context.Background(), obj, st.NewHandle(nil))
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Fit)
}

func runFilter(t testing.TB, f *Fit, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	t.Helper()
	state := framework.NewCycleState()
	if _, s := f.PreFilter(context.Background(), state, pod, nil); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	return f.Filter(context.Background(), state, pod, ni)
}

func TestFitFilter(t *testing.T) {
	node := func() *v1.Node {
		return st.MakeNode().Name("n").Capacity("cpu", "4", "memory", "8Gi", "pods", "10",
			"ephemeral-storage", "10Gi", "example.com/foo", "4", "hugepages-2Mi", "1Gi").Obj()
	}
	used := func() *v1.Pod {
		return st.MakePod().Name("used").Req("cpu", "3", "memory", "6Gi", "example.com/foo", "3").Obj()
	}
	unsched := func(r ...string) *framework.Status { return framework.NewStatus(framework.Unschedulable, r...) }
	unresolvable := func(r ...string) *framework.Status {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, r...)
	}
	tests := []struct {
		name     string
		args     *configv1.NodeResourcesFitArgs
		pod      *v1.Pod
		node     *v1.Node
		existing []*v1.Pod
		want     *framework.Status
	}{
		{
			name: "pod without requests fits an empty node",
			pod:  st.MakePod().Name("p").Obj(),
			node: node(),
		},
		{
			name:     "fits in the room left",
			pod:      st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
		},
		{
			name:     "cpu short by a little",
			pod:      st.MakePod().Name("p").Req("cpu", "1001m").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			name:     "cpu and memory short, one reason each",
			pod:      st.MakePod().Name("p").Req("cpu", "2", "memory", "3Gi").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
			want:     unsched(ReasonInsufficientCPU, ReasonInsufficientMemory),
		},
		{
			name: "request above the node's whole allocatable is unresolvable",
			pod:  st.MakePod().Name("p").Req("cpu", "5").Obj(),
			node: node(),
			want: unresolvable(ReasonInsufficientCPU),
		},
		{
			name:     "one unresolvable resource makes the whole status unresolvable",
			pod:      st.MakePod().Name("p").Req("cpu", "5", "memory", "3Gi").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
			want:     unresolvable(ReasonInsufficientCPU, ReasonInsufficientMemory),
		},
		{
			// containers sum to 1 cpu, the init container needs 3: the pod needs 3.
			name:     "init container larger than the containers sets the request",
			pod:      st.MakePod().Name("p").Req("cpu", "500m").Req("cpu", "500m").InitReq("cpu", "3").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "1500m").Obj()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			name:     "init container larger than the containers fits exactly",
			pod:      st.MakePod().Name("p").Req("cpu", "500m").Req("cpu", "500m").InitReq("cpu", "3").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "1").Obj()},
		},
		{
			name:     "containers larger than the init container set the request",
			pod:      st.MakePod().Name("p").Req("cpu", "2").Req("cpu", "1").InitReq("cpu", "2").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "1001m").Obj()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			// sidecar 1 runs beside everything: containers 1+1 = 2; while the
			// later init container (3) runs, sidecar+init = 4. The pod needs 4.
			name:     "sidecar adds to the containers and to later init containers",
			pod:      st.MakePod().Name("p").SidecarReq("cpu", "1").InitReq("cpu", "3").Req("cpu", "1").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "1m").Obj()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			name: "sidecar pod fits a node with exactly its request free",
			pod:  st.MakePod().Name("p").SidecarReq("cpu", "1").InitReq("cpu", "3").Req("cpu", "1").Obj(),
			node: node(),
		},
		{
			name:     "overhead counts",
			pod:      st.MakePod().Name("p").Req("cpu", "500m").Overhead("cpu", "600m").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "3").Obj()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			name:     "pod-level requests replace the containers' sum",
			pod:      st.MakePod().Name("p").Req("cpu", "100m").PodLevelReq("cpu", "2").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("cpu", "3").Obj()},
			want:     unsched(ReasonInsufficientCPU),
		},
		{
			name:     "pod-level requests fit",
			pod:      st.MakePod().Name("p").Req("cpu", "100m").PodLevelReq("cpu", "1", "memory", "2Gi").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
		},
		{
			name:     "extended resource short",
			pod:      st.MakePod().Name("p").Req("example.com/foo", "2").Obj(),
			node:     node(),
			existing: []*v1.Pod{used()},
			want:     unsched("Insufficient example.com/foo"),
		},
		{
			name: "extended resource the node does not have is unresolvable",
			pod:  st.MakePod().Name("p").Req("other.io/bar", "1").Obj(),
			node: node(),
			want: unresolvable("Insufficient other.io/bar"),
		},
		{
			name: "ignored extended resource is not checked",
			args: &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"other.io/bar"}},
			pod:  st.MakePod().Name("p").Req("other.io/bar", "1").Obj(),
			node: node(),
		},
		{
			name: "ignored resource group is not checked, other groups are",
			args: &configv1.NodeResourcesFitArgs{IgnoredResourceGroups: []string{"other.io"}},
			pod:  st.MakePod().Name("p").Req("other.io/bar", "1", "example.com/foo", "5").Obj(),
			node: node(),
			want: unresolvable("Insufficient example.com/foo"),
		},
		{
			name: "hugepages checked like any scalar resource",
			pod:  st.MakePod().Name("p").Req("hugepages-2Mi", "2Gi").Obj(),
			node: node(),
			want: unresolvable("Insufficient hugepages-2Mi"),
		},
		{
			name: "hugepages are not extended resources and cannot be ignored",
			args: &configv1.NodeResourcesFitArgs{IgnoredResources: []string{"hugepages-2Mi"}},
			pod:  st.MakePod().Name("p").Req("hugepages-2Mi", "2Gi").Obj(),
			node: node(),
			want: unresolvable("Insufficient hugepages-2Mi"),
		},
		{
			name:     "ephemeral storage short",
			pod:      st.MakePod().Name("p").Req("ephemeral-storage", "6Gi").Obj(),
			node:     node(),
			existing: []*v1.Pod{st.MakePod().Name("u").Req("ephemeral-storage", "5Gi").Obj()},
			want:     unsched(ReasonInsufficientEphemeralStorage),
		},
		{
			name:     "too many pods even without requests",
			pod:      st.MakePod().Name("p").Obj(),
			node:     st.MakeNode().Name("n").Capacity("cpu", "4", "pods", "1").Obj(),
			existing: []*v1.Pod{st.MakePod().Name("u").Obj()},
			want:     unsched(ReasonTooManyPods),
		},
		{
			name: "node without a pods allocatable takes no pod",
			pod:  st.MakePod().Name("p").Obj(),
			node: st.MakeNode().Name("n").Capacity("cpu", "4").Obj(),
			want: unsched(ReasonTooManyPods),
		},
		{
			name: "every short resource listed in a fixed order",
			pod: st.MakePod().Name("p").Req("cpu", "2", "memory", "3Gi", "ephemeral-storage", "1Gi",
				"example.com/foo", "2", "example.com/bar", "1", "hugepages-2Mi", "1Gi").Obj(),
			node: st.MakeNode().Name("n").Capacity("cpu", "4", "memory", "8Gi", "pods", "1",
				"example.com/foo", "4").Obj(),
			existing: []*v1.Pod{used()},
			want: unresolvable(ReasonTooManyPods, ReasonInsufficientCPU, ReasonInsufficientMemory,
				ReasonInsufficientEphemeralStorage, "Insufficient example.com/bar", "Insufficient example.com/foo",
				"Insufficient hugepages-2Mi"),
		},
		{
			name: "zero scalar request is not checked",
			pod:  st.MakePod().Name("p").Req("other.io/bar", "0").Obj(),
			node: node(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFit(t, tc.args)
			got := runFilter(t, f, tc.pod, nodeInfo(t, tc.node, tc.existing...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Filter status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFitFilterWithoutPreFilter(t *testing.T) {
	f := newFit(t, nil)
	pod := st.MakePod().Name("p").Obj()
	ni := nodeInfo(t, st.MakeNode().Name("n").Capacity("pods", "1").Obj())
	got := f.Filter(context.Background(), framework.NewCycleState(), pod, ni)
	if got.Code() != framework.Error {
		t.Errorf("Filter without PreFilter state = %v, want an Error status", got)
	}
}

func TestFits(t *testing.T) {
	node := st.MakeNode().Name("n").Capacity("cpu", "2", "memory", "1Gi", "pods", "5").Obj()
	ni := nodeInfo(t, node, st.MakePod().Name("u").Req("cpu", "1500m").Obj())
	pod := st.MakePod().Name("p").Req("cpu", "1", "memory", "2Gi").Obj()
	want := []InsufficientResource{
		{ResourceName: v1.ResourceCPU, Reason: ReasonInsufficientCPU, Requested: 1000, Used: 1500, Capacity: 2000},
		{ResourceName: v1.ResourceMemory, Reason: ReasonInsufficientMemory, Requested: 2 << 30, Used: 0, Capacity: 1 << 30, Unresolvable: true},
	}
	if diff := cmp.Diff(want, Fits(pod, ni)); diff != "" {
		t.Errorf("Fits (-want +got):\n%s", diff)
	}
}

func TestFitPreFilterState(t *testing.T) {
	f := newFit(t, nil)
	state := framework.NewCycleState()
	pod := st.MakePod().Name("p").Req("cpu", "1").InitReq("cpu", "2", "memory", "1Gi").Overhead("memory", "1Gi").Obj()
	if _, s := f.PreFilter(context.Background(), state, pod, nil); s != nil {
		t.Fatalf("PreFilter = %v", s)
	}
	s, err := readPreFilterState(state)
	if err != nil {
		t.Fatal(err)
	}
	want := framework.Resource{MilliCPU: 2000, Memory: 2 << 30}
	if diff := cmp.Diff(want, s.Resource); diff != "" {
		t.Errorf("pod requests (-want +got):\n%s", diff)
	}
	if got := f.PreFilterExtensions(); got != nil {
		t.Errorf("PreFilterExtensions = %v, want nil", got)
	}
}
