package dra

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
	"github.com/berthsched/berth/pkg/explain"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, DRA: true})
}

const (
	schedulerName = "berth"
	gpuNodes      = 3
	cardsPerNode  = 2
	replicas      = 8 // two more than there are cards
)

func scheduled(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// TestDeploymentWithClaimTemplates runs a Deployment of eight pods, each
// asking for one GPU through a ResourceClaimTemplate, on three GPU nodes
// with two cards each (and a node without GPUs), plus a pod whose claim
// asks for a model no node has. Six pods must bind, each claim allocated
// to a card on its pod's node and reserved for the pod, no card twice; the
// other two wait, told that every matching device is allocated; the odd
// pod waits, told which claim no node can satisfy, and explain says the
// same. Deleting a bound pod frees its card for a waiting one.
func TestDeploymentWithClaimTemplates(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	opts := nodegen.Options{Count: gpuNodes + 1, Profile: nodegen.ProfileBasic, Prefix: "dra-", Zones: 1}
	if _, err := nodegen.Create(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	for i := range gpuNodes {
		name := nodegen.NodeName(opts.Defaults(), i)
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels[testenv.GPUCountLabel] = fmt.Sprint(cardsPerNode)
		n.Labels[testenv.GPUModelLabel] = "h100"
		if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	berthtest.WaitFor(t, time.Minute, "the driver's ResourceSlices and DeviceClass", func() (bool, string) {
		l, err := c.ResourceV1().ResourceSlices().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		devices := 0
		for _, s := range l.Items {
			if s.Spec.Driver == testenv.GPUDriver {
				devices += len(s.Spec.Devices)
			}
		}
		if _, err := c.ResourceV1().DeviceClasses().Get(ctx, testenv.GPUDeviceClass, metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		return devices == gpuNodes*cardsPerNode, fmt.Sprintf("%d devices published", devices)
	})

	berthtest.Start(t, nil)
	ns := env.CreateNamespace(t, "dra")
	t.Cleanup(func() {
		if t.Failed() {
			dump(t, ns)
		}
	})
	tmpl := &resourceapi.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "one-gpu", Namespace: ns},
		Spec: resourceapi.ResourceClaimTemplateSpec{Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{
			Requests: []resourceapi.DeviceRequest{{Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: testenv.GPUDeviceClass}}},
		}}},
	}
	if _, err := c.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "trainer"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       podSpec(v1.PodResourceClaim{Name: "gpu", ResourceClaimTemplateName: ptr.To("one-gpu")}),
			},
		},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A claim no device satisfies: a model nobody has.
	h200 := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "h200", Namespace: ns},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name: "gpu", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: testenv.GPUDeviceClass,
				Selectors: []resourceapi.DeviceSelector{{CEL: &resourceapi.CELDeviceSelector{
					Expression: fmt.Sprintf(`device.attributes[%q].%s == "h200"`, testenv.GPUDriver, testenv.GPUAttributeModel)}}}},
		}}}},
	}
	if _, err := c.ResourceV1().ResourceClaims(ns).Create(ctx, h200, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	odd := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "wants-h200", Namespace: ns},
		Spec: podSpec(v1.PodResourceClaim{Name: "gpu", ResourceClaimName: ptr.To("h200")})}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, odd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	capacity := gpuNodes * cardsPerNode
	var pending []v1.Pod
	berthtest.WaitFor(t, 2*time.Minute, "six trainers bound and two reported unschedulable", func() (bool, string) {
		bound, unsched := 0, 0
		pending = nil
		for _, p := range pods(t, ns, "app=trainer") {
			switch cond := scheduled(&p); {
			case p.Spec.NodeName != "":
				bound++
			case cond != nil && cond.Reason == v1.PodReasonUnschedulable:
				unsched++
				pending = append(pending, p)
			}
		}
		return bound == capacity && unsched == replicas-capacity, fmt.Sprintf("%d bound, %d unschedulable", bound, unsched)
	})
	checkAllocations(t, ns)
	for _, p := range pending {
		msg := scheduled(&p).Message
		t.Logf("pending trainer %s: %s", p.Name, msg)
		if !strings.Contains(msg, "cannot allocate all claims") || !strings.Contains(msg, "every matching device is allocated") {
			t.Errorf("pending trainer %s: message %q should say the claims cannot be allocated because every matching device is taken", p.Name, msg)
		}
	}

	var oddMsg string
	berthtest.WaitFor(t, time.Minute, "wants-h200 reported unschedulable", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "wants-h200", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("wants-h200 bound to %s", p.Spec.NodeName)
		}
		if cond := scheduled(p); cond != nil && cond.Reason == v1.PodReasonUnschedulable {
			oddMsg = cond.Message
			return true, ""
		}
		return false, "no condition yet"
	})
	t.Logf("wants-h200: %s", oddMsg)
	for _, want := range []string{`claim "gpu=h200"`, "no node has devices that satisfy it", "class " + testenv.GPUDeviceClass + " with 1 selector(s)"} {
		if !strings.Contains(oddMsg, want) {
			t.Errorf("wants-h200 message %q lacks %q", oddMsg, want)
		}
	}

	// explain gives the same answer from its own evaluation.
	cl := berthtest.ExplainCluster(t, ctx, c)
	pod, err := cl.Pod(ns, "wants-h200")
	if err != nil {
		t.Fatal(err)
	}
	e, err := cl.Explain(ctx, pod, explain.Options{})
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	if e.Schedulable || !strings.Contains(e.Message, `claim "gpu=h200"`) || !strings.Contains(e.Message, "no node has devices that satisfy it") {
		t.Errorf("explain: schedulable=%v message %q; want the unsatisfiable claim named", e.Schedulable, e.Message)
	}

	// Freeing a card: delete one bound trainer. The resourceclaim
	// controller deletes its claim (deallocating the card), the ReplicaSet
	// replaces the pod, and a waiting trainer gets the card.
	var victim v1.Pod
	for _, p := range pods(t, ns, "app=trainer") {
		if p.Spec.NodeName != "" {
			victim = p
			break
		}
	}
	if err := c.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	berthtest.WaitFor(t, 2*time.Minute, "a waiting trainer bound to the freed card", func() (bool, string) {
		bound := 0
		for _, p := range pods(t, ns, "app=trainer") {
			if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
				bound++
			}
		}
		return bound == capacity, fmt.Sprintf("%d bound", bound)
	})
	checkAllocations(t, ns)
}

