package extender

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/scheduler"
)

// kubeProfile is the schedulerName of the test pods: kube-scheduler's
// profile, which berth's default profile evaluates.
const kubeProfile = "default-scheduler"

// newTestExtender builds an Extender on berth's default profile over a
// fake clientset holding objs; nodes go into its cache (pods stay out:
// the tests bind them). The fake clientset's pods/binding sets the pod's
// node, as the API server does.
func newTestExtender(t *testing.T, nodes []*v1.Node, objs ...runtime.Object) (*Extender, *fake.Clientset) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateAction)
		if !ok || ca.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		obj, err := client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.Spec.NodeName != "" {
			return true, nil, fmt.Errorf("pod %s is already bound", p.Name)
		}
		p.Spec.NodeName = b.Target.Name
		return true, nil, client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), p, p.Namespace)
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	ev, err := scheduler.NewEvaluator(ctx, scheduler.EvaluatorOptions{Config: cfg, Registry: reg, InformerFactory: factory, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	for _, n := range nodes {
		ev.Cache().AddNode(klog.Background(), n)
	}
	x, err := New(Options{Evaluator: ev, Profile: config.DefaultSchedulerName, GetPod: func(ctx context.Context, ns, name string) (*v1.Pod, error) {
		return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	}})
	if err != nil {
		t.Fatal(err)
	}
	return x, client
}

// gpuNode has cards 40 GB GPUs.
func gpuNode(name string, cards int) *v1.Node {
	return st.MakeNode().Name(name).Label(gpushare.DefaultMemoryLabel, "40960").
		Capacity("cpu", "32", "memory", "128Gi", "pods", "110", "nvidia.com/gpu", fmt.Sprint(cards)).Obj()
}

func cpuNode(name string) *v1.Node {
	return st.MakeNode().Name(name).Capacity("cpu", "32", "memory", "128Gi", "pods", "110").Obj()
}

// sharePod asks for milli of one card.
func sharePod(name, milli string) *v1.Pod {
	p := st.MakePod().Name(name).Namespace("default").UID(name).SchedulerName(kubeProfile).Req("cpu", "100m").Obj()
	p.Annotations = map[string]string{gpushare.AnnotationMilli: milli}
	return p
}

func names(n ...string) *[]string { return &n }

func TestFilter(t *testing.T) {
	x, _ := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 2), cpuNode("cpu-b")})
	tests := []struct {
		name           string
		pod            *v1.Pod
		nodes          *[]string
		wantFeasible   []string
		wantFailed     []string
		wantUnresolved []string
		wantMsg        string
		wantErr        string
	}{
		{name: "share fits the GPU node only", pod: sharePod("s", "500"), nodes: names("gpu-a", "cpu-b"),
			wantFeasible: []string{"gpu-a"}, wantUnresolved: []string{"cpu-b"}, wantMsg: "GPUShare"},
		{name: "malformed share fits nowhere", pod: sharePod("bad", "1500"), nodes: names("gpu-a", "cpu-b"),
			wantFeasible: []string{}, wantUnresolved: []string{"gpu-a", "cpu-b"}, wantMsg: "is outside 1..1000"},
		{name: "node berth has not seen yet", pod: sharePod("s", "500"), nodes: names("gpu-a", "new-node"),
			wantFeasible: []string{"gpu-a"}, wantFailed: []string{"new-node"}, wantMsg: "not in berth's cache"},
		{name: "only the candidates are answered", pod: sharePod("s", "500"), nodes: names("cpu-b"),
			wantFeasible: []string{}, wantUnresolved: []string{"cpu-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := x.Filter(context.Background(), &extenderv1.ExtenderArgs{Pod: tc.pod, NodeNames: tc.nodes})
			if res.Error != "" {
				t.Fatalf("error %q", res.Error)
			}
			if diff := cmp.Diff(tc.wantFeasible, *res.NodeNames); diff != "" {
				t.Errorf("feasible (-want +got):\n%s", diff)
			}
			check := func(what string, want []string, got extenderv1.FailedNodesMap) {
				if len(want) != len(got) {
					t.Errorf("%s: got %v, want nodes %v", what, got, want)
				}
				for _, n := range want {
					if msg, ok := got[n]; !ok || !strings.Contains(msg, tc.wantMsg) {
						t.Errorf("%s: node %s: %q (present %v), want a message with %q", what, n, msg, ok, tc.wantMsg)
					}
				}
			}
			check("FailedNodes", tc.wantFailed, res.FailedNodes)
			check("FailedAndUnresolvableNodes", tc.wantUnresolved, res.FailedAndUnresolvableNodes)
		})
	}
	t.Run("whole nodes are refused", func(t *testing.T) {
		res := x.Filter(context.Background(), &extenderv1.ExtenderArgs{Pod: sharePod("s", "500"), Nodes: &v1.NodeList{}})
		if !strings.Contains(res.Error, "nodeCacheCapable") {
			t.Errorf("error %q, want one that says to set nodeCacheCapable", res.Error)
		}
	})
}

