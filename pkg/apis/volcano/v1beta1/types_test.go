package v1beta1

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// cmpOpts compares quantities and times by value: their structs hold
// caches and locations that differ between equal values.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }),
	cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) }),
}

// fullPodGroup sets every field, so that a copy or conversion that drops
// or shares one shows up.
func fullPodGroup() *PodGroup {
	return &PodGroup{
		TypeMeta: metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: PodGroupKind.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name: "mpi", Namespace: "hpc",
			Labels:      map[string]string{"team": "cfd"},
			Annotations: map[string]string{"note": "x"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch.volcano.sh/v1alpha1", Kind: "Job", Name: "mpi", UID: "u1", Controller: ptr.To(true),
			}},
		},
		Spec: PodGroupSpec{
			MinMember:         5,
			MinTaskMember:     map[string]int32{"launcher": 1, "worker": 4},
			Queue:             "research",
			PriorityClassName: "batch-high",
			MinResources: &v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse("40"),
				v1.ResourceMemory: resource.MustParse("160Gi"),
			},
		},
		Status: PodGroupStatus{
			Phase: PodGroupInqueue,
			Conditions: []PodGroupCondition{{
				Type:               PodGroupConditionUnschedulable,
				Status:             v1.ConditionTrue,
				TransitionID:       "session-1",
				LastTransitionTime: metav1.NewTime(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)),
				Reason:             "NotEnoughResources",
				Message:            "4/5 tasks in gang unschedulable",
			}},
			Running:   1,
			Succeeded: 2,
			Failed:    3,
		},
	}
}

// mutate changes every map, slice and pointer reachable from pg in place.
func mutate(pg *PodGroup) {
	pg.Labels["team"] = "changed"
	pg.Annotations["added"] = "y"
	pg.OwnerReferences[0].Name = "other"
	*pg.OwnerReferences[0].Controller = false
	pg.Spec.MinTaskMember["worker"] = 1
	pg.Spec.MinTaskMember["ps"] = 2
	(*pg.Spec.MinResources)[v1.ResourceCPU] = resource.MustParse("1")
	(*pg.Spec.MinResources)["example.com/new"] = resource.MustParse("1")
	pg.Status.Conditions[0].Reason = "changed"
	pg.Status.Conditions[0].LastTransitionTime.Time = pg.Status.Conditions[0].LastTransitionTime.Add(time.Hour)
}

func TestDeepCopyIsIndependent(t *testing.T) {
	orig := fullPodGroup()
	c := orig.DeepCopy()
	if diff := cmp.Diff(orig, c, cmpOpts); diff != "" {
		t.Fatalf("DeepCopy differs from the original (-orig +copy):\n%s", diff)
	}
	mutate(c)
	if diff := cmp.Diff(fullPodGroup(), orig, cmpOpts); diff != "" {
		t.Errorf("mutating the copy changed the original (-want +got):\n%s", diff)
	}

	// And the other way: the original's maps are not the copy's.
	c = orig.DeepCopy()
	mutate(orig)
	if diff := cmp.Diff(fullPodGroup(), c, cmpOpts); diff != "" {
		t.Errorf("mutating the original changed the copy (-want +got):\n%s", diff)
	}

	// The copy's MinResources points to a list of its own.
	orig = fullPodGroup()
	c = orig.DeepCopy()
	*c.Spec.MinResources = v1.ResourceList{}
	if len(*orig.Spec.MinResources) != 2 {
		t.Errorf("the copy shares the original's MinResources pointer: %v", *orig.Spec.MinResources)
	}
}

func TestDeepCopyListIsIndependent(t *testing.T) {
	orig := &PodGroupList{
		ListMeta: metav1.ListMeta{ResourceVersion: "7"},
		Items:    []PodGroup{*fullPodGroup(), *fullPodGroup()},
	}
	obj := orig.DeepCopyObject()
	c, ok := obj.(*PodGroupList)
	if !ok {
		t.Fatalf("DeepCopyObject returned %T", obj)
	}
	mutate(&c.Items[1])
	c.Items = append(c.Items[:1], PodGroup{})
	c.ResourceVersion = "8"
	want := &PodGroupList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []PodGroup{*fullPodGroup(), *fullPodGroup()}}
	if diff := cmp.Diff(want, orig, cmpOpts); diff != "" {
		t.Errorf("mutating the copied list changed the original (-want +got):\n%s", diff)
	}
}

