package networkaware

import (
	"context"
	"sort"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	agv1alpha1 "github.com/berthsched/berth/pkg/apis/appgroup/v1alpha1"
	ntv1alpha1 "github.com/berthsched/berth/pkg/apis/networktopology/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/network"
)

const ns = "shop"

var (
	agGVR = agv1alpha1.AppGroupResource
	ntGVR = ntv1alpha1.NetworkTopologyResource
)

// zoneNodes are six nodes, two in each of zones a, b and c of one region.
func zoneNodes() []*v1.Node {
	var out []*v1.Node
	for _, z := range []string{"a", "b", "c"} {
		for _, i := range []string{"1", "2"} {
			out = append(out, st.MakeNode().Name(z+i).Label(v1.LabelTopologyZone, z).Label(v1.LabelTopologyRegion, "eu").Obj())
		}
	}
	return out
}

// pod is a pod of the shop namespace with an app label.
func pod(name, app string) *st.PodWrapper {
	return st.MakePod().Name(name).UID(name).Namespace(ns).Label("app", app)
}

// talksTo sets the berth.io/talks-to annotation.
func talksTo(w *st.PodWrapper, v string) *st.PodWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[network.TalksToAnnotation] = v
	return w
}

// inAppGroup labels a pod into AppGroup ag as workload wl.
func inAppGroup(w *st.PodWrapper, ag, wl string) *st.PodWrapper {
	return w.Label(agv1alpha1.AppGroupLabel, ag).Label(agv1alpha1.AppGroupSelectorLabel, wl)
}

// withSideEffects stands for an engine with side effects (berth run): its
// Preemption is not nil, which is what lets the plugin record events.
type withSideEffects struct{ framework.Preemption }

type options struct {
	args *Args
	// pods all exist in the API (pending or bound); bound ones are in
	// the snapshot.
	pods []*v1.Pod
	// served are the CRDs discovery lists (nil: both).
	served []schema.GroupVersionResource
	// objects are AppGroups and NetworkTopologies.
	objects     []*unstructured.Unstructured
	noDynamic   bool
	sideEffects bool
}

type fixture struct {
	ctx context.Context
	pl  *NetworkAware
	h   *st.Handle
	rec *events.FakeRecorder
	// pods are the options' pods, kept to rebuild snapshots.
	pods  []*v1.Pod
	nodes []*v1.Node
}

// newFixture builds the plugin over six nodes (zoneNodes) with o's pods
// and CRD objects, and syncs its informers.
func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	t.Cleanup(cancel)
	objs := make([]runtime.Object, 0, len(o.pods))
	for _, p := range o.pods {
		objs = append(objs, p)
	}
	nodes := zoneNodes()
	h := st.NewHandle(st.NewSnapshot(o.pods, nodes), objs...)
	served := o.served
	if served == nil {
		served = []schema.GroupVersionResource{agGVR, ntGVR}
	}
	for _, gvr := range served {
		h.Client.(*fake.Clientset).Resources = append(h.Client.(*fake.Clientset).Resources, &metav1.APIResourceList{
			GroupVersion: gvr.GroupVersion().String(),
			APIResources: []metav1.APIResource{{Name: gvr.Resource, Namespaced: true}},
		})
	}
	rec := events.NewFakeRecorder(100)
	h.Recorder = rec
	if o.sideEffects {
		h.Preempt = withSideEffects{}
	}
	if !o.noDynamic {
		dobjs := make([]runtime.Object, 0, len(o.objects))
		for _, u := range o.objects {
			dobjs = append(dobjs, u)
		}
		dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			agGVR: "AppGroupList", ntGVR: "NetworkTopologyList",
		}, dobjs...)
		h.Dynamic = dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	}
	p, err := New(ctx, o.args, h) // a nil *Args means the defaults

	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := h.SyncInformers(ctx); err != nil {
		t.Fatal(err)
	}
	if h.Dynamic != nil {
		h.Dynamic.Start(ctx.Done())
		for gvr, ok := range h.Dynamic.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("dynamic informer for %v did not sync", gvr)
			}
		}
	}
	pl := p.(*NetworkAware)
	deadline := time.Now().Add(10 * time.Second)
	for !pl.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not sync")
		}
		time.Sleep(time.Millisecond)
	}
	return &fixture{ctx: ctx, pl: pl, h: h, rec: rec, pods: o.pods, nodes: nodes}
}

