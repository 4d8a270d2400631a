package plugins

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	kubefw "k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
)

func gpuNode(name string, cards string) *v1.Node {
	return st.MakeNode().Name(name).Capacity("cpu", "32", "memory", "128Gi", "pods", "110", "nvidia.com/gpu", cards).Obj()
}

func sharePod(name, milli string) *v1.Pod {
	p := st.MakePod().Name(name).UID(name).Namespace("default").Req("cpu", "100m").Obj()
	p.Annotations = map[string]string{gpushare.AnnotationMilli: milli}
	return p
}

// newGPUShare builds GPUShare through the bridge's factory, as
// kube-scheduler-berth registers it, over a fake handle.
func newGPUShare(t *testing.T, h *fakeHandle, args string) *Plugin {
	t.Helper()
	reg := plugins.NewInTreeRegistry()
	var obj runtime.Object
	if args != "" {
		obj = &runtime.Unknown{Raw: []byte(args), ContentType: runtime.ContentTypeJSON}
	}
	pl, err := NewBridge().Factory(gpushare.Name, reg[gpushare.Name])(context.Background(), obj, h)
	if err != nil {
		t.Fatalf("building GPUShare: %v", err)
	}
	return pl.(*Plugin)
}

// schedule runs one pod through the adapted plugin's scheduling cycle as
// kube-scheduler would, on the snapshot of nodes and bound or assumed
// pods, and returns the node it scores best among those it lets through
// (kube-scheduler's other plugins left out), with the cycle state; ""
// when it fits nowhere.
func schedule(t *testing.T, pl *Plugin, h *fakeHandle, pod *v1.Pod, pods []*v1.Pod, nodes []*v1.Node) (string, fwk.CycleState) {
	t.Helper()
	ctx := context.Background()
	h.snap.SharedLister = cache.NewSnapshot(pods, nodes)
	knis, err := h.snap.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	state := kubefw.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, knis); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	var feasible []fwk.NodeInfo
	for _, ni := range knis {
		if s := pl.Filter(ctx, state, pod, ni); s.IsSuccess() {
			feasible = append(feasible, ni)
		} else if s.Code() != fwk.Unschedulable && s.Code() != fwk.UnschedulableAndUnresolvable {
			t.Fatalf("Filter on %s: %v", ni.Node().Name, s)
		}
	}
	if len(feasible) == 0 {
		return "", state
	}
	if s := pl.PreScore(ctx, state, pod, feasible); !s.IsSuccess() {
		t.Fatalf("PreScore: %v", s)
	}
	best, bestScore := "", int64(-1)
	for _, ni := range feasible {
		v, s := pl.Score(ctx, state, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score on %s: %v", ni.Node().Name, s)
		}
		if v > bestScore {
			best, bestScore = ni.Node().Name, v
		}
	}
	if s := pl.Reserve(ctx, state, pod, best); !s.IsSuccess() {
		t.Fatalf("Reserve on %s: %v", best, s)
	}
	return best, state
}

// TestGPUShareAssumedPods runs GPUShare as kube-scheduler does: each pod
// is assumed (in the next snapshot, without its annotation) before its
// PreBind writes the annotation. Assumed pods must count on their cards,
// so no card takes more than it has, and PreBind must write the cards
// Reserve chose.
func TestGPUShareAssumedPods(t *testing.T) {
	ctx := context.Background()
	nodes := []*v1.Node{gpuNode("gpu-a", "1"), gpuNode("gpu-b", "1")}
	client := fake.NewClientset()
	h := &fakeHandle{snap: &swappable{}, client: client}
	pl := newGPUShare(t, h, `{"policy":"BestFit"}`)

	var assumed []*v1.Pod
	use := map[string]int{}
	for _, name := range []string{"p0", "p1", "p2", "p3"} {
		pod := sharePod(name, "500")
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		node, state := schedule(t, pl, h, pod, assumed, nodes)
		if node == "" {
			t.Fatalf("pod %s fits nowhere with %d of 4 halves taken", name, len(assumed))
		}
		if s := pl.PreBind(ctx, state, pod, node); !s.IsSuccess() {
			t.Fatalf("PreBind %s: %v", name, s)
		}
		got, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := gpushare.ParseAssignment(got.Annotations[gpushare.AnnotationAssignment])
		if err != nil || a.Node != node || len(a.Cards) != 1 || a.Cards[0] != 0 || a.Milli != 500 {
			t.Fatalf("pod %s on %s: assignment %+v, %v", name, node, a, err)
		}
		use[node]++
		// Assumed: on the node in the next snapshot, annotation not yet
		// back from the API server.
		a2 := pod.DeepCopy()
		a2.Spec.NodeName = node
		assumed = append(assumed, a2)
	}
	if use["gpu-a"] != 2 || use["gpu-b"] != 2 {
		t.Fatalf("placements %v; want two halves on each card", use)
	}
	extra := sharePod("p4", "500")
	if node, _ := schedule(t, pl, h, extra, assumed, nodes); node != "" {
		t.Fatalf("a fifth half went to %s with every card full", node)
	}
}

