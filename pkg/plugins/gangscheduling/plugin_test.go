package gangscheduling

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gang"
)

const ns = "default"

var (
	upGVR = gang.Upstream.Resource()
	spGVR = gang.SchedulerPlugins.Resource()
	vcGVR = gang.Volcano.Resource()
	// allGVRs are the three podgroups resources, in gang.APIs order.
	allGVRs = []schema.GroupVersionResource{upGVR, spGVR, vcGVR}
)

var groupCreated = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

// discovery answers for the podgroups resources of gvrs.
func discovery(gvrs ...schema.GroupVersionResource) []*metav1.APIResourceList {
	var out []*metav1.APIResourceList
	for _, gvr := range gvrs {
		out = append(out, &metav1.APIResourceList{
			GroupVersion: gvr.GroupVersion().String(),
			APIResources: []metav1.APIResource{
				{Name: gvr.Resource, Namespaced: true, Kind: "PodGroup"},
				{Name: gvr.Resource + "/status", Namespaced: true, Kind: "PodGroup"},
			},
		})
	}
	return out
}

// group builds an unstructured PodGroup of api.
func group(api gang.API, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(api.Resource().GroupVersion().String())
	u.SetKind("PodGroup")
	u.SetNamespace(namespace)
	u.SetName(name)
	u.SetCreationTimestamp(metav1.NewTime(groupCreated))
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

func spGroup(name string, minMember int64) *unstructured.Unstructured {
	return group(gang.SchedulerPlugins, ns, name, map[string]any{"minMember": minMember})
}

func vcGroup(name string, minMember int64) *unstructured.Unstructured {
	return group(gang.Volcano, ns, name, map[string]any{"minMember": minMember})
}

func upGang(name string, minCount int64) *unstructured.Unstructured {
	return group(gang.Upstream, ns, name, map[string]any{"schedulingPolicy": map[string]any{"gang": map[string]any{"minCount": minCount}}})
}

func upBasic(name string) *unstructured.Unstructured {
	return group(gang.Upstream, ns, name, map[string]any{"schedulingPolicy": map[string]any{"basic": map[string]any{}}})
}

func withAnnotation(u *unstructured.Unstructured, k, v string) *unstructured.Unstructured {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	u.SetAnnotations(a)
	return u
}

// spPod is a pod labelled into scheduler-plugins group g.
func spPod(name, g string) *st.PodWrapper {
	return st.MakePod().Name(name).UID(name).Namespace(ns).Label(xv1alpha1.PodGroupLabel, g)
}

// vcPod is a pod annotated into Volcano group g.
func vcPod(name, g string) *st.PodWrapper {
	w := st.MakePod().Name(name).UID(name).Namespace(ns)
	w.Annotations = map[string]string{volcanov1beta1.GroupNameAnnotation: g}
	return w
}

// upPod is a pod naming Kubernetes PodGroup g in its spec.
func upPod(name, g string) *st.PodWrapper {
	w := st.MakePod().Name(name).UID(name).Namespace(ns)
	w.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: &g}
	return w
}

func deleting(w *st.PodWrapper) *st.PodWrapper {
	now := metav1.Now()
	w.DeletionTimestamp = &now
	w.Finalizers = []string{"example.com/keep"}
	return w
}

type options struct {
	// served are the podgroups resources discovery lists (nil: all three).
	served []schema.GroupVersionResource
	// discovery, if set, replaces the lists built from served.
	discovery []*metav1.APIResourceList
	args      *Args
	pods      []*v1.Pod
	groups    []*unstructured.Unstructured
	// client, if set, is the handle's ClientSet instead of the fake
	// clientset (the informers still read the fake one).
	client    kubernetes.Interface
	noDynamic bool
	// beforeNew runs on the fake clientset before New.
	beforeNew func(cs *fake.Clientset)
}

