package bench

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/testenv"
)

func TestDRAWorkloadValidation(t *testing.T) {
	const base = `
name: D
nodes: {profile: basic, zones: 3}
scales:
  full:  {nodes: 4, measuredPods: 4}
  small: {nodes: 4, measuredPods: 4}
  tiny:  {nodes: 4, measuredPods: 4}
`
	const dra = `
dra:
  gpuNodes: [{weight: 1, count: %COUNT%}]
  claimTemplates:
  - metadata: {name: one-gpu}
    spec: {spec: {devices: {requests: [{name: gpu, exactly: {deviceClassName: gpu.devcluster.berth.io, allocationMode: %MODE%}}]}}}
`
	const pods = `
measuredPods:
- name: p
  weight: 1
  template: {spec: {containers: [{name: c, image: pause}], resourceClaims: [{name: gpu, resourceClaimTemplateName: %TEMPLATE%}]}}
`
	mk := func(kcm bool, count, mode, template string) string {
		y := base + strings.NewReplacer("%COUNT%", count, "%MODE%", mode).Replace(dra) + strings.ReplaceAll(pods, "%TEMPLATE%", template)
		if kcm {
			y += "controllerManager: true\n"
		}
		return y
	}
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"ok", mk(true, "8", "ExactCount", "one-gpu"), ""},
		{"without kcm", mk(false, "8", "ExactCount", "one-gpu"), "dra needs controllerManager"},
		{"unknown template", mk(true, "8", "ExactCount", "two-gpus"), "must name one of dra.claimTemplates"},
		{"too many cards", mk(true, "129", "ExactCount", "one-gpu"), "count from 0 to 128"},
		{"all devices", mk(true, "8", "All", "one-gpu"), "must be an exact-count request"},
		{"claims without dra", base + strings.ReplaceAll(pods, "%TEMPLATE%", "one-gpu"), "set dra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(tc.yaml))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}

	w := mustWorkload(t, "DynamicResources")
	var gpuNodes, cards int
	c, _ := w.Counts(ScaleFull)
	for i := range c.Nodes {
		if g := w.DRA.gpuNodesFor(i); g.Count > 0 {
			gpuNodes++
			cards += g.Count
		}
	}
	if gpuNodes != 300 || cards != 2400 || c.MeasuredPods != 2000 {
		t.Errorf("DynamicResources full: %d GPU nodes, %d cards, %d pods; want 300, 2400, 2000", gpuNodes, cards, c.MeasuredPods)
	}
	for _, s := range []string{ScaleSmall, ScaleTiny} {
		c, _ := w.Counts(s)
		cards := 0
		for i := range c.Nodes {
			cards += w.DRA.gpuNodesFor(i).Count
		}
		if c.MeasuredPods > cards {
			t.Errorf("DynamicResources %s: %d pods for %d cards", s, c.MeasuredPods, cards)
		}
	}
}