func TestScaleScores(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []string
		totals map[string]int64
		best   string
		want   []int64
	}{
		{"choice 10, worst 0, rest in proportion below 10", []string{"a", "b", "c", "d"}, map[string]int64{"a": 100, "b": 300, "c": 200, "d": 300}, "b", []int64{0, 10, 5, 9}},
		{"equal totals: only berth's tie-break winner gets the maximum", []string{"a", "b", "c"}, map[string]int64{"a": 7, "b": 7, "c": 7}, "b", []int64{9, 10, 9}},
		{"nodes without a score get 0", []string{"a", "x"}, map[string]int64{"a": 7}, "a", []int64{10, 0}},
		{"negative totals", []string{"a", "b", "c", "d"}, map[string]int64{"a": -100, "b": 0, "c": -75, "d": -50}, "b", []int64{0, 10, 5, 9}},
		{"no choice: all in proportion below 10", []string{"a", "b"}, map[string]int64{"a": 1, "b": 3}, "", []int64{0, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ScaleScores(tc.nodes, tc.totals, tc.best)
			var scores []int64
			for i, h := range got {
				if h.Host != tc.nodes[i] {
					t.Errorf("entry %d is %s, want %s", i, h.Host, tc.nodes[i])
				}
				scores = append(scores, h.Score)
			}
			if diff := cmp.Diff(tc.want, scores); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrioritizeRanksTheCandidates: berth's best candidate gets the
// maximum extender score and a node berth rejects gets 0.
func TestPrioritizeRanksTheCandidates(t *testing.T) {
	x, _ := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 2), cpuNode("cpu-b")})
	res, err := x.Prioritize(context.Background(), &extenderv1.ExtenderArgs{Pod: sharePod("s", "500"), NodeNames: names("gpu-a", "cpu-b")})
	if err != nil {
		t.Fatal(err)
	}
	want := extenderv1.HostPriorityList{{Host: "gpu-a", Score: extenderv1.MaxExtenderPriority}, {Host: "cpu-b", Score: 0}}
	if diff := cmp.Diff(want, *res); diff != "" {
		t.Errorf("priorities (-want +got):\n%s", diff)
	}
}

// TestConcurrentBindsNeverOversubscribe: twelve 300-milli shares are
// bound at once to a node of two cards, as kube-scheduler does when its
// filter calls raced ahead of the binds. Only three fit a card, so
// exactly six binds succeed, each pod annotated with its card, and the
// other six fail with berth's reason, holding nothing.
func TestConcurrentBindsNeverOversubscribe(t *testing.T) {
	var objs []runtime.Object
	for i := range 12 {
		objs = append(objs, sharePod(fmt.Sprintf("s%02d", i), "300"))
	}
	x, client := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 2)}, objs...)
	var wg sync.WaitGroup
	errs := make([]string, 12)
	for i := range 12 {
		wg.Go(func() {
			p := objs[i].(*v1.Pod)
			errs[i] = x.Bind(context.Background(), &extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, PodUID: p.UID, Node: "gpu-a"}).Error
		})
	}
	wg.Wait()
	failed := 0
	for _, e := range errs {
		if e != "" {
			failed++
			if !strings.Contains(e, "no longer fits") {
				t.Errorf("bind error %q, want berth's re-check to refuse it", e)
			}
		}
	}
	if failed != 6 {
		t.Errorf("%d binds failed, want 6 (two cards hold three 300-milli shares each): %q", failed, errs)
	}
	perCard := map[int]int64{}
	pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bound := 0
	for _, p := range pods.Items {
		a, hasAssignment := p.Annotations[gpushare.AnnotationAssignment]
		if p.Spec.NodeName == "" {
			if hasAssignment {
				t.Errorf("unbound pod %s has an assignment %s", p.Name, a)
			}
			continue
		}
		bound++
		as, err := gpushare.ParseAssignment(a)
		if err != nil {
			t.Fatalf("pod %s: %v", p.Name, err)
		}
		for _, c := range as.Cards {
			perCard[c] += as.Milli
		}
	}
	if bound != 6 {
		t.Errorf("%d pods bound, want 6", bound)
	}
	for c, m := range perCard {
		if m > 1000 {
			t.Errorf("card %d holds %d milli", c, m)
		}
	}
	if n := x.AssumedPods(); n != 6 {
		t.Errorf("%d pods assumed, want the 6 bound (no informer confirms them here)", n)
	}
	// A second bind of a bound pod is refused.
	for i, e := range errs {
		if e == "" {
			p := objs[i].(*v1.Pod)
			if r := x.Bind(context.Background(), &extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, PodUID: p.UID, Node: "gpu-a"}); r.Error == "" {
				t.Errorf("binding %s again succeeded", p.Name)
			}
			break
		}
	}
}