type fixture struct {
	ctx context.Context
	pl  *GangScheduling
	h   *st.Handle
	cs  *fake.Clientset
	dyn *dynamicfake.FakeDynamicClient
	rec *events.FakeRecorder
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	f, err := tryFixture(t, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// tryFixture builds the plugin over a fake clientset holding o.pods and a
// dynamic fake client holding o.groups, then starts and syncs the
// informers.
func tryFixture(t *testing.T, o options) (*fixture, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	t.Cleanup(cancel)
	objs := make([]runtime.Object, 0, len(o.pods))
	for _, p := range o.pods {
		objs = append(objs, p)
	}
	h := st.NewHandle(nil, objs...)
	cs := h.Client.(*fake.Clientset)
	served := o.served
	if served == nil {
		served = allGVRs
	}
	cs.Resources = discovery(served...)
	if o.discovery != nil {
		cs.Resources = o.discovery
	}
	if o.beforeNew != nil {
		o.beforeNew(cs)
	}
	rec := events.NewFakeRecorder(100)
	h.Recorder = rec
	if o.client != nil {
		h.Client = o.client
	}
	var dyn *dynamicfake.FakeDynamicClient
	if !o.noDynamic {
		gobjs := make([]runtime.Object, 0, len(o.groups))
		for _, g := range o.groups {
			gobjs = append(gobjs, g)
		}
		dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			upGVR: "PodGroupList", spGVR: "PodGroupList", vcGVR: "PodGroupList",
		}, gobjs...)
		h.Dynamic = dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	}
	var a runtime.Object
	if o.args != nil {
		a = o.args
	}
	p, err := New(ctx, a, h)
	if err != nil {
		return nil, err
	}
	h.Informers.Start(ctx.Done())
	for typ, ok := range h.Informers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	if h.Dynamic != nil {
		h.Dynamic.Start(ctx.Done())
		for gvr, ok := range h.Dynamic.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("dynamic informer for %v did not sync", gvr)
			}
		}
	}
	return &fixture{ctx: ctx, pl: p.(*GangScheduling), h: h, cs: cs, dyn: dyn, rec: rec}, nil
}

// waitFor polls until cond holds (informers deliver asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantStatus(t *testing.T, got *framework.Status, code framework.Code, substrs ...string) {
	t.Helper()
	if got.Code() != code {
		t.Fatalf("status = %v (code %v), want code %v", got, got.Code(), code)
	}
	for _, s := range substrs {
		if !strings.Contains(got.Message(), s) {
			t.Errorf("message %q does not contain %q", got.Message(), s)
		}
	}
}

func TestNameIsKubeSchedulers(t *testing.T) {
	f := newFixture(t, options{})
	if f.pl.Name() != "GangScheduling" {
		t.Errorf("Name() = %q", f.pl.Name())
	}
}