// checkAllocations asserts, for every bound pod of the namespace, that each
// of its claims is allocated on a device of the pod's node and reserved for
// the pod, and that no device is allocated to two claims.
func checkAllocations(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	c := testenv.Current().Client
	claims, err := c.ResourceV1().ResourceClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*resourceapi.ResourceClaim{}
	owner := map[string]string{}
	for i := range claims.Items {
		cl := &claims.Items[i]
		byName[cl.Name] = cl
		if cl.Status.Allocation == nil {
			continue
		}
		for _, r := range cl.Status.Allocation.Devices.Results {
			id := r.Driver + "/" + r.Pool + "/" + r.Device
			if prev, dup := owner[id]; dup {
				t.Errorf("device %s allocated to claims %s and %s", id, prev, cl.Name)
			}
			owner[id] = cl.Name
		}
	}
	for _, p := range pods(t, ns, "") {
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, pc := range p.Spec.ResourceClaims {
			name, _, err := resourceclaim.Name(&p, &pc)
			if err != nil || name == nil {
				t.Errorf("bound pod %s: claim %s has no name: %v", p.Name, pc.Name, err)
				continue
			}
			cl := byName[*name]
			switch {
			case cl == nil:
				t.Errorf("bound pod %s: claim %s does not exist", p.Name, *name)
			case cl.Status.Allocation == nil:
				t.Errorf("bound pod %s: claim %s is not allocated", p.Name, *name)
			case !resourceclaim.IsReservedForPod(&p, cl, false):
				t.Errorf("bound pod %s: claim %s is reserved for %+v, not the pod", p.Name, *name, cl.Status.ReservedFor)
			default:
				for _, r := range cl.Status.Allocation.Devices.Results {
					// The driver's pools are named after their node.
					if r.Driver != testenv.GPUDriver || r.Pool != p.Spec.NodeName {
						t.Errorf("bound pod %s on %s: claim %s got %s/%s/%s, not a card of its node", p.Name, p.Spec.NodeName, *name, r.Driver, r.Pool, r.Device)
					}
				}
			}
		}
	}
}

func podSpec(claims ...v1.PodResourceClaim) v1.PodSpec {
	spec := v1.PodSpec{
		SchedulerName:                 schedulerName,
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		ResourceClaims:                claims,
		Containers: []v1.Container{{Name: "c", Image: "pause", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")},
		}}},
	}
	for _, pc := range claims {
		spec.Containers[0].Resources.Claims = append(spec.Containers[0].Resources.Claims, v1.ResourceClaim{Name: pc.Name})
	}
	return spec
}

func pods(t *testing.T, ns, selector string) []v1.Pod {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

func dump(t *testing.T, ns string) {
	ctx := context.Background()
	c := testenv.Current().Client
	for _, p := range pods(t, ns, "") {
		line := fmt.Sprintf("pod %s node=%q claims=%v", p.Name, p.Spec.NodeName, p.Status.ResourceClaimStatuses)
		if cond := scheduled(&p); cond != nil {
			line += fmt.Sprintf(" PodScheduled=%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}
		t.Log(line)
	}
	if l, err := c.ResourceV1().ResourceClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, cl := range l.Items {
			t.Logf("claim %s allocation=%v reservedFor=%v", cl.Name, cl.Status.Allocation != nil, cl.Status.ReservedFor)
		}
	}
	t.Logf("devcluster log tail:\n%s", testenv.Current().LogTail(40))
}
