package volumes

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/volume"

	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
)

// TestUnsatisfiableClaims covers pods whose claims no node can satisfy:
// a claim larger than any node's local storage on a class with capacity
// tracking, and a claim that does not exist. Both pods must stay pending
// with a PodScheduled=False message naming the problem; the first claim
// must never be sent to provisioning; the second pod must be scheduled
// once its claim appears.
func TestUnsatisfiableClaims(t *testing.T) {
	const class = "vol-local"
	ns := setup(t, "vol-unsat")
	wffcClass(t, class, testenv.LocalProvisioner, nil)
	// Judge capacity only once the provisioner has published it, so the
	// rejection below is about size, not about missing objects.
	hosts := make([]string, fleetSize)
	for i := range hosts {
		hosts[i] = fleetNode(i)
	}
	waitCapacities(t, class, hosts)
	start := time.Now()

	// Every node has 100Gi: 1Ti fits nowhere, 1Gi anywhere.
	createClaim(t, ns, "huge", class, "1Ti")
	createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Spec: podSpec(claimVolume("data", "huge"))})
	createClaim(t, ns, "small", class, "1Gi")
	createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "small"}, Spec: podSpec(claimVolume("data", "small"))})
	createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}, Spec: podSpec(claimVolume("data", "xyz"))})

	// The control pod on the same class goes through.
	small := waitBound(t, ns, []string{"small"}, time.Minute)["small"]
	nodes := clusterNodes(t)
	checkClaimBound(t, ns, "small", nodes[small.Spec.NodeName], start)

	msg := waitUnschedulable(t, ns, "huge", time.Minute,
		fmt.Sprintf("0/%d nodes are available", len(nodes)),
		fmt.Sprintf("%d %s", untainted(nodes), volumebinding.ReasonNotEnoughSpace),
		// berth names the claim, which kube-scheduler does not.
		fmt.Sprintf(`VolumeBinding: claim "%s/huge" requests 1Ti of class %q: no CSIStorageCapacity the node reaches holds it (%d nodes).`, ns, class, untainted(nodes)))
	t.Logf("huge: %s", msg)
	pvc := getClaim(t, ns, "huge")
	if pvc.Status.Phase != v1.ClaimPending || pvc.Spec.VolumeName != "" {
		t.Errorf("claim huge: phase %s, volume %q; want Pending without a volume", pvc.Status.Phase, pvc.Spec.VolumeName)
	}
	for _, ann := range []string{volume.AnnSelectedNode, volumebinding.BoundAtAnnotation} {
		if v, ok := pvc.Annotations[ann]; ok {
			t.Errorf("claim huge was sent to provisioning although it fits nowhere: %s=%q", ann, v)
		}
	}

	msg = waitUnschedulable(t, ns, "orphan", time.Minute,
		fmt.Sprintf(`0/%d nodes are available: persistentvolumeclaim "xyz" not found.`, len(nodes)))
	t.Logf("orphan: %s", msg)

	// The claim appearing requeues the pod, which is then placed.
	createClaim(t, ns, "xyz", class, "1Gi")
	orphan := waitBound(t, ns, []string{"orphan"}, time.Minute)["orphan"]
	checkClaimBound(t, ns, "xyz", nodes[orphan.Spec.NodeName], start)
	if p := getPod(t, ns, "huge"); p.Spec.NodeName != "" {
		t.Errorf("pod huge was bound to %s", p.Spec.NodeName)
	}
}