func TestPreEnqueue(t *testing.T) {
	pods := []*v1.Pod{
		st.MakePod().Name("solo").Namespace(ns).Obj(),
		spPod("orphan", "missing").Obj(),
		// small: minMember 3, two live members here, one in another
		// namespace that does not count.
		spPod("small-a", "small").Obj(),
		spPod("small-b", "small").Obj(),
		spPod("small-x", "small").Namespace("other").Obj(),
		// full: minMember 2, two members.
		spPod("full-a", "full").Obj(),
		spPod("full-b", "full").Node("n1").Phase(v1.PodRunning).Obj(),
		// bad: negative minMember.
		spPod("bad-a", "bad").Obj(),
		// vg: minMember 3, one live member, one succeeded, one being
		// deleted: 1 counts.
		vcPod("vg-a", "vg").Obj(),
		vcPod("vg-done", "vg").Phase(v1.PodSucceeded).Obj(),
		deleting(vcPod("vg-going", "vg")).Obj(),
		// vok: Volcano minMember 0 means 1.
		vcPod("vok-a", "vok").Obj(),
		// upstream
		upPod("basic-a", "basic").Obj(),
		upPod("ug-a", "ug").Obj(),
		upPod("ug0-a", "ug0").Obj(),
	}
	groups := []*unstructured.Unstructured{
		spGroup("small", 3),
		spGroup("full", 2),
		spGroup("bad", -1),
		vcGroup("vg", 3),
		vcGroup("vok", 0),
		upBasic("basic"),
		upGang("ug", 2),
		upGang("ug0", 0),
	}
	f := newFixture(t, options{pods: pods, groups: groups})
	byName := map[string]*v1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	tests := []struct {
		pod     string
		code    framework.Code // Success: want nil
		substrs []string
	}{
		{pod: "solo"},
		{pod: "orphan", code: framework.UnschedulableAndUnresolvable,
			substrs: []string{"waiting for PodGroup default/missing (scheduling.x-k8s.io) to be created"}},
		{pod: "small-a", code: framework.UnschedulableAndUnresolvable,
			substrs: []string{"waiting for members of PodGroup default/small (scheduling.x-k8s.io)", "2 of minMember 3"}},
		{pod: "full-a"},
		{pod: "full-b"},
		{pod: "bad-a", code: framework.UnschedulableAndUnresolvable, substrs: []string{"invalid pod group", "spec.minMember"}},
		{pod: "vg-a", code: framework.UnschedulableAndUnresolvable,
			substrs: []string{"PodGroup default/vg (scheduling.volcano.sh)", "1 of minMember 3"}},
		{pod: "vok-a"},
		// A basic-policy group is no gang: its pods go one by one.
		{pod: "basic-a"},
		{pod: "ug-a", code: framework.UnschedulableAndUnresolvable,
			substrs: []string{"PodGroup default/ug (scheduling.k8s.io)", "1 of minMember 2"}},
		{pod: "ug0-a", code: framework.UnschedulableAndUnresolvable,
			substrs: []string{"invalid pod group", "spec.schedulingPolicy.gang.minCount"}},
	}
	for _, tc := range tests {
		t.Run(tc.pod, func(t *testing.T) {
			got := f.pl.PreEnqueue(f.ctx, byName[tc.pod])
			if tc.code == framework.Success {
				if got != nil {
					t.Fatalf("PreEnqueue = %v, want nil", got)
				}
				return
			}
			wantStatus(t, got, tc.code, tc.substrs...)
		})
	}
}

// TestPreEnqueueLetsInOnceTheLastMemberArrives: the informer's index is
// live, so the same pod passes once the group reaches its minimum.
func TestPreEnqueueLetsInOnceTheLastMemberArrives(t *testing.T) {
	a := spPod("a", "g").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{a}, groups: []*unstructured.Unstructured{spGroup("g", 2)}})
	wantStatus(t, f.pl.PreEnqueue(f.ctx, a), framework.UnschedulableAndUnresolvable, "1 of minMember 2")
	if _, err := f.cs.CoreV1().Pods(ns).Create(f.ctx, spPod("b", "g").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second member in the index", func() bool { return len(f.pl.Members(gang.Key(gang.SchedulerPlugins, ns, "g"))) == 2 })
	if st := f.pl.PreEnqueue(f.ctx, a); st != nil {
		t.Fatalf("PreEnqueue with 2 of 2 members = %v, want nil", st)
	}
}

