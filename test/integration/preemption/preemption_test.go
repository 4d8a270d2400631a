package preemption

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{ControllerManager: true}) }

const (
	lowPriority  = 100
	highPriority = 1000
)

func priorityClass(t *testing.T, name string, value int32) {
	t.Helper()
	_, err := testenv.Current().Client.SchedulingV1().PriorityClasses().Create(context.Background(),
		&schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func podSpec(priorityClass, cpu string) v1.PodSpec {
	return v1.PodSpec{
		SchedulerName:     "berth",
		PriorityClassName: priorityClass,
		// No kubelet runs here: a zero grace period makes a deleted
		// victim disappear at once instead of terminating forever.
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers: []v1.Container{{Name: "c", Image: "pause", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("64Mi")},
		}}},
	}
}

func replicaSet(ns, name string, replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec("berth-low", "1")},
		},
	}
}

func listPods(t *testing.T, ns, selector string) []v1.Pod {
	t.Helper()
	l, err := testenv.Current().Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func uids(pods []v1.Pod) map[types.UID]string {
	out := map[types.UID]string{}
	for _, p := range pods {
		out[p.UID] = p.Name
	}
	return out
}

// TestPreemptionEndToEnd fills ten 8-core nodes with low-priority pods of
// two ReplicaSets, one of them protected by a PodDisruptionBudget that
// allows no disruption, then submits high-priority pods that only fit by
// preemption. Each preemptor must run where victims were evicted, only
// unprotected lower-priority pods may be evicted, and the evicted pods,
// re-created by their ReplicaSet, must be pending with a clear reason.
func TestPreemptionEndToEnd(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	if _, err := nodegen.Create(ctx, c, nodegen.Options{Count: 10, Profile: nodegen.ProfileBasic, Zones: 2}); err != nil {
		t.Fatal(err)
	}
	priorityClass(t, "berth-low", lowPriority)
	priorityClass(t, "berth-high", highPriority)

	berthtest.Start(t, nil)

	// Count the one-core slots the fleet offers; fill all but two of them
	// with low-priority pods (half protected, half not), so that no
	// 2-core pod fits anywhere without preemption.
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slots := 0
	for _, n := range nodes.Items {
		if len(n.Spec.Taints) > 0 {
			continue // another test's pool (fairness_test.go), closed to these pods
		}
		slots += int(n.Status.Allocatable.Cpu().MilliValue() / 1000)
	}
	protected := int32(slots / 2)
	spare := int32(slots) - protected - 2
	total := int(protected + spare)
	t.Logf("%d one-core slots: %d protected, %d unprotected low-priority pods", slots, protected, spare)

	ns := env.CreateNamespace(t, "preempt")
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "protected"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(protected)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "protected"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []*appsv1.ReplicaSet{replicaSet(ns, "protected", protected), replicaSet(ns, "spare", spare)} {
		if _, err := c.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	berthtest.WaitFor(t, 2*time.Minute, "the low-priority pods to be bound", func() (bool, string) {
		n := 0
		for _, p := range listPods(t, ns, "app in (protected,spare)") {
			if p.Spec.NodeName != "" {
				n++
			}
		}
		return n == total, fmt.Sprintf("%d/%d bound", n, total)
	})
	berthtest.WaitFor(t, time.Minute, "the disruption controller to observe the budget", func() (bool, string) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "protected", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods == protected,
			fmt.Sprintf("expected=%d allowed=%d", pdb.Status.ExpectedPods, pdb.Status.DisruptionsAllowed)
	})
	protectedBefore := uids(listPods(t, ns, "app=protected"))
	spareBefore := uids(listPods(t, ns, "app=spare"))

	const preemptors = 6
	for i := 0; i < preemptors; i++ {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("urgent-%d", i), Labels: map[string]string{"app": "urgent"}},
			Spec: podSpec("berth-high", "2")}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	berthtest.WaitFor(t, 2*time.Minute, "every preemptor to be bound", func() (bool, string) {
		n := 0
		for _, p := range listPods(t, ns, "app=urgent") {
			if p.Spec.NodeName != "" {
				n++
			}
		}
		return n == preemptors, fmt.Sprintf("%d/%d bound", n, preemptors)
	})

	// No protected pod was evicted: an unprotected alternative existed.
	for uid, name := range protectedBefore {
		if _, ok := uids(listPods(t, ns, "app=protected"))[uid]; !ok {
			t.Errorf("protected pod %s was evicted although unprotected victims existed", name)
		}
	}
	// Some unprotected pods were evicted, and every preemptor runs on a
	// node that had one of them.
	spareNow := uids(listPods(t, ns, "app=spare"))
	evicted := 0
	for uid := range spareBefore {
		if _, ok := spareNow[uid]; !ok {
			evicted++
		}
	}
	if evicted < preemptors {
		t.Errorf("only %d unprotected pods were evicted for %d preemptors needing 2 cores each", evicted, preemptors)
	}
	// No pod of equal or higher priority was evicted: all preemptors stand.
	if n := len(listPods(t, ns, "app=urgent")); n != preemptors {
		t.Errorf("%d preemptors left, want %d", n, preemptors)
	}
	// Capacity holds on every node.
	used := map[string]int64{}
	for _, p := range listPods(t, ns, "") {
		if p.Spec.NodeName != "" {
			used[p.Spec.NodeName] += p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
		}
	}
	for node, m := range used {
		if m > 8000 {
			t.Errorf("node %s has %dm cpu requested, more than its 8 cores", node, m)
		}
	}
	// The re-created spare pods are pending, with the reason on the pod.
	berthtest.WaitFor(t, time.Minute, "re-created pods to report why they are pending", func() (bool, string) {
		pending, explained := 0, 0
		for _, p := range listPods(t, ns, "app=spare") {
			if p.Spec.NodeName != "" {
				continue
			}
			pending++
			for _, cond := range p.Status.Conditions {
				if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
					explained++
				}
			}
		}
		return pending > 0 && pending == explained, fmt.Sprintf("%d pending, %d with a PodScheduled=False condition", pending, explained)
	})
	for _, p := range listPods(t, ns, "app=spare") {
		if p.Spec.NodeName == "" {
			for _, cond := range p.Status.Conditions {
				if cond.Type == v1.PodScheduled {
					t.Logf("pending %s: %s", p.Name, cond.Message)
				}
			}
			break
		}
	}
}