// TestGPUShareReservation: between Reserve and its annotation coming
// back, a pod kube-scheduler assumed is on its cards only through
// GPUShare's reservation. With the Random policy a share of 600 goes to
// either of two idle cards; a second share of 600 must then take the
// other one. Without the reservation the assumed pod would be counted
// on the card the tightest fit picks (card 0), and whenever it really
// went to card 1 the second share would join it there.
func TestGPUShareReservation(t *testing.T) {
	ctx := context.Background()
	nodes := []*v1.Node{gpuNode("gpu-a", "2")}
	client := fake.NewClientset()
	h := &fakeHandle{snap: &swappable{}, client: client}
	pl := newGPUShare(t, h, `{"policy":"Random"}`)

	var bound []*v1.Pod
	cardOf := func(pod *v1.Pod) int {
		t.Helper()
		if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		node, state := schedule(t, pl, h, pod, bound, nodes)
		if node == "" {
			t.Fatalf("pod %s fits nowhere", pod.Name)
		}
		if s := pl.PreBind(ctx, state, pod, node); !s.IsSuccess() {
			t.Fatalf("PreBind %s: %v", pod.Name, s)
		}
		got, _ := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		a, err := gpushare.ParseAssignment(got.Annotations[gpushare.AnnotationAssignment])
		if err != nil || len(a.Cards) != 1 {
			t.Fatalf("pod %s: assignment %+v, %v", pod.Name, a, err)
		}
		assumed := pod.DeepCopy()
		assumed.Spec.NodeName = node
		bound = append(bound, assumed)
		return a.Cards[0]
	}
	onCard1 := 0
	for i := range 8 {
		bound = nil
		first := cardOf(sharePod(fmt.Sprintf("a-%d", i), "600"))
		second := cardOf(sharePod(fmt.Sprintf("b-%d", i), "600"))
		if first == second {
			t.Errorf("trial %d: both shares of 600 on card %d", i, first)
		}
		if first == 1 {
			onCard1++
		}
	}
	if onCard1 == 0 {
		t.Fatalf("the first share never went to card 1: the test shows nothing")
	}
}

func TestFactoryArgs(t *testing.T) {
	client := fake.NewClientset()
	h := &fakeHandle{snap: &swappable{SharedLister: cache.NewEmptySnapshot()}, client: client, informers: informers.NewSharedInformerFactory(client, 0)}
	reg := plugins.NewInTreeRegistry()
	for _, tc := range []struct {
		name, plugin, args string
		want               string
	}{
		{name: "defaults", plugin: gpushare.Name},
		{name: "NodePreference's defaults", plugin: "NodePreference"},
		{name: "NetworkAware's defaults, without its CRDs", plugin: "NetworkAware"},
		{name: "StorageLocality's defaults", plugin: "StorageLocality"},
		{name: "valid", plugin: gpushare.Name, args: `{"policy":"GPUPacking","workloadWindow":100}`},
		{name: "misspelt field at its path", plugin: gpushare.Name, args: `{"polcy":"FGD"}`,
			want: `profiles[berth-plugins].pluginConfig[GPUShare].args.polcy: Forbidden: unknown field`},
		{name: "invalid value at its path", plugin: gpushare.Name, args: `{"policy":"Tetris"}`,
			want: `profiles[berth-plugins].pluginConfig[GPUShare].args.policy: Unsupported value: "Tetris"`},
		{name: "a plugin that needs berth's engine is refused", plugin: "GangScheduling",
			want: "GangScheduling: its PreEnqueue extension point cannot run inside kube-scheduler"},
		{name: "nested misspelling", plugin: "NodePreference", args: `{"ruleSets":[{"name":"a","prefered":[]}]}`,
			want: `profiles[berth-plugins].pluginConfig[NodePreference].args.ruleSets[0].prefered: Forbidden: unknown field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var obj runtime.Object
			if tc.args != "" {
				obj = &runtime.Unknown{Raw: []byte(tc.args)}
			}
			pl, err := NewBridge().Factory(tc.plugin, reg[tc.plugin])(context.Background(), obj, h)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want == "" && pl.Name() != tc.plugin:
				t.Fatalf("built %s, want %s", pl.Name(), tc.plugin)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}