// TestPreEnqueueGroupCreatedLater: a member waiting for its group passes
// once the group appears in the dynamic informer.
func TestPreEnqueueGroupCreatedLater(t *testing.T) {
	a := vcPod("a", "late").Obj()
	f := newFixture(t, options{pods: []*v1.Pod{a}})
	wantStatus(t, f.pl.PreEnqueue(f.ctx, a), framework.UnschedulableAndUnresolvable, "waiting for PodGroup default/late")
	if _, err := f.dyn.Resource(vcGVR).Namespace(ns).Create(f.ctx, vcGroup("late", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group in the informer", func() bool { return f.pl.PreEnqueue(f.ctx, a) == nil })
}

func TestAPIsNotRead(t *testing.T) {
	tests := []struct {
		name    string
		o       options
		pod     *v1.Pod
		substrs []string
	}{
		{
			name:    "API not served",
			o:       options{served: []schema.GroupVersionResource{upGVR, spGVR}},
			pod:     vcPod("p", "g").Obj(),
			substrs: []string{`pod names scheduling.volcano.sh PodGroup "g", which berth does not read`, "does not serve scheduling.volcano.sh/v1beta1"},
		},
		{
			name:    "upstream not served",
			o:       options{served: []schema.GroupVersionResource{spGVR, vcGVR}},
			pod:     upPod("p", "g").Obj(),
			substrs: []string{"scheduling.k8s.io", "does not serve scheduling.k8s.io/v1beta1", "GenericWorkload"},
		},
		{
			name: "group version served without podgroups",
			o: options{discovery: append(discovery(upGVR, spGVR), &metav1.APIResourceList{
				GroupVersion: vcGVR.GroupVersion().String(),
				APIResources: []metav1.APIResource{{Name: "queues", Kind: "Queue"}},
			})},
			pod:     vcPod("p", "g").Obj(),
			substrs: []string{"serves scheduling.volcano.sh/v1beta1 but not its podgroups"},
		},
		{
			name:    "API left out of the args",
			o:       options{args: &Args{APIs: []string{string(gang.Upstream), string(gang.Volcano)}}},
			pod:     spPod("p", "g").Obj(),
			substrs: []string{"scheduling.x-k8s.io", "not enabled in GangScheduling's args"},
		},
		{
			name:    "no dynamic client",
			o:       options{noDynamic: true},
			pod:     spPod("p", "g").Obj(),
			substrs: []string{"no dynamic client"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.pods = []*v1.Pod{tc.pod}
			f := newFixture(t, tc.o)
			wantStatus(t, f.pl.PreEnqueue(f.ctx, tc.pod), framework.UnschedulableAndUnresolvable, tc.substrs...)
			// PodGroup says the same: the engine must not schedule the
			// pod alone as though it named no group.
			g, st := f.pl.PodGroup(tc.pod)
			if g != nil {
				t.Errorf("PodGroup = %+v, want nil", g)
			}
			wantStatus(t, st, framework.UnschedulableAndUnresolvable, tc.substrs...)
		})
	}
}

// TestUnservedAPIHasNoEvents: an API that is not read declares no event
// source and registers no events (nothing would feed them).
func TestUnservedAPIHasNoEvents(t *testing.T) {
	f := newFixture(t, options{served: []schema.GroupVersionResource{spGVR}})
	srcs := f.pl.EventSources()
	want := []framework.EventSource{{Resource: "podgroups.scheduling.x-k8s.io", GVR: spGVR}}
	if diff := cmp.Diff(want, srcs); diff != "" {
		t.Errorf("EventSources (-want +got):\n%s", diff)
	}
	evs, err := f.pl.EventsToRegister(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Event.Resource))
	}
	if diff := cmp.Diff([]string{"Pod", "podgroups.scheduling.x-k8s.io"}, got); diff != "" {
		t.Errorf("event resources (-want +got):\n%s", diff)
	}
}

func TestNewFailsWhenDiscoveryFails(t *testing.T) {
	_, err := tryFixture(t, options{beforeNew: func(cs *fake.Clientset) {
		cs.PrependReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("connection refused")
		})
	}})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "whether it serves") {
		t.Fatalf("New = %v, want an error saying discovery failed", err)
	}
}

