package nodegen

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestNodeShapes(t *testing.T) {
	for _, p := range Profiles {
		types := map[string]bool{}
		for i := range 40 {
			n := Node(Options{Profile: p}, i)
			for _, k := range []string{v1.LabelHostname, v1.LabelOSStable, v1.LabelArchStable, v1.LabelTopologyZone, v1.LabelTopologyRegion, v1.LabelInstanceTypeStable, LabelDiskType} {
				if n.Labels[k] == "" {
					t.Fatalf("%s node %d: missing label %s", p, i, k)
				}
			}
			if n.Labels[v1.LabelHostname] != n.Name {
				t.Fatalf("hostname label %q != name %q", n.Labels[v1.LabelHostname], n.Name)
			}
			for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage, v1.ResourcePods} {
				c, a := n.Status.Capacity[r], n.Status.Allocatable[r]
				if c.IsZero() || a.IsZero() || a.Cmp(c) > 0 {
					t.Fatalf("%s node %d: bad %s capacity %s allocatable %s", p, i, r, c.String(), a.String())
				}
			}
			gpu := n.Status.Allocatable[ResourceGPU]
			if (p == ProfileGPU) != !gpu.IsZero() {
				t.Fatalf("%s node %d: gpu allocatable %s", p, i, gpu.String())
			}
			if p == ProfileGPU && gpu.Value() != 4 && gpu.Value() != 8 {
				t.Fatalf("gpu count %d, want 4 or 8", gpu.Value())
			}
			if !IsReady(n) || HasNotReadyTaint(n) {
				t.Fatalf("%s node %d not ready or tainted", p, i)
			}
			types[n.Labels[v1.LabelInstanceTypeStable]] = true
		}
		if p == ProfileMixed && len(types) < 4 {
			t.Errorf("mixed profile produced only %d instance types", len(types))
		}
	}
	if got := Node(Options{Zones: 3}, 4).Labels[v1.LabelTopologyZone]; got != "zone-b" {
		t.Errorf("zone of node 4 = %q, want zone-b", got)
	}
}

func TestCreateRemovesTaint(t *testing.T) {
	client := fake.NewClientset()
	// Mimic TaintNodesByCondition admission: add the not-ready taint on create.
	client.PrependReactor("create", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		n := a.(k8stesting.CreateAction).GetObject().(*v1.Node)
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule})
		return false, nil, nil
	})
	res, err := Create(context.Background(), client, Options{Count: 50, StartIndex: 10, Profile: ProfileMixed, Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 50 {
		t.Fatalf("created %d, want 50", res.Created)
	}
	list, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 50 {
		t.Fatalf("listed %d nodes", len(list.Items))
	}
	for i := range list.Items {
		n := &list.Items[i]
		if HasNotReadyTaint(n) || !IsReady(n) {
			t.Fatalf("node %s: tainted=%v ready=%v", n.Name, HasNotReadyTaint(n), IsReady(n))
		}
	}
	// A second run over the same indices reports a clear error.
	if _, err := Create(context.Background(), client, Options{Count: 5, StartIndex: 10}); err == nil {
		t.Fatal("expected already-exists error")
	}
}

func TestParseProfile(t *testing.T) {
	if _, err := ParseProfile("huge"); err == nil {
		t.Fatal("expected error")
	}
	if p, err := ParseProfile("gpu"); err != nil || p != ProfileGPU {
		t.Fatalf("got %v, %v", p, err)
	}
}
