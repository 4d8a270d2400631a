package v1alpha1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// fullAppGroup sets every field, so that a copy or conversion that drops
// or shares one shows up.
func fullAppGroup() *AppGroup {
	return &AppGroup{
		TypeMeta: metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: AppGroupKind.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name: "shop", Namespace: "web",
			Labels: map[string]string{"team": "checkout"},
		},
		Spec: AppGroupSpec{Workloads: []AppGroupWorkload{
			{
				Workload: AppGroupWorkloadInfo{Kind: "Deployment", Name: "frontend-deployment", Selector: "frontend", Namespace: "web"},
				Dependencies: []DependenciesInfo{
					{Workload: AppGroupWorkloadInfo{Kind: "Deployment", Name: "api-deployment", Selector: "api"}, MaxNetworkCost: 30},
				},
			},
			{Workload: AppGroupWorkloadInfo{Kind: "StatefulSet", Name: "db", Selector: "db"}},
		}},
	}
}

// mutate changes every slice and map reachable from ag in place.
func mutate(ag *AppGroup) {
	ag.Labels["team"] = "changed"
	ag.Spec.Workloads[0].Workload.Selector = "changed"
	ag.Spec.Workloads[0].Dependencies[0].MaxNetworkCost = 1
	ag.Spec.Workloads[0].Dependencies[0].Workload.Selector = "changed"
	ag.Spec.Workloads[1].Dependencies = append(ag.Spec.Workloads[1].Dependencies, DependenciesInfo{})
}

func TestDeepCopyIsIndependent(t *testing.T) {
	orig := fullAppGroup()
	c := orig.DeepCopy()
	if diff := cmp.Diff(orig, c); diff != "" {
		t.Fatalf("DeepCopy differs from the original (-orig +copy):\n%s", diff)
	}
	mutate(c)
	if diff := cmp.Diff(fullAppGroup(), orig); diff != "" {
		t.Errorf("mutating the copy changed the original (-want +got):\n%s", diff)
	}
	c = orig.DeepCopy()
	mutate(orig)
	if diff := cmp.Diff(fullAppGroup(), c); diff != "" {
		t.Errorf("mutating the original changed the copy (-want +got):\n%s", diff)
	}
}

func TestDeepCopyList(t *testing.T) {
	orig := &AppGroupList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []AppGroup{*fullAppGroup()}}
	c, ok := orig.DeepCopyObject().(*AppGroupList)
	if !ok {
		t.Fatalf("DeepCopyObject returned %T", orig.DeepCopyObject())
	}
	mutate(&c.Items[0])
	want := &AppGroupList{ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []AppGroup{*fullAppGroup()}}
	if diff := cmp.Diff(want, orig); diff != "" {
		t.Errorf("mutating the copied list changed the original (-want +got):\n%s", diff)
	}
	var nilGroup *AppGroup
	var nilList *AppGroupList
	if nilGroup.DeepCopyObject() != nil || nilList.DeepCopyObject() != nil {
		t.Error("nil copies to non-nil")
	}
}

// TestUnstructured reads an AppGroup as upstream's examples write it:
// the JSON names are the CRD's, and fields berth does not model are
// ignored rather than refused.
func TestUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appgroup.diktyo.x-k8s.io/v1alpha1",
		"kind":       "AppGroup",
		"metadata":   map[string]any{"name": "a1", "namespace": "default"},
		"spec": map[string]any{
			"numMembers":               int64(3),
			"topologySortingAlgorithm": "KahnSort",
			"workloads": []any{
				map[string]any{
					"workload": map[string]any{"kind": "Deployment", "name": "P1-deployment", "selector": "P1", "apiVersion": "apps/v1", "namespace": "default"},
					"dependencies": []any{map[string]any{
						"workload":       map[string]any{"kind": "Deployment", "name": "P2-deployment", "selector": "P2", "apiVersion": "apps/v1", "namespace": "default"},
						"minBandwidth":   "100Mi",
						"maxNetworkCost": int64(30),
					}},
				},
			},
		},
		"status": map[string]any{"runningWorkloads": int64(3)},
	}}
	var ag AppGroup
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &ag); err != nil {
		t.Fatal(err)
	}
	want := AppGroup{
		TypeMeta:   metav1.TypeMeta{APIVersion: "appgroup.diktyo.x-k8s.io/v1alpha1", Kind: "AppGroup"},
		ObjectMeta: metav1.ObjectMeta{Name: "a1", Namespace: "default"},
		Spec: AppGroupSpec{Workloads: []AppGroupWorkload{{
			Workload: AppGroupWorkloadInfo{Kind: "Deployment", Name: "P1-deployment", Selector: "P1", Namespace: "default"},
			Dependencies: []DependenciesInfo{{
				Workload:       AppGroupWorkloadInfo{Kind: "Deployment", Name: "P2-deployment", Selector: "P2", Namespace: "default"},
				MaxNetworkCost: 30,
			}},
		}}},
	}
	if diff := cmp.Diff(want, ag); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}

	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fullAppGroup())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{
		"metadata.name": "shop",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(m, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	ws, _, _ := unstructured.NestedSlice(m, "spec", "workloads")
	dep := ws[0].(map[string]any)["dependencies"].([]any)[0].(map[string]any)
	if dep["maxNetworkCost"] != int64(30) || dep["workload"].(map[string]any)["selector"] != "api" {
		t.Errorf("dependency renders as %v", dep)
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for obj, kind := range map[runtime.Object]string{&AppGroup{}: "AppGroup", &AppGroupList{}: "AppGroupList"} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0] != SchemeGroupVersion.WithKind(kind) {
			t.Errorf("ObjectKinds(%T) = %v, %v", obj, gvks, err)
		}
	}
	if AppGroupResource.String() != "appgroup.diktyo.x-k8s.io/v1alpha1, Resource=appgroups" {
		t.Errorf("AppGroupResource = %v", AppGroupResource)
	}
	if Resource("appgroups").String() != "appgroups.appgroup.diktyo.x-k8s.io" {
		t.Errorf("Resource = %v", Resource("appgroups"))
	}
	// Upstream's label names, verified against diktyo-io/appgroup-api and
	// scheduler-plugins' example deployments.
	if AppGroupLabel != "appgroup.diktyo.x-k8s.io" || AppGroupSelectorLabel != "appgroup.diktyo.x-k8s.io.workload" {
		t.Errorf("labels %q, %q", AppGroupLabel, AppGroupSelectorLabel)
	}
}