func TestPodGroup(t *testing.T) {
	sp := group(gang.SchedulerPlugins, ns, "train", map[string]any{
		"minMember":              int64(4),
		"minResources":           map[string]any{"cpu": "8", "nvidia.com/gpu": "4"},
		"scheduleTimeoutSeconds": int64(120),
	})
	withAnnotation(sp, gang.TopologyKeyAnnotation, "example.com/rack")
	groups := []*unstructured.Unstructured{
		sp,
		upBasic("basic"),
		withAnnotation(upBasic("basic-topo"), gang.TopologyKeyAnnotation, "topology.kubernetes.io/zone"),
		group(gang.Upstream, ns, "up", map[string]any{
			"schedulingPolicy":      map[string]any{"gang": map[string]any{"minCount": int64(3)}},
			"schedulingConstraints": map[string]any{"topology": []any{map[string]any{"key": "example.com/block"}}},
		}),
		vcGroup("v", 0),
	}
	f := newFixture(t, options{groups: groups})

	tests := []struct {
		name string
		pod  *v1.Pod
		want *framework.PodGroup
	}{
		{name: "no group", pod: st.MakePod().Name("solo").Obj()},
		{name: "basic policy without topology is scheduled alone", pod: upPod("p", "basic").Obj()},
		{
			name: "basic policy with a topology key",
			pod:  upPod("p", "basic-topo").Obj(),
			want: &framework.PodGroup{Key: "scheduling.k8s.io/default/basic-topo", API: "scheduling.k8s.io", Namespace: ns, Name: "basic-topo",
				MinMember: 1, TopologyKey: "topology.kubernetes.io/zone", Created: groupCreated},
		},
		{
			name: "upstream gang with a topology constraint",
			pod:  upPod("p", "up").Obj(),
			want: &framework.PodGroup{Key: "scheduling.k8s.io/default/up", API: "scheduling.k8s.io", Namespace: ns, Name: "up",
				MinMember: 3, TopologyKey: "example.com/block", Created: groupCreated},
		},
		{
			name: "scheduler-plugins with everything",
			pod:  spPod("p", "train").Obj(),
			want: &framework.PodGroup{Key: "scheduling.x-k8s.io/default/train", API: "scheduling.x-k8s.io", Namespace: ns, Name: "train",
				MinMember: 4, MinResources: v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), "nvidia.com/gpu": resource.MustParse("4")},
				ScheduleTimeout: 2 * time.Minute, TopologyKey: "example.com/rack", Created: groupCreated},
		},
		{
			// Volcano's minMember 0 is a gang of one: the engine gets a
			// PodGroup (MinMember 1), which it schedules pod by pod.
			name: "volcano minMember 0",
			pod:  vcPod("p", "v").Obj(),
			want: &framework.PodGroup{Key: "scheduling.volcano.sh/default/v", API: "scheduling.volcano.sh", Namespace: ns, Name: "v",
				MinMember: 1, Created: groupCreated},
		},
	}
	opts := cmp.Options{
		cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st := f.pl.PodGroup(tc.pod)
			if st != nil {
				t.Fatalf("status = %v, want nil", st)
			}
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Errorf("PodGroup (-want +got):\n%s", diff)
			}
			if got != nil && f.pl.GroupKey(tc.pod) != got.Key {
				t.Errorf("GroupKey = %q, PodGroup key %q", f.pl.GroupKey(tc.pod), got.Key)
			}
		})
	}

	t.Run("missing group", func(t *testing.T) {
		g, st := f.pl.PodGroup(spPod("p", "nope").Obj())
		if g != nil {
			t.Errorf("PodGroup = %+v", g)
		}
		wantStatus(t, st, framework.UnschedulableAndUnresolvable, "waiting for PodGroup default/nope")
	})
	t.Run("GroupKey needs no lookup", func(t *testing.T) {
		if got := f.pl.GroupKey(spPod("p", "nope").Obj()); got != "scheduling.x-k8s.io/default/nope" {
			t.Errorf("GroupKey = %q", got)
		}
		if got := f.pl.GroupKey(st.MakePod().Name("solo").Obj()); got != "" {
			t.Errorf("GroupKey of a pod without group = %q", got)
		}
	})
}

func podNames(pods []*v1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	sort.Strings(out)
	return out
}

// membersPods is a group "g" whose pods are in every state, plus pods
// that are not its members.
func membersPods() []*v1.Pod {
	return []*v1.Pod{
		spPod("running", "g").Node("n1").Phase(v1.PodRunning).Obj(),
		spPod("pending", "g").Obj(),
		spPod("bound", "g").Node("n2").Phase(v1.PodPending).Obj(),
		spPod("succeeded", "g").Node("n1").Phase(v1.PodSucceeded).Obj(),
		spPod("failed", "g").Node("n1").Phase(v1.PodFailed).Obj(),
		deleting(spPod("deleting", "g").Node("n2").Phase(v1.PodRunning)).Obj(),
		spPod("elsewhere", "g").Namespace("other").Obj(),
		spPod("sibling", "h").Obj(),
		// Same name, other API: another group.
		vcPod("volcano", "g").Obj(),
		st.MakePod().Name("solo").Namespace(ns).Obj(),
	}
}

func TestMembers(t *testing.T) {
	f := newFixture(t, options{pods: membersPods(), groups: []*unstructured.Unstructured{spGroup("g", 2)}})
	if f.pl.podIndexer == nil {
		t.Fatal("the plugin did not index pods by group on a fresh informer")
	}
	checkMembers(t, f.pl)
}

