package gang_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	schedv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/placement/gang"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
}

var created = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// podWith builds a pod in namespace ns naming groups the three ways; an
// argument left nil is not set at all (a pointer to "" sets it empty).
func podWith(ns string, spec, label, annotation *string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
	if spec != nil {
		p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{PodGroupName: spec}
	}
	if label != nil {
		p.Labels = map[string]string{xv1alpha1.PodGroupLabel: *label}
	}
	if annotation != nil {
		p.Annotations = map[string]string{volcanov1beta1.GroupNameAnnotation: *annotation}
	}
	return p
}

func TestConstants(t *testing.T) {
	// The pod-side keys are fixed by the other projects; a typo here
	// would silently make berth ignore every gang of that API.
	if xv1alpha1.PodGroupLabel != "scheduling.x-k8s.io/pod-group" {
		t.Errorf("scheduler-plugins label = %q", xv1alpha1.PodGroupLabel)
	}
	if volcanov1beta1.GroupNameAnnotation != "scheduling.k8s.io/group-name" {
		t.Errorf("Volcano annotation = %q", volcanov1beta1.GroupNameAnnotation)
	}
	want := []gang.API{"scheduling.k8s.io", "scheduling.x-k8s.io", "scheduling.volcano.sh"}
	if diff := cmp.Diff(want, gang.APIs); diff != "" {
		t.Errorf("APIs in reading order (-want +got):\n%s", diff)
	}
	for api, gvr := range map[gang.API]string{
		gang.Upstream:         "scheduling.k8s.io/v1beta1, Resource=podgroups",
		gang.SchedulerPlugins: "scheduling.x-k8s.io/v1alpha1, Resource=podgroups",
		gang.Volcano:          "scheduling.volcano.sh/v1beta1, Resource=podgroups",
	} {
		if got := api.Resource().String(); got != gvr {
			t.Errorf("%s.Resource() = %s, want %s", api, got, gvr)
		}
	}
}

