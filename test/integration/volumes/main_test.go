package volumes

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, Provisioner: true})
}

// schedulerName is the profile name of berth's default configuration.
const schedulerName = "berth"

// fleetSize nodes node-00000... are spread round-robin over zone-a,
// zone-b and zone-c, all with the provisioner's default 100Gi.
const fleetSize = 45

var (
	fleetOnce sync.Once
	fleetErr  error
)

// fleet creates the shared three-zone fleet once per package.
func fleet(t *testing.T) {
	t.Helper()
	fleetOnce.Do(func() {
		_, fleetErr = nodegen.Create(context.Background(), testenv.Current().Client,
			nodegen.Options{Count: fleetSize, Profile: nodegen.ProfileBasic, Zones: 3})
	})
	if fleetErr != nil {
		t.Fatalf("creating the fleet: %v", fleetErr)
	}
}

// fleetNode is the name of the fleet's node i (zone-a for i%3 == 0,
// zone-b for 1, zone-c for 2).
func fleetNode(i int) string { return nodegen.NodeName(nodegen.Options{}, i) }

// startBerth runs berth in-process (default configuration) until the test
// ends.
func startBerth(t *testing.T) { berthtest.Start(t, nil) }

// setup creates the fleet and a namespace, registers a dump of the
// namespace for when the test fails, and starts berth.
func setup(t *testing.T, prefix string) string {
	t.Helper()
	fleet(t)
	ns := testenv.Current().CreateNamespace(t, prefix)
	t.Cleanup(func() {
		if t.Failed() {
			dump(t, ns)
		}
	})
	startBerth(t)
	return ns
}

// wffcClass creates a WaitForFirstConsumer StorageClass.
func wffcClass(t *testing.T, name, provisioner string, topology []v1.TopologySelectorTerm) {
	t.Helper()
	_, err := testenv.Current().Client.StorageV1().StorageClasses().Create(context.Background(), &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name},
		Provisioner:       provisioner,
		ReclaimPolicy:     ptr.To(v1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
		AllowedTopologies: topology,
	}, metav1.CreateOptions{})
	// A second run (go test -count) finds the class of the first.
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create StorageClass %s: %v", name, err)
	}
}

func zones(values ...string) []v1.TopologySelectorTerm {
	return []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{
		{Key: v1.LabelTopologyZone, Values: values},
	}}}
}

func claimSpec(class, size string) v1.PersistentVolumeClaimSpec {
	return v1.PersistentVolumeClaimSpec{
		AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
		StorageClassName: ptr.To(class),
		Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
	}
}

func createClaim(t *testing.T, ns, name, class, size string) {
	t.Helper()
	_, err := testenv.Current().Client.CoreV1().PersistentVolumeClaims(ns).Create(context.Background(), &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       claimSpec(class, size),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create claim %s: %v", name, err)
	}
}

// podSpec is a small berth-scheduled pod mounting vols. No kubelet runs:
// a zero grace period lets the namespace go at once when the test ends.
func podSpec(vols ...v1.Volume) v1.PodSpec {
	spec := v1.PodSpec{
		SchedulerName:                 schedulerName,
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers: []v1.Container{{Name: "c", Image: "pause", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("64Mi")},
		}}},
		Volumes: vols,
	}
	for _, v := range vols {
		spec.Containers[0].VolumeMounts = append(spec.Containers[0].VolumeMounts, v1.VolumeMount{Name: v.Name, MountPath: "/" + v.Name})
	}
	return spec
}

func claimVolume(name, claim string) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}}
}

func createPod(t *testing.T, ns string, pod *v1.Pod) {
	t.Helper()
	if _, err := testenv.Current().Client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

func listPods(t *testing.T, ns, selector string) []v1.Pod {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return l.Items
}

func getPod(t *testing.T, ns, name string) *v1.Pod {
	t.Helper()
	p, err := testenv.Current().Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func getClaim(t *testing.T, ns, name string) *v1.PersistentVolumeClaim {
	t.Helper()
	c, err := testenv.Current().Client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get claim %s: %v", name, err)
	}
	return c
}

// waitBound waits until the named pods all have a node and returns them.
func waitBound(t *testing.T, ns string, names []string, timeout time.Duration) map[string]*v1.Pod {
	t.Helper()
	out := map[string]*v1.Pod{}
	berthtest.WaitFor(t, timeout, fmt.Sprintf("%d pods to be bound", len(names)), func() (bool, string) {
		var unbound []string
		for _, p := range listPods(t, ns, "") {
			if p.Spec.NodeName != "" {
				out[p.Name] = p.DeepCopy()
			}
		}
		for _, n := range names {
			if out[n] == nil {
				unbound = append(unbound, n)
			}
		}
		return len(unbound) == 0, fmt.Sprintf("%d/%d bound; unbound: %s", len(names)-len(unbound), len(names), summarize(unbound))
	})
	return out
}

func summarize(names []string) string {
	sort.Strings(names)
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
	}
	return strings.Join(names, ", ")
}