// TestDRAViolations checks the device violations on hand-made claims:
// a card given to two claims, a bound pod whose claim is not allocated or
// not reserved for it, and a claim allocated on another node.
func TestDRAViolations(t *testing.T) {
	nodes := []v1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: v1.NodeStatus{Allocatable: v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Status: v1.NodeStatus{Allocatable: v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}}},
	}
	slices := []resourceapi.ResourceSlice{
		{Spec: resourceapi.ResourceSliceSpec{Driver: testenv.GPUDriver, Pool: resourceapi.ResourcePool{Name: "n1"}, NodeName: ptr.To("n1")}},
		{Spec: resourceapi.ResourceSliceSpec{Driver: testenv.GPUDriver, Pool: resourceapi.ResourcePool{Name: "n2"}, NodeName: ptr.To("n2")}},
	}
	pod := func(name, node string, claim string) v1.Pod {
		p := v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
			Spec:       v1.PodSpec{NodeName: node, ResourceClaims: []v1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: ptr.To("one-gpu")}}},
		}
		if claim != "" {
			p.Status.ResourceClaimStatuses = []v1.PodResourceClaimStatus{{Name: "gpu", ResourceClaimName: ptr.To(claim)}}
		}
		return p
	}
	claim := func(name, owner, node, device string, reserved bool) resourceapi.ResourceClaim {
		c := resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns",
			Annotations:     map[string]string{resourceapi.PodResourceClaimAnnotation: "gpu"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner, UID: types.UID("uid-" + owner), Controller: ptr.To(true)}},
		}}
		if device != "" {
			c.Status.Allocation = &resourceapi.AllocationResult{
				Devices: resourceapi.DeviceAllocationResult{Results: []resourceapi.DeviceRequestAllocationResult{
					{Request: "gpu", Driver: testenv.GPUDriver, Pool: node, Device: device}}},
				NodeSelector: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{
					{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{node}}}}}},
			}
		}
		if reserved {
			c.Status.ReservedFor = []resourceapi.ResourceClaimConsumerReference{{Resource: "pods", Name: owner, UID: types.UID("uid-" + owner)}}
		}
		return c
	}
	tests := []struct {
		name   string
		pods   []v1.Pod
		claims []resourceapi.ResourceClaim
		want   Violations
	}{
		{
			name:   "each pod its own card",
			pods:   []v1.Pod{pod("a", "n1", "a-gpu"), pod("b", "n1", "b-gpu")},
			claims: []resourceapi.ResourceClaim{claim("a-gpu", "a", "n1", "gpu-0", true), claim("b-gpu", "b", "n1", "gpu-1", true)},
		},
		{
			name:   "pod status not written yet: the claim is found by its owner",
			pods:   []v1.Pod{pod("a", "n1", "")},
			claims: []resourceapi.ResourceClaim{claim("a-gpu", "a", "n1", "gpu-0", true)},
		},
		{
			name:   "one card, two claims",
			pods:   []v1.Pod{pod("a", "n1", "a-gpu"), pod("b", "n1", "b-gpu"), pod("c", "n1", "c-gpu")},
			claims: []resourceapi.ResourceClaim{claim("a-gpu", "a", "n1", "gpu-0", true), claim("b-gpu", "b", "n1", "gpu-0", true), claim("c-gpu", "c", "n1", "gpu-0", true)},
			want:   Violations{DeviceDoubleAllocated: 2},
		},
		{
			name: "bound without an allocation, a reservation or a claim",
			pods: []v1.Pod{pod("a", "n1", "a-gpu"), pod("b", "n1", "b-gpu"), pod("c", "n1", "c-gpu")},
			claims: []resourceapi.ResourceClaim{
				claim("a-gpu", "a", "", "", false),        // never allocated
				claim("b-gpu", "b", "n1", "gpu-0", false), // allocated, not reserved
			},
			want: Violations{ClaimUnallocated: 3},
		},
		{
			name:   "an unbound pod with an unallocated claim is fine",
			pods:   []v1.Pod{pod("a", "", "a-gpu")},
			claims: []resourceapi.ResourceClaim{claim("a-gpu", "a", "", "", false)},
		},
		{
			name:   "card on another node",
			pods:   []v1.Pod{pod("a", "n1", "a-gpu")},
			claims: []resourceapi.ResourceClaim{claim("a-gpu", "a", "n2", "gpu-0", true)},
			want:   Violations{DeviceNode: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDRAState(tt.claims, slices)
			got := evaluateQuality(nodes, tt.pods, nil, nil, ds).Violations
			tt.want.Total = tt.want.DeviceDoubleAllocated + tt.want.ClaimUnallocated + tt.want.DeviceNode
			if got.DeviceDoubleAllocated != tt.want.DeviceDoubleAllocated || got.ClaimUnallocated != tt.want.ClaimUnallocated ||
				got.DeviceNode != tt.want.DeviceNode || got.Total != tt.want.Total {
				t.Errorf("violations %+v, want %+v", got, tt.want)
			}
			if got.Total > 0 && !strings.Contains(violationsString(got), "**") {
				t.Errorf("report string %q", violationsString(got))
			}
		})
	}
}