func TestPodRef(t *testing.T) {
	s := func(v string) *string { return &v }
	tests := []struct {
		name                    string
		spec, label, annotation *string
		mutate                  func(p *v1.Pod)
		wantOK                  bool
		wantAPI                 gang.API
		wantName                string
	}{
		{name: "nothing", wantOK: false},
		{name: "spec only", spec: s("up"), wantOK: true, wantAPI: gang.Upstream, wantName: "up"},
		{name: "label only", label: s("sp"), wantOK: true, wantAPI: gang.SchedulerPlugins, wantName: "sp"},
		{name: "annotation only", annotation: s("vc"), wantOK: true, wantAPI: gang.Volcano, wantName: "vc"},
		{name: "spec beats label and annotation", spec: s("up"), label: s("sp"), annotation: s("vc"), wantOK: true, wantAPI: gang.Upstream, wantName: "up"},
		{name: "label beats annotation", label: s("sp"), annotation: s("vc"), wantOK: true, wantAPI: gang.SchedulerPlugins, wantName: "sp"},
		{name: "empty spec name is ignored", spec: s(""), label: s("sp"), wantOK: true, wantAPI: gang.SchedulerPlugins, wantName: "sp"},
		{name: "empty label is ignored", label: s(""), annotation: s("vc"), wantOK: true, wantAPI: gang.Volcano, wantName: "vc"},
		{name: "empty spec and label fall through to annotation", spec: s(""), label: s(""), annotation: s("vc"), wantOK: true, wantAPI: gang.Volcano, wantName: "vc"},
		{name: "everything empty", spec: s(""), label: s(""), annotation: s(""), wantOK: false},
		{
			name: "schedulingGroup without podGroupName", label: s("sp"),
			mutate: func(p *v1.Pod) { p.Spec.SchedulingGroup = &v1.PodSchedulingGroup{} },
			wantOK: true, wantAPI: gang.SchedulerPlugins, wantName: "sp",
		},
		{
			name: "Volcano's own group-name annotation is not the one its scheduler reads",
			mutate: func(p *v1.Pod) {
				p.Annotations = map[string]string{"scheduling.volcano.sh/group-name": "vc"}
			},
			wantOK: false,
		},
		{
			name: "the scheduler-plugins key as an annotation is not a label",
			mutate: func(p *v1.Pod) {
				p.Annotations = map[string]string{xv1alpha1.PodGroupLabel: "sp"}
			},
			wantOK: false,
		},
		{
			name: "the Volcano key as a label is not an annotation",
			mutate: func(p *v1.Pod) {
				p.Labels = map[string]string{volcanov1beta1.GroupNameAnnotation: "vc"}
			},
			wantOK: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := podWith("ns1", tc.spec, tc.label, tc.annotation)
			if tc.mutate != nil {
				tc.mutate(p)
			}
			ref, ok := gang.PodRef(p)
			if ok != tc.wantOK {
				t.Fatalf("PodRef ok = %v, want %v (ref %+v)", ok, tc.wantOK, ref)
			}
			key := gang.PodKey(p)
			if !tc.wantOK {
				if ref != (gang.Ref{}) {
					t.Errorf("ref = %+v, want zero", ref)
				}
				if key != "" {
					t.Errorf("PodKey = %q, want empty", key)
				}
				return
			}
			if ref.API != tc.wantAPI || ref.Name != tc.wantName {
				t.Errorf("ref = %+v, want %s %q", ref, tc.wantAPI, tc.wantName)
			}
			if want := string(tc.wantAPI) + "/ns1/" + tc.wantName; key != want {
				t.Errorf("PodKey = %q, want %q", key, want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	if got := gang.Key(gang.Volcano, "ns", "g"); got != "scheduling.volcano.sh/ns/g" {
		t.Errorf("Key = %q", got)
	}
	g := &gang.Group{API: gang.SchedulerPlugins, Namespace: "a", Name: "b"}
	if got := g.Key(); got != "scheduling.x-k8s.io/a/b" {
		t.Errorf("Group.Key = %q", got)
	}
	// The same name in two namespaces or two APIs is two groups.
	if gang.Key(gang.Volcano, "a", "g") == gang.Key(gang.Volcano, "b", "g") ||
		gang.Key(gang.Volcano, "a", "g") == gang.Key(gang.SchedulerPlugins, "a", "g") {
		t.Error("keys collide")
	}
}

// obj builds an unstructured PodGroup.
func obj(apiVersion, ns, name string, annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       "PodGroup",
		"metadata": map[string]any{
			"name":              name,
			"namespace":         ns,
			"creationTimestamp": created.Format(time.RFC3339),
		},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	return u
}

func upstreamObj(annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	return obj("scheduling.k8s.io/v1beta1", "ns", "g", annotations, spec)
}

func spObj(annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	return obj("scheduling.x-k8s.io/v1alpha1", "ns", "g", annotations, spec)
}

func vcObj(annotations map[string]string, spec map[string]any) *unstructured.Unstructured {
	return obj("scheduling.volcano.sh/v1beta1", "ns", "g", annotations, spec)
}

func TestFromObject(t *testing.T) {
	topo := map[string]string{gang.TopologyKeyAnnotation: "example.com/rack"}
	tests := []struct {
		name string
		api  gang.API
		obj  interface{}
		want *gang.Group
	}{
		// Kubernetes' PodGroup, unstructured.
		{
			name: "upstream gang",
			api:  gang.Upstream,
			obj:  upstreamObj(nil, map[string]any{"schedulingPolicy": map[string]any{"gang": map[string]any{"minCount": int64(4)}}}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: true, MinMember: 4, Created: created},
		},
		{
			name: "upstream basic policy is no gang",
			api:  gang.Upstream,
			obj:  upstreamObj(nil, map[string]any{"schedulingPolicy": map[string]any{"basic": map[string]any{}}}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: false, MinMember: 1, Created: created},
		},
		{
			name: "upstream without any policy is no gang",
			api:  gang.Upstream,
			obj:  upstreamObj(nil, nil),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", MinMember: 1, Created: created},
		},
		{
			name: "upstream topology constraint",
			api:  gang.Upstream,
			obj: upstreamObj(nil, map[string]any{
				"schedulingPolicy":      map[string]any{"gang": map[string]any{"minCount": int64(2)}},
				"schedulingConstraints": map[string]any{"topology": []any{map[string]any{"key": "topology.kubernetes.io/zone"}}},
			}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, TopologyKey: "topology.kubernetes.io/zone", Created: created},
		},
		{
			name: "upstream constraint takes precedence over the annotation",
			api:  gang.Upstream,
			obj: upstreamObj(topo, map[string]any{
				"schedulingPolicy":      map[string]any{"gang": map[string]any{"minCount": int64(2)}},
				"schedulingConstraints": map[string]any{"topology": []any{map[string]any{"key": "topology.kubernetes.io/zone"}}},
			}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, TopologyKey: "topology.kubernetes.io/zone", Created: created},
		},
		{
			name: "upstream empty constraint list leaves the annotation",
			api:  gang.Upstream,
			obj: upstreamObj(topo, map[string]any{
				"schedulingPolicy":      map[string]any{"gang": map[string]any{"minCount": int64(2)}},
				"schedulingConstraints": map[string]any{},
			}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, TopologyKey: "example.com/rack", Created: created},
		},
		{
			name: "upstream basic policy with the annotation keeps the topology",
			api:  gang.Upstream,
			obj:  upstreamObj(topo, map[string]any{"schedulingPolicy": map[string]any{"basic": map[string]any{}}}),
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", MinMember: 1, TopologyKey: "example.com/rack", Created: created},
		},
		// scheduler-plugins, unstructured.
		{
			name: "scheduler-plugins full spec",
			api:  gang.SchedulerPlugins,
			obj: spObj(nil, map[string]any{
				"minMember":              int64(3),
				"minResources":           map[string]any{"cpu": "4", "memory": "8Gi"},
				"scheduleTimeoutSeconds": int64(90),
			}),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 3,
				MinResources:    v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("8Gi")},
				ScheduleTimeout: 90 * time.Second, Created: created},
		},
		{
			name: "scheduler-plugins minMember 0 means 1",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, map[string]any{"minMember": int64(0)}),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 1, Created: created},
		},
		{
			name: "scheduler-plugins without spec",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, nil),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 1, Created: created},
		},
		{
			name: "scheduler-plugins timeout 0 is no limit",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, map[string]any{"minMember": int64(2), "scheduleTimeoutSeconds": int64(0)}),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, Created: created},
		},
		{
			name: "scheduler-plugins topology annotation, trimmed",
			api:  gang.SchedulerPlugins,
			obj:  spObj(map[string]string{gang.TopologyKeyAnnotation: "  example.com/rack \t"}, map[string]any{"minMember": int64(2)}),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, TopologyKey: "example.com/rack", Created: created},
		},
		{
			name: "blank topology annotation is none",
			api:  gang.SchedulerPlugins,
			obj:  spObj(map[string]string{gang.TopologyKeyAnnotation: "   "}, map[string]any{"minMember": int64(2)}),
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, Created: created},
		},
		// Volcano, unstructured.
		{
			name: "volcano with minResources",
			api:  gang.Volcano,
			obj: vcObj(topo, map[string]any{
				"minMember":    int64(5),
				"queue":        "research",
				"minResources": map[string]any{"nvidia.com/gpu": "8"},
			}),
			want: &gang.Group{API: gang.Volcano, Namespace: "ns", Name: "g", Gang: true, MinMember: 5,
				MinResources: v1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}, TopologyKey: "example.com/rack", Created: created},
		},
		{
			name: "volcano without minResources",
			api:  gang.Volcano,
			obj:  vcObj(nil, map[string]any{"minMember": int64(2)}),
			want: &gang.Group{API: gang.Volcano, Namespace: "ns", Name: "g", Gang: true, MinMember: 2, Created: created},
		},
		{
			name: "volcano minMember 0 means 1",
			api:  gang.Volcano,
			obj:  vcObj(nil, map[string]any{}),
			want: &gang.Group{API: gang.Volcano, Namespace: "ns", Name: "g", Gang: true, MinMember: 1, Created: created},
		},
		// Typed objects.
		{
			name: "typed upstream gang with topology",
			api:  gang.Upstream,
			obj: &schedv1beta1.PodGroup{
				ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(created), Annotations: topo},
				Spec: schedv1beta1.PodGroupSpec{
					SchedulingPolicy:      schedv1beta1.PodGroupSchedulingPolicy{Gang: &schedv1beta1.GangSchedulingPolicy{MinCount: 6}},
					SchedulingConstraints: &schedv1beta1.PodGroupSchedulingConstraints{Topology: []schedv1beta1.TopologyConstraint{{Key: "topology.kubernetes.io/zone"}}},
				},
			},
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", Gang: true, MinMember: 6, TopologyKey: "topology.kubernetes.io/zone", Created: created},
		},
		{
			name: "typed upstream basic",
			api:  gang.Upstream,
			obj: &schedv1beta1.PodGroup{
				ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)},
				Spec:       schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{Basic: &schedv1beta1.BasicSchedulingPolicy{}}},
			},
			want: &gang.Group{API: gang.Upstream, Namespace: "ns", Name: "g", MinMember: 1, Created: created},
		},
		{
			name: "typed scheduler-plugins",
			api:  gang.SchedulerPlugins,
			obj: &xv1alpha1.PodGroup{
				ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(created), Annotations: topo},
				Spec: xv1alpha1.PodGroupSpec{MinMember: 4, MinResources: v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")},
					ScheduleTimeoutSeconds: ptr.To[int32](30)},
			},
			want: &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 4,
				MinResources: v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m")}, ScheduleTimeout: 30 * time.Second,
				TopologyKey: "example.com/rack", Created: created},
		},
		{
			name: "typed volcano with minResources pointer",
			api:  gang.Volcano,
			obj: &volcanov1beta1.PodGroup{
				ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)},
				Spec:       volcanov1beta1.PodGroupSpec{MinMember: 3, MinResources: &v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")}},
			},
			want: &gang.Group{API: gang.Volcano, Namespace: "ns", Name: "g", Gang: true, MinMember: 3,
				MinResources: v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")}, Created: created},
		},
		{
			name: "typed volcano minMember 0",
			api:  gang.Volcano,
			obj:  &volcanov1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns", CreationTimestamp: metav1.NewTime(created)}},
			want: &gang.Group{API: gang.Volcano, Namespace: "ns", Name: "g", Gang: true, MinMember: 1, Created: created},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := gang.FromObject(tc.api, tc.obj)
			if err != nil {
				t.Fatalf("FromObject: %v", err)
			}
			if !got.Created.Equal(tc.want.Created) {
				t.Errorf("Created = %v, want %v", got.Created, tc.want.Created)
			}
			got.Created = tc.want.Created // compared above; locations differ
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("group (-want +got):\n%s", diff)
			}
			if got.Key() != gang.Key(tc.want.API, "ns", "g") {
				t.Errorf("Key = %q", got.Key())
			}
		})
	}
}