// TestFailedBindReleasesTheCards: when the binding call fails, the cards
// Reserve took and the assumed pod are released, so the next pod can have
// them.
func TestFailedBindReleasesTheCards(t *testing.T) {
	big, next := sharePod("big", "1000"), sharePod("next", "1000")
	x, client := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 1)}, big, next)
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ca, ok := a.(k8stesting.CreateAction); ok && ca.GetSubresource() == "binding" && ca.GetObject().(*v1.Binding).Name == "big" {
			return true, nil, fmt.Errorf("injected bind failure")
		}
		return false, nil, nil
	})
	bind := func(p *v1.Pod) string {
		return x.Bind(context.Background(), &extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, PodUID: p.UID, Node: "gpu-a"}).Error
	}
	if e := bind(big); !strings.Contains(e, "injected bind failure") {
		t.Fatalf("bind of big: %q, want the injected failure", e)
	}
	if n := x.AssumedPods(); n != 0 {
		t.Errorf("%d pods assumed after the failed bind, want 0", n)
	}
	if e := bind(next); e != "" {
		t.Errorf("bind of next after big's failure: %q; the card should be free again", e)
	}
}

// TestBindChecksThePod: a bind naming a re-created pod (another UID) is
// refused before anything is reserved.
func TestBindChecksThePod(t *testing.T) {
	p := sharePod("s", "500")
	x, _ := newTestExtender(t, []*v1.Node{gpuNode("gpu-a", 1)}, p)
	r := x.Bind(context.Background(), &extenderv1.ExtenderBindingArgs{PodName: p.Name, PodNamespace: p.Namespace, PodUID: types.UID("old"), Node: "gpu-a"})
	if !strings.Contains(r.Error, "re-created") {
		t.Errorf("error %q, want the UID mismatch", r.Error)
	}
}

// TestNominationsKeepTheirRoom: a pending pod that kube-scheduler's
// preemption nominated to a node, delivered by the informer, keeps its
// room there in berth's filter, until it is deleted.
func TestNominationsKeepTheirRoom(t *testing.T) {
	x, _ := newTestExtender(t, []*v1.Node{cpuNode("node-a")})
	h := podHandler(klog.Background(), x.ev)
	nominee := st.MakePod().Name("nominee").Namespace("default").UID("nominee").SchedulerName(kubeProfile).Priority(100).Req("cpu", "30").Obj()
	nominee.Status.NominatedNodeName = "node-a"
	h.OnAdd(nominee, false)
	pod := st.MakePod().Name("p").Namespace("default").UID("p").SchedulerName(kubeProfile).Priority(0).Req("cpu", "4").Obj()
	filter := func() *extenderv1.ExtenderFilterResult {
		return x.Filter(context.Background(), &extenderv1.ExtenderArgs{Pod: pod, NodeNames: names("node-a")})
	}
	if res := filter(); len(*res.NodeNames) != 0 || res.FailedNodes["node-a"] == "" {
		t.Errorf("with 30 of 32 CPUs nominated, a 4-CPU pod passed: %+v", res)
	}
	h.OnDelete(nominee)
	if res := filter(); len(*res.NodeNames) != 1 {
		t.Errorf("after the nominee's deletion the pod still fails: %+v", res)
	}
}
