package v1alpha1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fullTopology sets every field, so that a copy or conversion that drops
// or shares one shows up.
func fullTopology() *NetworkTopology {
	return &NetworkTopology{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: NetworkTopologyKind.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: "nt-default", Namespace: "default", Labels: map[string]string{"a": "b"}},
		Spec: NetworkTopologySpec{Weights: []WeightInfo{{
			Name: UserDefinedWeights,
			TopologyList: []TopologyInfo{{
				TopologyKey: "topology.kubernetes.io/zone",
				OriginList: []OriginInfo{
					{Origin: "z1", CostList: []CostInfo{{Destination: "z2", NetworkCost: 5}}},
					{Origin: "z2", CostList: []CostInfo{{Destination: "z1", NetworkCost: 5}}},
				},
			}},
		}}},
	}
}

func mutate(nt *NetworkTopology) {
	nt.Labels["a"] = "changed"
	nt.Spec.Weights[0].Name = "changed"
	nt.Spec.Weights[0].TopologyList[0].TopologyKey = "changed"
	nt.Spec.Weights[0].TopologyList[0].OriginList[0].Origin = "changed"
	nt.Spec.Weights[0].TopologyList[0].OriginList[0].CostList[0].NetworkCost = 99
}

func TestDeepCopyIsIndependent(t *testing.T) {
	orig := fullTopology()
	c := orig.DeepCopy()
	if diff := cmp.Diff(orig, c); diff != "" {
		t.Fatalf("DeepCopy differs (-orig +copy):\n%s", diff)
	}
	mutate(c)
	if diff := cmp.Diff(fullTopology(), orig); diff != "" {
		t.Errorf("mutating the copy changed the original (-want +got):\n%s", diff)
	}
	l := &NetworkTopologyList{Items: []NetworkTopology{*fullTopology()}}
	lc := l.DeepCopyObject().(*NetworkTopologyList)
	mutate(&lc.Items[0])
	if diff := cmp.Diff(*fullTopology(), l.Items[0]); diff != "" {
		t.Errorf("mutating the copied list changed the original (-want +got):\n%s", diff)
	}
	var n *NetworkTopology
	var nl *NetworkTopologyList
	if n.DeepCopyObject() != nil || nl.DeepCopyObject() != nil {
		t.Error("nil copies to non-nil")
	}
}

// TestUnstructured reads a NetworkTopology with the CRD's field names;
// fields berth does not model are ignored.
func TestUnstructured(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "networktopology.diktyo.x-k8s.io/v1alpha1",
		"kind":       "NetworkTopology",
		"metadata":   map[string]any{"name": "nt-default", "namespace": "default"},
		"spec": map[string]any{
			"configmapName": "netperf-metrics",
			"weights": []any{map[string]any{
				"name": "UserDefined",
				"topologyList": []any{map[string]any{
					"topologyKey": "topology.kubernetes.io/region",
					"originList": []any{map[string]any{
						"origin":                "us-west-1",
						"originInterStatistics": map[string]any{"maxCost": int64(3)},
						"costList": []any{map[string]any{
							"destination": "us-east-1", "bandwidthCapacity": "10Gi", "isAllowed": true, "networkCost": int64(20),
						}},
					}},
				}},
			}},
		},
		"status": map[string]any{"nodeCount": int64(4)},
	}
	var nt NetworkTopology
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &nt); err != nil {
		t.Fatal(err)
	}
	want := NetworkTopologySpec{Weights: []WeightInfo{{Name: "UserDefined", TopologyList: []TopologyInfo{{
		TopologyKey: "topology.kubernetes.io/region",
		OriginList:  []OriginInfo{{Origin: "us-west-1", CostList: []CostInfo{{Destination: "us-east-1", NetworkCost: 20}}}},
	}}}}}
	if diff := cmp.Diff(want, nt.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for obj, kind := range map[runtime.Object]string{&NetworkTopology{}: "NetworkTopology", &NetworkTopologyList{}: "NetworkTopologyList"} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0] != SchemeGroupVersion.WithKind(kind) {
			t.Errorf("ObjectKinds(%T) = %v, %v", obj, gvks, err)
		}
	}
	if NetworkTopologyResource.String() != "networktopology.diktyo.x-k8s.io/v1alpha1, Resource=networktopologies" {
		t.Errorf("NetworkTopologyResource = %v", NetworkTopologyResource)
	}
	if Resource("networktopologies").String() != "networktopologies.networktopology.diktyo.x-k8s.io" {
		t.Errorf("Resource = %v", Resource("networktopologies"))
	}
}