func checkMembers(t *testing.T, pl *GangScheduling) {
	t.Helper()
	key := gang.Key(gang.SchedulerPlugins, ns, "g")
	want := []string{"default/bound", "default/pending", "default/running"}
	if diff := cmp.Diff(want, podNames(pl.Members(key))); diff != "" {
		t.Errorf("Members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"default/volcano"}, podNames(pl.Members(gang.Key(gang.Volcano, ns, "g")))); diff != "" {
		t.Errorf("Members of the Volcano group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"other/elsewhere"}, podNames(pl.Members(gang.Key(gang.SchedulerPlugins, "other", "g")))); diff != "" {
		t.Errorf("Members in namespace other (-want +got):\n%s", diff)
	}
	if got := pl.Members(gang.Key(gang.SchedulerPlugins, ns, "none")); len(got) != 0 {
		t.Errorf("Members of a group without pods = %v", podNames(got))
	}
	// The status counts see terminated and deleting pods too.
	wantAll := []string{"default/bound", "default/deleting", "default/failed", "default/pending", "default/running", "default/succeeded"}
	if pl.podIndexer == nil {
		// Without the index, allPods is Members.
		wantAll = want
	}
	if diff := cmp.Diff(wantAll, podNames(pl.allPods(key))); diff != "" {
		t.Errorf("allPods (-want +got):\n%s", diff)
	}
}

// TestMembersWithoutIndex: when the pod informer cannot take the index
// (it has stopped), members are found by listing the namespace, with the
// same result.
func TestMembersWithoutIndex(t *testing.T) {
	ctx := klog.NewContext(context.Background(), klog.Background())
	objs := []runtime.Object{}
	for _, p := range membersPods() {
		objs = append(objs, p)
	}
	cs := fake.NewClientset(objs...)
	cs.Resources = discovery(allGVRs...)
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Pods().Informer()
	stop := make(chan struct{})
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	close(stop)
	waitFor(t, "the pod informer to stop", inf.IsStopped)

	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		upGVR: "PodGroupList", spGVR: "PodGroupList", vcGVR: "PodGroupList",
	})
	h := &st.Handle{Client: cs, Informers: factory, Recorder: events.NewFakeRecorder(10), Dynamic: dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)}
	p, err := New(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.(*GangScheduling)
	if pl.podIndexer != nil {
		t.Fatal("a stopped informer took the index")
	}
	checkMembers(t, pl)
}

// TestSecondPluginSharesTheIndex: another profile's plugin on the same
// factory finds the index in place and uses it.
func TestSecondPluginSharesTheIndex(t *testing.T) {
	f := newFixture(t, options{pods: membersPods()})
	p, err := New(f.ctx, nil, f.h)
	if err != nil {
		t.Fatal(err)
	}
	second := p.(*GangScheduling)
	if second.podIndexer == nil {
		t.Fatal("the second plugin does not use the index")
	}
	checkMembers(t, second)
}