// scheduledCondition returns the pod's PodScheduled condition, or nil.
func scheduledCondition(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// waitUnschedulable waits until pod name is unbound with PodScheduled=False
// (reason Unschedulable) and a message containing every one of want, and
// returns the message.
func waitUnschedulable(t *testing.T, ns, name string, timeout time.Duration, want ...string) string {
	t.Helper()
	var msg string
	berthtest.WaitFor(t, timeout, fmt.Sprintf("pod %s to be reported unschedulable with %q", name, want), func() (bool, string) {
		p := getPod(t, ns, name)
		if p.Spec.NodeName != "" {
			t.Fatalf("pod %s was bound to %s; want it pending", name, p.Spec.NodeName)
		}
		c := scheduledCondition(p)
		if c == nil {
			return false, "no PodScheduled condition"
		}
		msg = c.Message
		if c.Status != v1.ConditionFalse || c.Reason != v1.PodReasonUnschedulable {
			return false, fmt.Sprintf("PodScheduled=%s reason %s: %s", c.Status, c.Reason, c.Message)
		}
		for _, w := range want {
			if !strings.Contains(c.Message, w) {
				return false, "message: " + c.Message
			}
		}
		return true, ""
	})
	return msg
}

// clusterNodes returns every node by name.
func clusterNodes(t *testing.T) map[string]*v1.Node {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	out := make(map[string]*v1.Node, len(l.Items))
	for i := range l.Items {
		out[l.Items[i].Name] = &l.Items[i]
	}
	return out
}

// untainted counts the nodes without taints: those where a pod without
// tolerations gets past TaintToleration to the volume filters.
func untainted(nodes map[string]*v1.Node) int {
	n := 0
	for _, node := range nodes {
		if len(node.Spec.Taints) == 0 {
			n++
		}
	}
	return n
}

// checkClaimBound reads claim name back and checks what berth and the
// binding handshake promise for a pod on node: the claim is Bound to an
// existing PV that points back at it, the PV's node affinity admits the
// node, and berth stamped the claim with a valid bound-at time not before
// since. It returns the PV (nil after a failure).
func checkClaimBound(t *testing.T, ns, name string, node *v1.Node, since time.Time) *v1.PersistentVolume {
	t.Helper()
	pvc := getClaim(t, ns, name)
	if pvc.Status.Phase != v1.ClaimBound || pvc.Spec.VolumeName == "" {
		t.Errorf("claim %s: phase %s, volume %q; want Bound", name, pvc.Status.Phase, pvc.Spec.VolumeName)
		return nil
	}
	pv, err := testenv.Current().Client.CoreV1().PersistentVolumes().Get(context.Background(), pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Errorf("claim %s: PV %s: %v", name, pvc.Spec.VolumeName, err)
		return nil
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID || ref.Name != pvc.Name || ref.Namespace != ns {
		t.Errorf("claim %s: PV %s has claimRef %+v, want the claim (uid %s)", name, pv.Name, ref, pvc.UID)
	}
	if pv.Status.Phase != v1.VolumeBound {
		t.Errorf("claim %s: PV %s is %s, want Bound", name, pv.Name, pv.Status.Phase)
	}
	if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
		t.Errorf("claim %s: PV %s does not admit node %s of its pod: %v", name, pv.Name, node.Name, err)
	}
	stamp, ok := pvc.Annotations[volumebinding.BoundAtAnnotation]
	if !ok {
		t.Errorf("claim %s has no %s annotation (annotations %v)", name, volumebinding.BoundAtAnnotation, pvc.Annotations)
		return pv
	}
	at, err := time.Parse(time.RFC3339, stamp)
	if err != nil {
		t.Errorf("claim %s: %s=%q is not RFC 3339: %v", name, volumebinding.BoundAtAnnotation, stamp, err)
		return pv
	}
	if at.Before(since.Truncate(time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("claim %s: %s=%s is outside the test's run (started %s)", name, volumebinding.BoundAtAnnotation, stamp, since.UTC().Format(time.RFC3339))
	}
	return pv
}

// waitCapacities waits until the provisioner publishes a
// CSIStorageCapacity for class on each of hosts.
func waitCapacities(t *testing.T, class string, hosts []string) {
	t.Helper()
	berthtest.WaitFor(t, time.Minute, "CSIStorageCapacity objects for class "+class, func() (bool, string) {
		l, err := testenv.Current().Client.StorageV1().CSIStorageCapacities("kube-system").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, c := range l.Items {
			if c.StorageClassName == class && c.NodeTopology != nil {
				have[c.NodeTopology.MatchLabels[v1.LabelHostname]] = true
			}
		}
		missing := 0
		for _, h := range hosts {
			if !have[h] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d/%d published", len(hosts)-missing, len(hosts))
	})
}

// provisioningFailures returns the ProvisioningFailed events of the
// namespace's claims: the provisioner turning down a node berth selected.
func provisioningFailures(t *testing.T, ns string) []v1.Event {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: "reason=ProvisioningFailed,involvedObject.kind=PersistentVolumeClaim",
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return l.Items
}

// dump logs the namespace's pods, claims and warning events and the tail
// of the control plane's log (kube-controller-manager, provisioner).
func dump(t *testing.T, ns string) {
	ctx := context.Background()
	c := testenv.Current().Client
	if pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			line := fmt.Sprintf("pod %s node=%q", p.Name, p.Spec.NodeName)
			if cond := scheduledCondition(&p); cond != nil {
				line += fmt.Sprintf(" PodScheduled=%s %s: %s", cond.Status, cond.Reason, cond.Message)
			}
			t.Log(line)
		}
	}
	if pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pvcs.Items {
			t.Logf("claim %s phase=%s volume=%q selected-node=%q bound-at=%q", p.Name, p.Status.Phase, p.Spec.VolumeName,
				p.Annotations[volume.AnnSelectedNode], p.Annotations[volumebinding.BoundAtAnnotation])
		}
	}
	if evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"}); err == nil {
		for i, e := range evs.Items {
			if i == 30 {
				t.Logf("... and %d more warning events", len(evs.Items)-i)
				break
			}
			t.Logf("event %s/%s %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	t.Logf("devcluster log tail:\n%s", testenv.Current().LogTail(40))
}