// bind places a pod on a node in the fixture's snapshot.
func (f *fixture) bind(p *v1.Pod, node string) {
	b := p.DeepCopy()
	b.Spec.NodeName = node
	for i, q := range f.pods {
		if q.UID == p.UID {
			f.pods[i] = b
			f.h.Lister = st.NewSnapshot(f.pods, f.nodes)
			return
		}
	}
	f.pods = append(f.pods, b)
	f.h.Lister = st.NewSnapshot(f.pods, f.nodes)
}

// result is one pod's cycle through the plugin.
type result struct {
	cs        *framework.CycleState
	preFilter *framework.Status
	// rejected maps the nodes Filter refused to its message.
	rejected map[string]string
	preScore *framework.Status
	// scores are the normalised scores of the feasible nodes (nil when
	// PreScore skipped).
	scores map[string]int64
}

// cycle runs PreFilter, Filter, PreScore, Score and NormalizeScore as the
// engine does.
func (f *fixture) cycle(t *testing.T, p *v1.Pod) result {
	t.Helper()
	r := result{cs: framework.NewCycleState(), rejected: map[string]string{}}
	all := f.h.Lister.NodeInfos().List()
	_, r.preFilter = f.pl.PreFilter(f.ctx, r.cs, p, all)
	if !r.preFilter.IsSuccess() && !r.preFilter.IsSkip() {
		t.Fatalf("PreFilter: %v", r.preFilter)
	}
	var feasible []*framework.NodeInfo
	for _, ni := range all {
		if !r.preFilter.IsSkip() {
			if st := f.pl.Filter(f.ctx, r.cs, p, ni); !st.IsSuccess() {
				if st.Code() != framework.UnschedulableAndUnresolvable {
					t.Fatalf("Filter on %s: %v", ni.Node().Name, st)
				}
				r.rejected[ni.Node().Name] = st.Message()
				continue
			}
		}
		feasible = append(feasible, ni)
	}
	r.preScore = f.pl.PreScore(f.ctx, r.cs, p, feasible)
	if r.preScore.IsSkip() {
		return r
	}
	if !r.preScore.IsSuccess() {
		t.Fatalf("PreScore: %v", r.preScore)
	}
	var list framework.NodeScoreList
	for _, ni := range feasible {
		s, st := f.pl.Score(f.ctx, r.cs, p, ni)
		if !st.IsSuccess() {
			t.Fatalf("Score: %v", st)
		}
		list = append(list, framework.NodeScore{Name: ni.Node().Name, Score: s})
	}
	if st := f.pl.ScoreExtensions().NormalizeScore(f.ctx, r.cs, p, list); !st.IsSuccess() {
		t.Fatal(st)
	}
	r.scores = map[string]int64{}
	for _, s := range list {
		r.scores[s.Name] = s.Score
	}
	return r
}

// best returns the highest-scored nodes, sorted by name.
func (r result) best() []string {
	var top int64 = -1
	var out []string
	for n, s := range r.scores {
		switch {
		case s > top:
			top, out = s, []string{n}
		case s == top:
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// explain asks ExplainScore about a node after the cycle.
func (f *fixture) explain(t *testing.T, r result, p *v1.Pod, node string) string {
	t.Helper()
	ni, err := f.h.Lister.NodeInfos().Get(node)
	if err != nil {
		t.Fatal(err)
	}
	return f.pl.ExplainScore(r.cs, p, ni)
}

// drain returns the events recorded so far.
func (f *fixture) drain() []string { return st.Events(f.rec) }

// appGroup builds an unstructured AppGroup from berth's Go type, as
// the dynamic informer hands them to the plugin.
func appGroup(t *testing.T, namespace, name string, workloads ...agv1alpha1.AppGroupWorkload) *unstructured.Unstructured {
	t.Helper()
	ag := &agv1alpha1.AppGroup{
		TypeMeta:   metav1.TypeMeta{APIVersion: agv1alpha1.SchemeGroupVersion.String(), Kind: agv1alpha1.AppGroupKind.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: "1"},
		Spec:       agv1alpha1.AppGroupSpec{Workloads: workloads},
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ag)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// workload is an AppGroup workload with dependencies on others, given as
// selector, maxNetworkCost pairs.
func workload(sel string, deps ...agv1alpha1.DependenciesInfo) agv1alpha1.AppGroupWorkload {
	return agv1alpha1.AppGroupWorkload{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: sel, Selector: sel}, Dependencies: deps}
}

func dependsOn(sel string, maxNetworkCost int64) agv1alpha1.DependenciesInfo {
	return agv1alpha1.DependenciesInfo{Workload: agv1alpha1.AppGroupWorkloadInfo{Kind: "Deployment", Name: sel, Selector: sel}, MaxNetworkCost: maxNetworkCost}
}
