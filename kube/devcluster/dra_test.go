package devcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/kube/devcluster"
	"github.com/berthsched/berth/kube/dradriver"
)

// TestDRA runs a control plane with --dra: the DeviceClass exists once the
// cluster is ready, labelled nodes get a pool each that follows their
// labels, and the controller manager turns a pod's ResourceClaimTemplate
// into a claim. A restart with --keep-data takes the slices over.
func TestDRA(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	args := append(upArgs(dir, ports, true), "--dra")
	if _, stderr, err := run(t, 2*time.Minute, args...); err != nil {
		t.Fatalf("up: %v: %s", err, stderr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dradriver log lines:\n%s", grepLog(filepath.Join(dir, devcluster.LogFile), `logger="dradriver"`))
		}
		devcluster.Down(dir, false, 10*time.Second)
	})
	st, err := devcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.DRADriver != dradriver.DriverName {
		t.Errorf("state.json draDriver = %q", st.DRADriver)
	}
	out, _, err := run(t, 30*time.Second, "status", "--dir", dir)
	if err != nil || !strings.Contains(out, "DRA driver "+dradriver.DriverName) {
		t.Errorf("status: %v\n%s", err, out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Created before the cluster reports ready.
	class, err := client.ResourceV1().DeviceClasses().Get(ctx, dradriver.DeviceClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("DeviceClass: %v", err)
	}
	if sel := class.Spec.Selectors; len(sel) != 1 || sel[0].CEL == nil || sel[0].CEL.Expression != `device.driver == "gpu.devcluster.berth.io"` {
		t.Errorf("DeviceClass selectors %+v", sel)
	}

	if _, err := nodegen.Create(ctx, client, nodegen.Options{Count: 4}); err != nil {
		t.Fatal(err)
	}
	label := func(node string, labels map[string]any) {
		t.Helper()
		data, err := json.Marshal(labels)
		if err != nil {
			t.Fatal(err)
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":%s}}`, data)
		if _, err := client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	label("node-00001", map[string]any{dradriver.CountLabel: "8", dradriver.ModelLabel: "h100", dradriver.MemoryLabel: "40Gi"})
	label("node-00002", map[string]any{dradriver.CountLabel: "2"})
	label("node-00003", map[string]any{dradriver.CountLabel: "lots"}) // ignored

	got := expectPools(ctx, t, client, map[string]int{"node-00001": 8, "node-00002": 2})
	s := got["node-00001"]
	if s.Spec.Driver != dradriver.DriverName || s.Spec.Pool.ResourceSliceCount != 1 || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Node" {
		t.Errorf("slice of node-00001: %+v", s)
	}
	d := s.Spec.Devices[5]
	if d.Name != "gpu-5" || *d.Attributes[dradriver.AttributeModel].StringValue != "h100" || *d.Attributes[dradriver.AttributeIndex].IntValue != 5 ||
		*d.Attributes[dradriver.AttributeNVLinkDomain].IntValue != 1 {
		t.Errorf("device 5: %+v", d)
	}
	if m := d.Capacity[dradriver.CapacityMemory].Value; m.String() != "40Gi" {
		t.Errorf("device 5 memory %s", m.String())
	}
	if got["node-00002"].Spec.Devices[0].Attributes[dradriver.AttributeModel].StringValue == nil ||
		*got["node-00002"].Spec.Devices[0].Attributes[dradriver.AttributeModel].StringValue != dradriver.DefaultModel {
		t.Errorf("node-00002 device model: %+v", got["node-00002"].Spec.Devices[0].Attributes)
	}

	// Relabelling updates the pool in place with a higher generation.
	gen := s.Spec.Pool.Generation
	label("node-00001", map[string]any{dradriver.CountLabel: "4"})
	got = expectPools(ctx, t, client, map[string]int{"node-00001": 4, "node-00002": 2})
	if g := got["node-00001"].Spec.Pool.Generation; g <= gen {
		t.Errorf("generation %d after relabelling, was %d", g, gen)
	}
	if got["node-00001"].Name != s.Name {
		t.Errorf("slice %s replaced by %s; want an update", s.Name, got["node-00001"].Name)
	}

	// The resourceclaim controller of kube-controller-manager creates a
	// pod's claim from its template (the scheduler allocates it; none
	// runs here).
	claimFromTemplate(ctx, t, client)

	// Deleting a node or its count label removes its pool; a new label
	// adds one.
	if err := client.CoreV1().Nodes().Delete(ctx, "node-00002", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	label("node-00001", map[string]any{dradriver.CountLabel: nil})
	label("node-00000", map[string]any{dradriver.CountLabel: "1"})
	got = expectPools(ctx, t, client, map[string]int{"node-00000": 1})

	// A restart on the same data takes the slice over instead of
	// replacing it, above its generation.
	before := got["node-00000"]
	if out, _, err := run(t, time.Minute, "down", "--dir", dir, "--keep-data"); err != nil {
		t.Fatalf("down --keep-data: %v %s", err, out)
	}
	if _, stderr, err := run(t, 2*time.Minute, args...); err != nil {
		t.Fatalf("up again: %v: %s", err, stderr)
	}
	// Every start issues new certificates.
	if cfg, err = clientcmd.BuildConfigFromFlags("", st.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	client = kubernetes.NewForConfigOrDie(cfg)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if now := pools(ctx, client); now != nil {
			got = now
		}
		after, ok := got["node-00000"]
		return len(got) == 1 && ok && after.Spec.Pool.Generation > before.Spec.Pool.Generation, nil
	})
	if err != nil {
		t.Fatalf("after restart: slices %v, want node-00000's above generation %d", describe(got), before.Spec.Pool.Generation)
	}
	if got["node-00000"].Name != before.Name {
		t.Errorf("slice %s replaced by %s after restart", before.Name, got["node-00000"].Name)
	}
}

// pools returns the driver's slices by pool name, or nil if they cannot
// be listed.
func pools(ctx context.Context, client kubernetes.Interface) map[string]resourceapi.ResourceSlice {
	list, err := client.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{FieldSelector: resourceapi.ResourceSliceSelectorDriver + "=" + dradriver.DriverName})
	if err != nil {
		return nil
	}
	got := map[string]resourceapi.ResourceSlice{}
	for _, s := range list.Items {
		got[s.Spec.Pool.Name] = s
	}
	return got
}

// expectPools waits until the driver publishes exactly one slice per node
// in want, on that node, with want[node] devices.
func expectPools(ctx context.Context, t *testing.T, client kubernetes.Interface, want map[string]int) map[string]resourceapi.ResourceSlice {
	t.Helper()
	var got map[string]resourceapi.ResourceSlice
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if now := pools(ctx, client); now != nil {
			got = now
		}
		if len(got) != len(want) {
			return false, nil
		}
		for node, n := range want {
			s, ok := got[node]
			if !ok || len(s.Spec.Devices) != n || s.Spec.NodeName == nil || *s.Spec.NodeName != node {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("slices %v, want devices per node %v", describe(got), want)
	}
	return got
}

func describe(pools map[string]resourceapi.ResourceSlice) []string {
	var out []string
	for pool, s := range pools {
		out = append(out, fmt.Sprintf("%s: %d devices, generation %d", pool, len(s.Spec.Devices), s.Spec.Pool.Generation))
	}
	slices.Sort(out)
	return out
}

func claimFromTemplate(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	ns := "dra-test"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Pods need the namespace's default ServiceAccount.
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no default ServiceAccount: %v", err)
	}
	tmpl := &resourceapi.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "one-gpu"},
		Spec: resourceapi.ResourceClaimTemplateSpec{Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{
			Requests: []resourceapi.DeviceRequest{{Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: dradriver.DeviceClassName}}},
		}}},
	}
	if _, err := client.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer"},
		Spec: v1.PodSpec{
			Containers:     []v1.Container{{Name: "c", Image: "busybox"}},
			ResourceClaims: []v1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: &tmpl.Name}},
		},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var claimName string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range p.Status.ResourceClaimStatuses {
			if s.Name == "gpu" && s.ResourceClaimName != nil {
				claimName = *s.ResourceClaimName
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the resourceclaim controller did not create the pod's claim: %v", err)
	}
	claim, err := client.ResourceV1().ResourceClaims(ns).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim %s: %v", claimName, err)
	}
	if r := claim.Spec.Devices.Requests; len(r) != 1 || r[0].Exactly == nil || r[0].Exactly.DeviceClassName != dradriver.DeviceClassName {
		t.Errorf("claim spec %+v", claim.Spec)
	}
}