// TestFromObjectVolcanoNilMinResources: Volcano's minResources is a
// pointer; an unset one gives no MinResources (not an empty list, not a
// panic).
func TestFromObjectVolcanoNilMinResources(t *testing.T) {
	g, err := gang.FromObject(gang.Volcano, &volcanov1beta1.PodGroup{Spec: volcanov1beta1.PodGroupSpec{MinMember: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if g.MinResources != nil {
		t.Errorf("MinResources = %v, want nil", g.MinResources)
	}
}

func TestFromObjectErrors(t *testing.T) {
	tests := []struct {
		name string
		api  gang.API
		obj  interface{}
		want []string
	}{
		{
			name: "upstream minCount 0",
			api:  gang.Upstream,
			obj:  upstreamObj(nil, map[string]any{"schedulingPolicy": map[string]any{"gang": map[string]any{"minCount": int64(0)}}}),
			want: []string{"spec.schedulingPolicy.gang.minCount", "ns/g", "0"},
		},
		{
			name: "upstream minCount negative",
			api:  gang.Upstream,
			obj:  upstreamObj(nil, map[string]any{"schedulingPolicy": map[string]any{"gang": map[string]any{"minCount": int64(-2)}}}),
			want: []string{"spec.schedulingPolicy.gang.minCount", "-2"},
		},
		{
			name: "typed upstream minCount 0",
			api:  gang.Upstream,
			obj: &schedv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns"},
				Spec: schedv1beta1.PodGroupSpec{SchedulingPolicy: schedv1beta1.PodGroupSchedulingPolicy{Gang: &schedv1beta1.GangSchedulingPolicy{}}}},
			want: []string{"spec.schedulingPolicy.gang.minCount"},
		},
		{
			name: "scheduler-plugins negative minMember",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, map[string]any{"minMember": int64(-1)}),
			want: []string{"spec.minMember", "ns/g", "-1", "scheduling.x-k8s.io"},
		},
		{
			name: "scheduler-plugins negative timeout",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, map[string]any{"minMember": int64(2), "scheduleTimeoutSeconds": int64(-5)}),
			want: []string{"spec.scheduleTimeoutSeconds", "-5"},
		},
		{
			name: "typed scheduler-plugins negative timeout",
			api:  gang.SchedulerPlugins,
			obj: &xv1alpha1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "ns"},
				Spec: xv1alpha1.PodGroupSpec{MinMember: 1, ScheduleTimeoutSeconds: ptr.To[int32](-1)}},
			want: []string{"spec.scheduleTimeoutSeconds"},
		},
		{
			name: "volcano negative minMember",
			api:  gang.Volcano,
			obj:  vcObj(nil, map[string]any{"minMember": int64(-3)}),
			want: []string{"spec.minMember", "-3", "scheduling.volcano.sh"},
		},
		{
			name: "unknown API",
			api:  gang.API("example.com"),
			obj:  obj("example.com/v1", "ns", "g", nil, nil),
			want: []string{"example.com"},
		},
		{
			name: "field of the wrong type",
			api:  gang.SchedulerPlugins,
			obj:  spObj(nil, map[string]any{"minMember": "three"}),
			want: []string{"ns/g", "scheduling.x-k8s.io"},
		},
		{
			name: "not a PodGroup",
			api:  gang.SchedulerPlugins,
			obj:  &v1.Pod{},
			want: []string{"not a PodGroup"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := gang.FromObject(tc.api, tc.obj)
			if err == nil {
				t.Fatalf("FromObject = %+v, want an error", g)
			}
			if g != nil {
				t.Errorf("group %+v returned with the error", g)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	g := &gang.Group{API: gang.SchedulerPlugins, Namespace: "ns", Name: "g", Gang: true, MinMember: 3, TopologyKey: "zone", ScheduleTimeout: time.Minute}
	d := g.Describe()
	for _, w := range []string{"ns/g", "scheduling.x-k8s.io", "minMember 3", "zone", "1m0s"} {
		if !strings.Contains(d, w) {
			t.Errorf("Describe() = %q, missing %q", d, w)
		}
	}
	basic := (&gang.Group{API: gang.Upstream, Namespace: "ns", Name: "b", MinMember: 1}).Describe()
	if !strings.Contains(basic, "no gang policy") || strings.Contains(basic, "minMember") || strings.Contains(basic, "timeout") {
		t.Errorf("Describe() of a basic group = %q", basic)
	}
}

func mkPod(name string, phase v1.PodPhase, node string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PodSpec{NodeName: node}, Status: v1.PodStatus{Phase: phase}}
}

func TestCountMembers(t *testing.T) {
	pending := mkPod("pending", v1.PodPending, "")
	assumed := mkPod("assumed", v1.PodPending, "")
	pods := []*v1.Pod{
		pending,
		assumed,
		mkPod("bound", v1.PodPending, "n1"),
		mkPod("running", v1.PodRunning, "n1"),
		mkPod("running2", v1.PodRunning, "n2"),
		mkPod("unknown", v1.PodUnknown, "n2"),
		mkPod("nophase", "", ""),
		mkPod("succeeded", v1.PodSucceeded, "n1"),
		mkPod("failed", v1.PodFailed, "n2"),
		mkPod("failed2", v1.PodFailed, ""),
	}
	// Members: every pod but the 3 terminated = 7. Scheduled: bound,
	// running, running2, unknown (node set) = 4, plus assumed with the
	// callback = 5.
	got := gang.CountMembers(pods, nil)
	want := gang.Counts{Members: 7, Scheduled: 4, Running: 2, Succeeded: 1, Failed: 2}
	if got != want {
		t.Errorf("CountMembers(nil) = %+v, want %+v", got, want)
	}
	got = gang.CountMembers(pods, func(p *v1.Pod) bool { return p == assumed })
	want.Scheduled = 5
	if got != want {
		t.Errorf("CountMembers(assumed) = %+v, want %+v", got, want)
	}
	// A terminated pod is not counted as scheduled even if assumed says so.
	got = gang.CountMembers([]*v1.Pod{mkPod("s", v1.PodSucceeded, "n1")}, func(*v1.Pod) bool { return true })
	if want := (gang.Counts{Succeeded: 1}); got != want {
		t.Errorf("CountMembers(succeeded) = %+v, want %+v", got, want)
	}
	if got := gang.CountMembers(nil, nil); got != (gang.Counts{}) {
		t.Errorf("CountMembers(nil) = %+v", got)
	}
}

func TestSchedulerPluginsPhase(t *testing.T) {
	tests := []struct {
		name string
		min  int
		c    gang.Counts
		want xv1alpha1.PodGroupPhase
	}{
		{"nothing yet", 3, gang.Counts{}, xv1alpha1.PodGroupPending},
		{"fewer members than the minimum", 3, gang.Counts{Members: 2}, xv1alpha1.PodGroupPending},
		{"enough members, none running", 3, gang.Counts{Members: 3}, xv1alpha1.PodGroupScheduling},
		{"enough members, some scheduled", 3, gang.Counts{Members: 4, Scheduled: 2, Running: 1}, xv1alpha1.PodGroupScheduling},
		{"succeeded members count towards the minimum of existing", 3, gang.Counts{Members: 2, Succeeded: 1}, xv1alpha1.PodGroupScheduling},
		{"minimum running", 3, gang.Counts{Members: 3, Scheduled: 3, Running: 3}, xv1alpha1.PodGroupRunning},
		{"running and succeeded make the minimum", 3, gang.Counts{Members: 2, Scheduled: 2, Running: 2, Succeeded: 1}, xv1alpha1.PodGroupRunning},
		{"minimum succeeded", 3, gang.Counts{Succeeded: 3}, xv1alpha1.PodGroupFinished},
		{"finished wins over failures", 2, gang.Counts{Succeeded: 2, Failed: 4}, xv1alpha1.PodGroupFinished},
		{"a failure and the rest running cannot make the minimum", 3, gang.Counts{Members: 2, Scheduled: 2, Running: 2, Failed: 1}, xv1alpha1.PodGroupFailed},
		{"all failed", 2, gang.Counts{Failed: 2}, xv1alpha1.PodGroupFailed},
		{"a failure, but enough pending members remain", 3, gang.Counts{Members: 3, Scheduled: 1, Running: 1, Failed: 1}, xv1alpha1.PodGroupScheduling},
		{"a failure with too few others to reach the minimum at all", 4, gang.Counts{Members: 1, Failed: 1}, xv1alpha1.PodGroupPending},
		{"minimum 1", 1, gang.Counts{Members: 1}, xv1alpha1.PodGroupScheduling},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gang.SchedulerPluginsPhase(tc.min, tc.c); got != tc.want {
				t.Errorf("SchedulerPluginsPhase(%d, %+v) = %s, want %s", tc.min, tc.c, got, tc.want)
			}
		})
	}
}

