package volumes

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/testenv"
)

// TestStatefulSetZonalClaims runs a 30-replica StatefulSet whose volume
// claim template uses a WaitForFirstConsumer class of the local
// provisioner restricted to zone-a and zone-b. The StatefulSet controller
// creates the claims and pods; berth must place every pod in an allowed
// zone and send its claim to provisioning there, and the provisioner and
// PV controller must bind each claim to a PV on the pod's node.
func TestStatefulSetZonalClaims(t *testing.T) {
	const (
		replicas = 30
		class    = "vol-zonal-ab"
	)
	ns := setup(t, "vol-sts")
	c := testenv.Current().Client
	ctx := context.Background()
	wffcClass(t, class, testenv.LocalProvisioner, zones("zone-a", "zone-b"))

	start := time.Now()
	labels := map[string]string{"app": "db"}
	spec := podSpec()
	spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](replicas),
			ServiceName:         "db",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       spec,
			},
			VolumeClaimTemplates: []v1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec:       claimSpec(class, "1Gi"),
			}},
		},
	}
	if _, err := c.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	names := make([]string, replicas)
	for i := range names {
		names[i] = fmt.Sprintf("db-%d", i)
	}
	pods := waitBound(t, ns, names, 2*time.Minute)
	t.Logf("%d pods bound in %v", replicas, time.Since(start).Round(time.Millisecond))
	// PreBind waits for the claims, so a bound pod implies bound claims;
	// still, give the informer-fed reads below a settled view.
	berthtest.WaitFor(t, time.Minute, "every claim to be Bound", func() (bool, string) {
		l, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, pvc := range l.Items {
			if pvc.Status.Phase == v1.ClaimBound {
				n++
			}
		}
		return n == replicas && len(l.Items) == replicas, fmt.Sprintf("%d/%d claims Bound", n, len(l.Items))
	})

	nodes := clusterNodes(t)
	perZone := map[string]int{}
	perNode := map[string]int{}
	for _, name := range names {
		pod := pods[name]
		node := nodes[pod.Spec.NodeName]
		if node == nil {
			t.Errorf("pod %s is bound to unknown node %q", name, pod.Spec.NodeName)
			continue
		}
		zone := node.Labels[v1.LabelTopologyZone]
		perZone[zone]++
		perNode[node.Name]++
		if zone != "zone-a" && zone != "zone-b" {
			t.Errorf("pod %s is on %s in %s; the class only allows zone-a and zone-b", name, node.Name, zone)
		}
		claim := "data-" + name
		pv := checkClaimBound(t, ns, claim, node, start)
		if pv == nil {
			continue
		}
		if got := getClaim(t, ns, claim).Annotations[volume.AnnSelectedNode]; got != node.Name {
			t.Errorf("claim %s: selected-node %q, want the pod's node %s", claim, got, node.Name)
		}
		if pv.Annotations["pv.kubernetes.io/provisioned-by"] != testenv.LocalProvisioner || pv.Spec.StorageClassName != class {
			t.Errorf("claim %s: PV %s provisioned by %q in class %q, want %s and %s", claim, pv.Name,
				pv.Annotations["pv.kubernetes.io/provisioned-by"], pv.Spec.StorageClassName, testenv.LocalProvisioner, class)
		}
		if pv.Spec.Local == nil {
			t.Errorf("claim %s: PV %s is not a local volume: %+v", claim, pv.Name, pv.Spec.PersistentVolumeSource)
		}
	}
	t.Logf("pods per zone: %v; %d nodes used", perZone, len(perNode))
	// Every node has room, so the provisioner turned nothing down: berth
	// never selected a node outside the class's topology (which the
	// retries after such a refusal would hide from the checks above).
	for _, e := range provisioningFailures(t, ns) {
		t.Errorf("claim %s: provisioning failed: %s", e.InvolvedObject.Name, e.Message)
	}
}