func TestEventsToRegister(t *testing.T) {
	f := newFixture(t, options{})
	evs, err := f.pl.EventsToRegister(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	hints := map[framework.EventResource]framework.ClusterEventWithHint{}
	var order []string
	for _, e := range evs {
		hints[e.Event.Resource] = e
		order = append(order, string(e.Event.Resource))
	}
	wantOrder := []string{"Pod", "podgroups.scheduling.k8s.io", "podgroups.scheduling.x-k8s.io", "podgroups.scheduling.volcano.sh"}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if a := hints[framework.Pod].Event.ActionType; a != framework.Add {
		t.Errorf("pod event action = %v, want Add", a)
	}
	for _, r := range wantOrder[1:] {
		if a := hints[framework.EventResource(r)].Event.ActionType; a != framework.Add|framework.UpdateOther {
			t.Errorf("%s action = %v, want Add|UpdateOther", r, a)
		}
	}
	wantSources := []framework.EventSource{
		{Resource: "podgroups.scheduling.k8s.io", GVR: upGVR},
		{Resource: "podgroups.scheduling.x-k8s.io", GVR: spGVR},
		{Resource: "podgroups.scheduling.volcano.sh", GVR: vcGVR},
	}
	if diff := cmp.Diff(wantSources, f.pl.EventSources()); diff != "" {
		t.Errorf("EventSources (-want +got):\n%s", diff)
	}

	logger := klog.Background()
	member := spPod("waiting", "g").Obj()
	podHint := hints[framework.Pod].QueueingHintFn
	podTests := []struct {
		name  string
		pod   *v1.Pod
		added interface{}
		want  framework.QueueingHint
	}{
		{"member of the same group", member, spPod("new", "g").Obj(), framework.Queue},
		{"member of another group", member, spPod("new", "h").Obj(), framework.QueueSkip},
		{"same group name in another namespace", member, spPod("new", "g").Namespace("other").Obj(), framework.QueueSkip},
		{"same group name in another API", member, vcPod("new", "g").Obj(), framework.QueueSkip},
		{"pod without group", member, st.MakePod().Name("new").Namespace(ns).Obj(), framework.QueueSkip},
		{"waiting pod without group", st.MakePod().Name("solo").Namespace(ns).Obj(), st.MakePod().Name("new").Namespace(ns).Obj(), framework.QueueSkip},
		{"upstream member", upPod("w", "u").Obj(), upPod("new", "u").Obj(), framework.Queue},
		{"not a pod", member, "junk", framework.Queue},
	}
	for _, tc := range podTests {
		t.Run("pod/"+tc.name, func(t *testing.T) {
			got, err := podHint(logger, tc.pod, nil, tc.added)
			if err != nil || got != tc.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tc.want)
			}
		})
	}

	spHint := hints["podgroups.scheduling.x-k8s.io"].QueueingHintFn
	vcHint := hints["podgroups.scheduling.volcano.sh"].QueueingHintFn
	other := spGroup("g", 2)
	other.SetNamespace("other")
	groupTests := []struct {
		name string
		fn   framework.QueueingHintFn
		pod  *v1.Pod
		obj  interface{}
		want framework.QueueingHint
	}{
		{"its group", spHint, member, spGroup("g", 2), framework.Queue},
		{"another group", spHint, member, spGroup("h", 2), framework.QueueSkip},
		{"same name in another namespace", spHint, member, other, framework.QueueSkip},
		{"same name in another API", vcHint, member, vcGroup("g", 2), framework.QueueSkip},
		{"a pod without group", spHint, st.MakePod().Name("solo").Namespace(ns).Obj(), spGroup("g", 2), framework.QueueSkip},
		{"volcano member", vcHint, vcPod("w", "g").Obj(), vcGroup("g", 2), framework.Queue},
		{"not unstructured", spHint, member, "junk", framework.Queue},
	}
	for _, tc := range groupTests {
		t.Run("group/"+tc.name, func(t *testing.T) {
			got, err := tc.fn(logger, tc.pod, nil, tc.obj)
			if err != nil || got != tc.want {
				t.Errorf("hint = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestValidateArgs(t *testing.T) {
	path := field.NewPath("args")
	tests := []struct {
		name string
		apis []string
		want field.ErrorList
	}{
		{name: "none"},
		{name: "all three", apis: []string{"scheduling.k8s.io", "scheduling.x-k8s.io", "scheduling.volcano.sh"}},
		{
			name: "unknown",
			apis: []string{"scheduling.x-k8s.io", "batch"},
			want: field.ErrorList{field.NotSupported(path.Child("apis").Index(1), "batch", []string{"scheduling.k8s.io", "scheduling.x-k8s.io", "scheduling.volcano.sh"})},
		},
		{
			name: "duplicate",
			apis: []string{"scheduling.volcano.sh", "scheduling.k8s.io", "scheduling.volcano.sh"},
			want: field.ErrorList{field.Duplicate(path.Child("apis").Index(2), "scheduling.volcano.sh")},
		},
		{
			name: "version is not part of the name",
			apis: []string{"scheduling.x-k8s.io/v1alpha1"},
			want: field.ErrorList{field.NotSupported(path.Child("apis").Index(0), "scheduling.x-k8s.io/v1alpha1", []string{"scheduling.k8s.io", "scheduling.x-k8s.io", "scheduling.volcano.sh"})},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ValidateArgs(&Args{APIs: tc.apis}, path)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	// The types, which configuration tooling keys on.
	errs := ValidateArgs(&Args{APIs: []string{"x", "scheduling.k8s.io", "scheduling.k8s.io"}}, path)
	if len(errs) != 2 || errs[0].Type != field.ErrorTypeNotSupported || errs[1].Type != field.ErrorTypeDuplicate {
		t.Errorf("errors = %v, want NotSupported then Duplicate", errs)
	}
	if errs[0].Field != "args.apis[0]" || errs[1].Field != "args.apis[2]" {
		t.Errorf("fields = %q, %q", errs[0].Field, errs[1].Field)
	}
}

func TestSetDefaultArgs(t *testing.T) {
	a := &Args{}
	SetDefaultArgs(a)
	if diff := cmp.Diff([]string{"scheduling.k8s.io", "scheduling.x-k8s.io", "scheduling.volcano.sh"}, a.APIs); diff != "" {
		t.Errorf("default APIs (-want +got):\n%s", diff)
	}
	if a.UpdateStatus == nil || !*a.UpdateStatus {
		t.Errorf("default UpdateStatus = %v, want true", a.UpdateStatus)
	}
	off := false
	b := &Args{APIs: []string{"scheduling.volcano.sh"}, UpdateStatus: &off}
	SetDefaultArgs(b)
	if diff := cmp.Diff([]string{"scheduling.volcano.sh"}, b.APIs); diff != "" || *b.UpdateStatus {
		t.Errorf("set args changed: %v, %v", b.APIs, *b.UpdateStatus)
	}
}

func TestArgsDeepCopy(t *testing.T) {
	on := true
	a := &Args{APIs: []string{"scheduling.k8s.io"}, UpdateStatus: &on}
	c := a.DeepCopyObject().(*Args)
	c.APIs[0] = "changed"
	*c.UpdateStatus = false
	if a.APIs[0] != "scheduling.k8s.io" || !*a.UpdateStatus {
		t.Errorf("copy shares state with the original: %+v %v", a.APIs, *a.UpdateStatus)
	}
	var nilArgs *Args
	if nilArgs.DeepCopyObject() != nil {
		t.Error("nil Args copied to non-nil")
	}
}

// TestGroupChangeIsSeen: members held for a group's minimum pass once the
// group is changed to a minimum they meet (the plugin must not keep
// reading the group as it was), and are held again when it goes back up.
func TestGroupChangeIsSeen(t *testing.T) {
	a, b := spPod("a", "g").Obj(), spPod("b", "g").Obj()
	g := spGroup("g", 3)
	g.SetResourceVersion("1")
	f := newFixture(t, options{pods: []*v1.Pod{a, b}, groups: []*unstructured.Unstructured{g}})
	wantStatus(t, f.pl.PreEnqueue(f.ctx, a), framework.UnschedulableAndUnresolvable, "2 of minMember 3")

	update := func(min int64, rv string) {
		t.Helper()
		u, err := f.dyn.Resource(spGVR).Namespace(ns).Get(f.ctx, "g", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(u.Object, min, "spec", "minMember"); err != nil {
			t.Fatal(err)
		}
		u.SetResourceVersion(rv)
		if _, err := f.dyn.Resource(spGVR).Namespace(ns).Update(f.ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update(2, "2")
	waitFor(t, "the lowered minimum to let the members in", func() bool { return f.pl.PreEnqueue(f.ctx, a) == nil })
	if pg, st := f.pl.PodGroup(b); st != nil || pg == nil || pg.MinMember != 2 {
		t.Fatalf("PodGroup = %+v, %v; want minMember 2", pg, st)
	}
	update(4, "3")
	waitFor(t, "the raised minimum to hold the members", func() bool {
		st := f.pl.PreEnqueue(f.ctx, a)
		return st != nil && strings.Contains(st.Message(), "2 of minMember 4")
	})
	// An invalid change is reported, not masked by the earlier reading.
	update(-1, "4")
	waitFor(t, "the invalid group to be reported", func() bool {
		st := f.pl.PreEnqueue(f.ctx, a)
		return st != nil && strings.Contains(st.Message(), "spec.minMember")
	})
}