func TestDeepCopyNilAndEmpty(t *testing.T) {
	var pg *PodGroup
	if pg.DeepCopy() != nil || pg.DeepCopyObject() != nil {
		t.Error("a nil PodGroup copies to non-nil")
	}
	var l *PodGroupList
	if l.DeepCopy() != nil || l.DeepCopyObject() != nil {
		t.Error("a nil PodGroupList copies to non-nil")
	}
	empty := (&PodGroup{}).DeepCopy()
	if empty.Spec.MinResources != nil || empty.Spec.MinTaskMember != nil || empty.Status.Conditions != nil {
		t.Errorf("copy of an empty PodGroup has spec %+v status %+v", empty.Spec, empty.Status)
	}
	// A pointer to a nil list stays a pointer to a nil list.
	nilList := (&PodGroupSpec{MinResources: new(v1.ResourceList)}).DeepCopy()
	if nilList.MinResources == nil || *nilList.MinResources != nil {
		t.Errorf("pointer to a nil list copied to %v", nilList.MinResources)
	}
}

func TestUnstructuredRoundTrip(t *testing.T) {
	orig := fullPodGroup()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(orig)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	// The field names are the CRD's: a wrong JSON tag would silently
	// read nothing from a real object.
	if u.GroupVersionKind() != PodGroupKind {
		t.Errorf("GVK %v, want %v", u.GroupVersionKind(), PodGroupKind)
	}
	for path, want := range map[string]any{
		"spec.minMember":            int64(5),
		"spec.minTaskMember.worker": int64(4),
		"spec.queue":                "research",
		"spec.priorityClassName":    "batch-high",
		"spec.minResources.cpu":     "40",
		"spec.minResources.memory":  "160Gi",
		"status.phase":              "Inqueue",
		"status.running":            int64(1),
		"status.succeeded":          int64(2),
		"status.failed":             int64(3),
		"metadata.labels.team":      "cfd",
	} {
		got, found, err := unstructured.NestedFieldNoCopy(m, strings.Split(path, ".")...)
		if err != nil || !found || got != want {
			t.Errorf("%s = %v (%T), found %v, err %v; want %v", path, got, got, found, err, want)
		}
	}
	conds, _, _ := unstructured.NestedSlice(m, "status", "conditions")
	wantCond := map[string]any{
		"type": "Unschedulable", "status": "True", "transitionID": "session-1",
		"lastTransitionTime": "2026-05-04T03:02:01Z", "reason": "NotEnoughResources",
		"message": "4/5 tasks in gang unschedulable",
	}
	if len(conds) != 1 || !cmp.Equal(conds[0], any(wantCond)) {
		t.Errorf("status.conditions = %v, want [%v]", conds, wantCond)
	}

	var back PodGroup
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orig, &back, cmpOpts); diff != "" {
		t.Errorf("round trip through unstructured changed the PodGroup (-want +got):\n%s", diff)
	}

	// An empty group has no spec fields at all, so a PodGroup sent from
	// Go lets the CRD default the queue.
	m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(&PodGroup{})
	if err != nil {
		t.Fatal(err)
	}
	if s := m["spec"]; len(s.(map[string]any)) != 0 {
		t.Errorf("empty spec renders as %v", s)
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for obj, kind := range map[runtime.Object]string{&PodGroup{}: "PodGroup", &PodGroupList{}: "PodGroupList"} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0] != SchemeGroupVersion.WithKind(kind) {
			t.Errorf("ObjectKinds(%T) = %v, %v; want %s", obj, gvks, err, SchemeGroupVersion.WithKind(kind))
		}
	}
	if PodGroupResource.String() != "scheduling.volcano.sh/v1beta1, Resource=podgroups" {
		t.Errorf("PodGroupResource = %v", PodGroupResource)
	}
	if Resource("podgroups").String() != "podgroups.scheduling.volcano.sh" {
		t.Errorf("Resource(podgroups) = %v", Resource("podgroups"))
	}
	if GroupNameAnnotation != "scheduling.k8s.io/group-name" {
		t.Errorf("GroupNameAnnotation = %q", GroupNameAnnotation)
	}
}
