package bench

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/internal/testenv"
)

func TestStorageWorkloadValidation(t *testing.T) {
	const base = `
name: S
nodes: {profile: basic, zones: 3}
scales:
  full:  {nodes: 4, measuredPods: 4}
  small: {nodes: 4, measuredPods: 4}
  tiny:  {nodes: 4, measuredPods: 4}
`
	const classes = `
storage:
  classes:
  - metadata: {name: local}
    provisioner: local.berth.io
    volumeBindingMode: WaitForFirstConsumer
`
	const claimPods = `
measuredPods:
- name: p
  weight: 1
  template: {spec: {containers: [{name: c, image: pause}]}}
  claims:
  - metadata: {name: data}
    spec:
      storageClassName: %s
      resources: {requests: {storage: %s}}
`
	pods := func(class, size string) string {
		return strings.Replace(strings.Replace(claimPods, "%s", class, 1), "%s", size, 1)
	}
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"ok", base + "controllerManager: true\nprovisioner: true\n" + classes + pods("local", "1Gi"), ""},
		{"provisioner without kcm", base + "provisioner: true\n" + classes + pods("local", "1Gi"), "needs controllerManager"},
		{"local class without provisioner", base + "controllerManager: true\n" + classes + pods("local", "1Gi"), "set provisioner: true"},
		{"unknown class", base + "controllerManager: true\nprovisioner: true\n" + classes + pods("other", "1Gi"), "must name one of storage.classes"},
		{"no storage section", base + pods("local", "1Gi"), "must name one of storage.classes"},
		{"no size", base + "controllerManager: true\nprovisioner: true\n" + classes + pods("local", "0"), "needs a storage request"},
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
}

func TestStatefulVolumesNodeCapacities(t *testing.T) {
	w := mustWorkload(t, "StatefulVolumes")
	if !w.ControllerManager || !w.Provisioner {
		t.Fatal("StatefulVolumes needs the controller manager and the provisioner")
	}
	// The hdd nodes (index 3 mod 4, nodegen) have no local capacity but
	// the static PVs.
	want := []string{"20Gi", "", "", "0", "20Gi"}
	for i, c := range want {
		if got := w.Storage.nodeCapacityFor(i); got != c {
			t.Errorf("node %d: capacity %q, want %q", i, got, c)
		}
	}
}

func TestStorageViolations(t *testing.T) {
	node := func(name string) v1.Node {
		return v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
			Status: v1.NodeStatus{Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourcePods: resource.MustParse("110")}}}
	}
	nodes := []v1.Node{node("n1"), node("n2")}
	pod := func(name, node, claim string) v1.Pod {
		return v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
			Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c"}},
				Volumes: []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}}
	}
	claim := func(name, pv string) *v1.PersistentVolumeClaim {
		c := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}}
		if pv != "" {
			c.Spec.VolumeName = pv
			c.Status.Phase = v1.ClaimBound
		} else {
			c.Status.Phase = v1.ClaimPending
		}
		return c
	}
	pv := func(name, host, size, claimUID string) *v1.PersistentVolume {
		return &v1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: testenv.LocalProvisioner}},
			Spec: v1.PersistentVolumeSpec{
				Capacity: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
				ClaimRef: &v1.ObjectReference{Namespace: "ns", UID: types.UID(claimUID)},
				NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{host}}},
				}}}},
			},
		}
	}
	st := &storageState{
		claims: map[string]*v1.PersistentVolumeClaim{},
		pvs:    map[string]*v1.PersistentVolume{},
		capacity: map[string]int64{
			"n1": 10 << 30,
			"n2": 10 << 30,
		},
	}
	for _, c := range []*v1.PersistentVolumeClaim{claim("ok", "pv-ok"), claim("pending", ""), claim("elsewhere", "pv-elsewhere"), claim("stolen", "pv-stolen")} {
		st.claims["ns/"+c.Name] = c
	}
	for _, p := range []*v1.PersistentVolume{
		pv("pv-ok", "n1", "4Gi", "uid-ok"),
		pv("pv-elsewhere", "n2", "4Gi", "uid-elsewhere"),
		pv("pv-stolen", "n2", "4Gi", "uid-someone-else"),
		pv("pv-big", "n2", "8Gi", "uid-x"), // n2: 16Gi of 10Gi
	} {
		st.pvs[p.Name] = p
	}
	pods := []v1.Pod{
		pod("a", "n1", "ok"),        // fine
		pod("b", "n1", "pending"),   // claim not bound
		pod("c", "n1", "elsewhere"), // PV pinned to n2
		pod("d", "n2", "stolen"),    // PV bound to another claim
		pod("e", "n1", "missing"),   // no such claim
		pod("f", "", "pending"),     // not bound: not checked
	}
	q := evaluateQuality(nodes, pods, nil, st, nil)
	v := q.Violations
	if v.VolumeUnbound != 3 || v.VolumeNodeAffinity != 1 || v.StorageCapacity != 1 {
		t.Errorf("violations %+v, want 3 unbound, 1 node affinity, 1 over capacity", v)
	}
	if v.Total != 5 {
		t.Errorf("total %d, want 5", v.Total)
	}
	if s := violationsString(v); !strings.Contains(s, "3 volume-unbound") || !strings.Contains(s, "1 storage-capacity") {
		t.Errorf("violations string %q", s)
	}
	// Without storage state the same pods raise nothing.
	if v := evaluateQuality(nodes, pods, nil, nil, nil).Violations; v.Total != 0 {
		t.Errorf("without storage: %+v", v)
	}
}