func TestVolcanoPhase(t *testing.T) {
	tests := []struct {
		name    string
		min     int
		c       gang.Counts
		binding bool
		want    volcanov1beta1.PodGroupPhase
	}{
		{"nothing yet", 2, gang.Counts{}, false, volcanov1beta1.PodGroupPending},
		{"members exist, none placed", 2, gang.Counts{Members: 3}, false, volcanov1beta1.PodGroupPending},
		{"fewer placed than the minimum", 2, gang.Counts{Members: 3, Scheduled: 1}, false, volcanov1beta1.PodGroupPending},
		{"minimum being bound", 2, gang.Counts{Members: 3}, true, volcanov1beta1.PodGroupInqueue},
		// Volcano's scheduler calls a group Running once its minimum is
		// allocated, before any container starts.
		{"minimum placed", 2, gang.Counts{Members: 3, Scheduled: 2}, false, volcanov1beta1.PodGroupRunning},
		{"minimum placed, one running", 2, gang.Counts{Members: 2, Scheduled: 2, Running: 1}, false, volcanov1beta1.PodGroupRunning},
		{"minimum succeeded", 2, gang.Counts{Succeeded: 2}, false, volcanov1beta1.PodGroupCompleted},
		{"one succeeded, one placed", 2, gang.Counts{Members: 1, Scheduled: 1, Succeeded: 1}, false, volcanov1beta1.PodGroupRunning},
		{"failures alone are pending", 2, gang.Counts{Failed: 2}, false, volcanov1beta1.PodGroupPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gang.VolcanoPhase(tc.min, tc.c, tc.binding); got != tc.want {
				t.Errorf("VolcanoPhase(%d, %+v, %v) = %s, want %s", tc.min, tc.c, tc.binding, got, tc.want)
			}
		})
	}
}
