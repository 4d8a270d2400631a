package volumes

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/storage/volume"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
)

// TestStaticLocalVolumes pre-creates local PVs on three nodes (a class
// without a provisioner, WaitForFirstConsumer) and creates, all at once,
// one claim and pod more than there are PVs. Each of three pods must land
// on the node of the PV its claim was bound to, the three PVs' nodes must
// all be used, and the fourth pod must stay pending because no node has a
// PV left for it.
func TestStaticLocalVolumes(t *testing.T) {
	const class = "vol-local-static"
	ns := setup(t, "vol-static")
	c := testenv.Current().Client
	ctx := context.Background()
	wffcClass(t, class, volume.NotSupportedProvisioner, nil)

	// One node per zone.
	pvNodes := []string{fleetNode(4), fleetNode(8), fleetNode(12)}
	for i, node := range pvNodes {
		pv := &v1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", ns, i)},
			Spec: v1.PersistentVolumeSpec{
				Capacity:                      v1.ResourceList{v1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: v1.PersistentVolumeReclaimRetain,
				StorageClassName:              class,
				PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: fmt.Sprintf("/mnt/disks/vol%d", i)}},
				NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
				}}}},
			},
		}
		if _, err := c.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
		})
	}
	// The PV controller marks them Available; berth only matches those.
	berthtest.WaitFor(t, 30*time.Second, "the static PVs to be Available", func() (bool, string) {
		n := 0
		for i := range pvNodes {
			pv, err := c.CoreV1().PersistentVolumes().Get(ctx, fmt.Sprintf("%s-%d", ns, i), metav1.GetOptions{})
			if err == nil && pv.Status.Phase == v1.VolumeAvailable {
				n++
			}
		}
		return n == len(pvNodes), fmt.Sprintf("%d/%d Available", n, len(pvNodes))
	})

	start := time.Now()
	var names []string
	for i := 0; i <= len(pvNodes); i++ {
		name := fmt.Sprintf("local-%d", i)
		names = append(names, name)
		createClaim(t, ns, name, class, "5Gi")
		createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec(claimVolume("data", name))})
	}

	// Exactly len(pvNodes) pods get a node; which one is left out is up
	// to the order berth sees them in.
	var bound []*v1.Pod
	var pending []string
	berthtest.WaitFor(t, time.Minute, fmt.Sprintf("%d of the %d pods to be bound", len(pvNodes), len(names)), func() (bool, string) {
		bound, pending = nil, nil
		for _, p := range listPods(t, ns, "") {
			if p.Spec.NodeName != "" {
				bound = append(bound, p.DeepCopy())
			} else {
				pending = append(pending, p.Name)
			}
		}
		return len(bound) == len(pvNodes), fmt.Sprintf("%d bound", len(bound))
	})
	if len(bound)+len(pending) != len(names) {
		t.Fatalf("%d pods bound and %d pending; created %d", len(bound), len(pending), len(names))
	}
	t.Logf("%d pods bound in %v; pending: %v", len(bound), time.Since(start).Round(time.Millisecond), pending)

	nodes := clusterNodes(t)
	used := sets.New[string]()
	for _, pod := range bound {
		node := nodes[pod.Spec.NodeName]
		pv := checkClaimBound(t, ns, pod.Name, node, start)
		if pv == nil {
			continue
		}
		// The PV was pre-created: its only node is the one its affinity
		// names, and the pod must be exactly there.
		pvNode := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]
		if pod.Spec.NodeName != pvNode {
			t.Errorf("pod %s is on %s but its claim got PV %s on %s", pod.Name, pod.Spec.NodeName, pv.Name, pvNode)
		}
		if pv.Annotations[volumebinding.BoundAtAnnotation] == "" {
			t.Errorf("PV %s bound by berth has no %s annotation", pv.Name, volumebinding.BoundAtAnnotation)
		}
		if used.Has(pod.Spec.NodeName) {
			t.Errorf("two pods on %s, which has one PV", pod.Spec.NodeName)
		}
		used.Insert(pod.Spec.NodeName)
	}
	if want := sets.New(pvNodes...); !used.Equal(want) {
		t.Errorf("pods are on %v, want exactly the PV nodes %v", sets.List(used), sets.List(want))
	}

	// The odd pod out: every schedulable node lacks a PV for its claim.
	if len(pending) != 1 {
		t.Fatalf("pending pods %v, want exactly one", pending)
	}
	msg := waitUnschedulable(t, ns, pending[0], time.Minute,
		fmt.Sprintf("0/%d nodes are available", len(nodes)),
		fmt.Sprintf("%d %s", untainted(nodes), volumebinding.ReasonBindConflict))
	t.Logf("pending %s: %s", pending[0], msg)
	// It stays pending, and its claim stays unbound.
	time.Sleep(2 * time.Second)
	if p := getPod(t, ns, pending[0]); p.Spec.NodeName != "" {
		t.Errorf("pod %s was bound to %s with no PV left", p.Name, p.Spec.NodeName)
	}
	if pvc := getClaim(t, ns, pending[0]); pvc.Spec.VolumeName != "" || pvc.Status.Phase != v1.ClaimPending {
		t.Errorf("claim %s of the pending pod: phase %s, volume %q; want Pending without a volume", pvc.Name, pvc.Status.Phase, pvc.Spec.VolumeName)
	}
}
