package devcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/kube/devcluster"
	"github.com/berthsched/berth/kube/provisioner"
)

const (
	annSelectedNode       = "volume.kubernetes.io/selected-node"
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
)

// TestProvisioner runs a control plane with --provisioner and plays the
// scheduler's part of the WaitForFirstConsumer handshake by hand: the PV
// controller of kube-controller-manager and the provisioner do the rest.
func TestProvisioner(t *testing.T) {
	dir := t.TempDir()
	args := append(upArgs(dir, freePorts(t, 3), true), "--provisioner", "--provisioner-capacity=10Gi")
	if _, stderr, err := run(t, 2*time.Minute, args...); err != nil {
		t.Fatalf("up: %v: %s", err, stderr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("provisioner log lines:\n%s", grepLog(filepath.Join(dir, devcluster.LogFile), `logger="provisioner"`))
		}
		devcluster.Down(dir, false, 10*time.Second)
	})
	st, err := devcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Provisioner != provisioner.Name {
		t.Errorf("state.json provisioner = %q", st.Provisioner)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Registered before the cluster reports ready.
	driver, err := client.StorageV1().CSIDrivers().Get(ctx, provisioner.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("CSIDriver: %v", err)
	}
	if !ptr.Deref(driver.Spec.StorageCapacity, false) || ptr.Deref(driver.Spec.AttachRequired, true) {
		t.Errorf("CSIDriver spec %+v", driver.Spec)
	}

	// node-00000 zone-a, node-00001 zone-b (5Gi), node-00002 zone-c.
	if _, err := nodegen.Create(ctx, client, nodegen.Options{Count: 3}); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"5Gi"}}}`, provisioner.CapacityAnnotation)
	if _, err := client.CoreV1().Nodes().Patch(ctx, "node-00001", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wffc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-wffc"},
		Provisioner:       provisioner.Name,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, wffc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectCapacity(ctx, t, client, "local-wffc", map[string]string{"node-00000": "10Gi", "node-00001": "5Gi", "node-00002": "10Gi"})

	ns := "provisioner-test"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	claims := client.CoreV1().PersistentVolumeClaims(ns)
	newClaim := func(name, class, size string) {
		t.Helper()
		_, err := claims.Create(ctx, &v1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1.PersistentVolumeClaimSpec{
				StorageClassName: ptr.To(class),
				AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	selectNode := func(claim, node string) {
		t.Helper()
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annSelectedNode, node)
		if _, err := claims.Patch(ctx, claim, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitClaim := func(name, what string, cond func(*v1.PersistentVolumeClaim) bool) *v1.PersistentVolumeClaim {
		t.Helper()
		var last *v1.PersistentVolumeClaim
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			c, err := claims.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = c
			return cond(c), nil
		})
		if err != nil {
			data, _ := json.Marshal(last)
			t.Fatalf("claim %s never %s: %v\n%s\nevents:\n%s", name, what, err, data, claimEvents(ctx, client, ns, name))
		}
		return last
	}
	bound := func(c *v1.PersistentVolumeClaim) bool { return c.Status.Phase == v1.ClaimBound }

	// The PV controller waits for a consumer until a node is selected.
	newClaim("first", "local-wffc", "3Gi")
	time.Sleep(500 * time.Millisecond)
	if c, _ := claims.Get(ctx, "first", metav1.GetOptions{}); c.Status.Phase != v1.ClaimPending || c.Annotations[annStorageProvisioner] != "" {
		t.Fatalf("claim without selected node: phase %s, annotations %v", c.Status.Phase, c.Annotations)
	}
	selectNode("first", "node-00001")
	first := waitClaim("first", "bound", bound)
	if first.Annotations[annStorageProvisioner] != provisioner.Name {
		t.Errorf("PV controller did not hand the claim to %s: %v", provisioner.Name, first.Annotations)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, first.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 ||
		terms[0].MatchExpressions[0].Key != v1.LabelHostname || fmt.Sprint(terms[0].MatchExpressions[0].Values) != "[node-00001]" {
		t.Errorf("PV node affinity %+v", pv.Spec.NodeAffinity)
	}
	if q := pv.Spec.Capacity[v1.ResourceStorage]; q.String() != "3Gi" || pv.Spec.Local == nil ||
		pv.Spec.Local.Path != provisioner.BasePath+"/"+pv.Name || pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete ||
		pv.Annotations[provisioner.AnnProvisionedBy] != provisioner.Name || pv.Status.Phase != v1.VolumeBound {
		t.Errorf("PV %s: capacity %s, spec %+v, annotations %v, phase %s", pv.Name, q.String(), pv.Spec.PersistentVolumeSource, pv.Annotations, pv.Status.Phase)
	}
	expectCapacity(ctx, t, client, "local-wffc", map[string]string{"node-00000": "10Gi", "node-00001": "2Gi", "node-00002": "10Gi"})

	// 3Gi does not fit in node-00001's remaining 2Gi: the provisioner
	// asks for rescheduling and the library drops the selected node.
	newClaim("second", "local-wffc", "3Gi")
	selectNode("second", "node-00001")
	second := waitClaim("second", "unselected", func(c *v1.PersistentVolumeClaim) bool {
		_, selected := c.Annotations[annSelectedNode]
		return !selected
	})
	if second.Status.Phase != v1.ClaimPending || second.Spec.VolumeName != "" {
		t.Errorf("rescheduled claim: phase %s, volume %q", second.Status.Phase, second.Spec.VolumeName)
	}
	if ev := claimEvents(ctx, client, ns, "second"); !strings.Contains(ev, "ProvisioningFailed: node node-00001 has 2Gi of local storage free, the claim requests 3Gi") {
		t.Errorf("no ProvisioningFailed event explaining the capacity; events:\n%s", ev)
	}
	// The "scheduler" picks another node and the claim binds there.
	selectNode("second", "node-00002")
	waitClaim("second", "bound", bound)
	expectCapacity(ctx, t, client, "local-wffc", map[string]string{"node-00000": "10Gi", "node-00001": "2Gi", "node-00002": "7Gi"})

	// Deleting a claim deletes its volume (reclaim policy Delete) and
	// gives the capacity back.
	if err := claims.Delete(ctx, "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("PV %s of the deleted claim not deleted: %v", pv.Name, err)
	}
	expectCapacity(ctx, t, client, "local-wffc", map[string]string{"node-00000": "10Gi", "node-00001": "5Gi", "node-00002": "7Gi"})

	// Immediate binding without a node: a zonal volume in the class's
	// allowed topology, bound right away.
	zonal := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-zonal"},
		Provisioner:       provisioner.Name,
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
		AllowedTopologies: []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
			{Key: v1.LabelTopologyZone, Values: []string{"zone-b"}},
		}}},
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, zonal, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	newClaim("zonal", "local-zonal", "1Gi")
	zc := waitClaim("zonal", "bound", bound)
	zpv, err := client.CoreV1().PersistentVolumes().Get(ctx, zc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if zpv.Labels[v1.LabelTopologyZone] != "zone-b" || zpv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Key != v1.LabelTopologyZone {
		t.Errorf("zonal PV labels %v, affinity %+v", zpv.Labels, zpv.Spec.NodeAffinity)
	}
	// Capacity objects of a class cover only the nodes it allows, and a
	// zonal volume takes nothing from a node.
	expectCapacity(ctx, t, client, "local-zonal", map[string]string{"node-00001": "5Gi"})
}

// expectCapacity waits until the class's CSIStorageCapacity objects in
// kube-system are exactly want (hostname → capacity).
func expectCapacity(ctx context.Context, t *testing.T, client kubernetes.Interface, class string, want map[string]string) {
	t.Helper()
	var got map[string]string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := client.StorageV1().CSIStorageCapacities(provisioner.DefaultNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		got = map[string]string{}
		for _, c := range list.Items {
			if c.StorageClassName == class && c.NodeTopology != nil {
				got[c.NodeTopology.MatchLabels[v1.LabelHostname]] = c.Capacity.String()
			}
		}
		return fmt.Sprint(got) == fmt.Sprint(want), nil
	})
	if err != nil {
		t.Fatalf("CSIStorageCapacity of %s: got %v, want %v", class, got, want)
	}
}

func claimEvents(ctx context.Context, client kubernetes.Interface, ns, name string) string {
	list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range list.Items {
		fmt.Fprintf(&b, "%s: %s\n", e.Reason, e.Message)
	}
	return b.String()
}

func grepLog(path, substr string) string {
	var out []string
	for _, line := range strings.Split(devcluster.LogTail(path, 100000), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	if len(out) > 60 {
		out = out[len(out)-60:]
	}
	return strings.Join(out, "\n")
}
