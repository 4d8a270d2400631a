package volumes

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthsched/berth/internal/testenv"
)

// TestGenericEphemeralVolumes creates pods with a generic ephemeral volume
// on a WaitForFirstConsumer class of the local provisioner. The ephemeral
// volume controller creates each pod's claim; berth must wait for it,
// then place the pod and have the claim provisioned on the pod's node.
func TestGenericEphemeralVolumes(t *testing.T) {
	const (
		class = "vol-ephemeral"
		count = 6
	)
	ns := setup(t, "vol-eph")
	wffcClass(t, class, testenv.LocalProvisioner, nil)
	start := time.Now()

	var names []string
	for i := range count {
		name := fmt.Sprintf("eph-%d", i)
		names = append(names, name)
		vol := v1.Volume{Name: "scratch", VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{
			VolumeClaimTemplate: &v1.PersistentVolumeClaimTemplate{Spec: claimSpec(class, "2Gi")},
		}}}
		createPod(t, ns, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: podSpec(vol)})
	}
	pods := waitBound(t, ns, names, time.Minute)
	t.Logf("%d pods bound in %v", count, time.Since(start).Round(time.Millisecond))

	nodes := clusterNodes(t)
	for _, name := range names {
		pod := pods[name]
		claim := name + "-scratch"
		pv := checkClaimBound(t, ns, claim, nodes[pod.Spec.NodeName], start)
		if pv == nil {
			continue
		}
		if pv.Spec.Local == nil {
			t.Errorf("claim %s: PV %s is not a node-local volume", claim, pv.Name)
		}
		// The claim is the pod's own, created by the controller.
		owner := metav1.GetControllerOf(getClaim(t, ns, claim))
		if owner == nil || owner.Kind != "Pod" || owner.UID != pod.UID {
			t.Errorf("claim %s is controlled by %+v, want pod %s (uid %s)", claim, owner, name, pod.UID)
		}
	}
}
