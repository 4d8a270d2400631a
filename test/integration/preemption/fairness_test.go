package preemption

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/berthtest"
	"github.com/berthsched/berth/internal/nodegen"
	"github.com/berthsched/berth/internal/testenv"
)

// fairnessPod targets the fairness pool (its own tainted nodes, so the
// preemption test's pods and these never meet).
func fairnessPod(name, cpu string, priority string, extra func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"test": "fairness"}},
		Spec:       podSpec(priority, cpu),
	}
	p.Spec.NodeSelector = map[string]string{"pool": "fairness"}
	p.Spec.Tolerations = []v1.Toleration{{Key: "pool", Operator: v1.TolerationOpEqual, Value: "fairness", Effect: v1.TaintEffectNoSchedule}}
	if extra != nil {
		extra(p)
	}
	return p
}

func boundNode(t *testing.T, ns, name string) string {
	t.Helper()
	p, err := testenv.Current().Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Spec.NodeName
}

// TestQueueFairness checks the queue end to end: a pod that keeps failing
// does not hold up others, a pod is retried when a cluster event can help
// it (well before the 5-minute periodic flush), and a low-priority pod that
// cannot preempt is scheduled once capacity appears.
func TestQueueFairness(t *testing.T) {
	env := testenv.Current()
	ctx := context.Background()
	c := env.Client
	if _, err := nodegen.Create(ctx, c, nodegen.Options{Count: 3, Profile: nodegen.ProfileBasic, Prefix: "fair-", Zones: 1}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		n, err := c.CoreV1().Nodes().Get(ctx, nodegen.NodeName(nodegen.Options{Prefix: "fair-"}.Defaults(), i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Labels["pool"] = "fairness"
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: "pool", Value: "fairness", Effect: v1.TaintEffectNoSchedule})
		if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	priorityClass(t, "berth-low", lowPriority)
	priorityClass(t, "berth-high", highPriority)
	berthtest.Start(t, nil)
	ns := env.CreateNamespace(t, "fairness")
	create := func(p *v1.Pod) {
		t.Helper()
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// 1. A high-priority pod that fits nowhere sits at the head of the
	// queue's order; it must back off instead of blocking the others.
	create(fairnessPod("hopeless", "1000", "berth-high", nil))
	for i := 0; i < 12; i++ {
		create(fairnessPod(fmt.Sprintf("filler-%d", i), "1", "berth-low", nil))
	}
	berthtest.WaitFor(t, time.Minute, "the fillers to be bound while the hopeless pod keeps failing", func() (bool, string) {
		n := 0
		for i := 0; i < 12; i++ {
			if boundNode(t, ns, fmt.Sprintf("filler-%d", i)) != "" {
				n++
			}
		}
		return n == 12, fmt.Sprintf("%d/12 bound", n)
	})
	if n := boundNode(t, ns, "hopeless"); n != "" {
		t.Errorf("the 1000-cpu pod was bound to %s", n)
	}

	// 2. A pod waiting for a label no node has is retried when a node
	// gets it: the NodeAffinity plugin's node-label event moves it.
	create(fairnessPod("waits-for-label", "100m", "berth-low", func(p *v1.Pod) { p.Spec.NodeSelector["feature"] = "on" }))
	berthtest.WaitFor(t, 30*time.Second, "the pod to be reported unschedulable", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "waits-for-label", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse {
				return true, cond.Message
			}
		}
		return false, "no condition yet"
	})
	target := nodegen.NodeName(nodegen.Options{Prefix: "fair-"}.Defaults(), 1)
	n, err := c.CoreV1().Nodes().Get(ctx, target, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["feature"] = "on"
	if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Well inside the 5-minute periodic flush: only the event can do it.
	berthtest.WaitFor(t, 30*time.Second, "the pod to be bound after the node label event", func() (bool, string) {
		got := boundNode(t, ns, "waits-for-label")
		return got == target, "bound to " + got
	})

	// 3. Fill what is left with equal-priority pods; a further low-priority
	// pod cannot preempt them, waits, and is scheduled once one goes.
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "pool=fairness"})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var slots int64 // one-core pods that still fit, node by node
	for _, n := range nodes.Items {
		free := n.Status.Allocatable.Cpu().MilliValue()
		for _, p := range pods.Items {
			if p.Spec.NodeName == n.Name {
				free -= p.Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
			}
		}
		slots += free / 1000
	}
	for i := int64(0); i < slots; i++ {
		create(fairnessPod(fmt.Sprintf("more-%d", i), "1", "berth-low", nil))
	}
	berthtest.WaitFor(t, time.Minute, "the pool to be full", func() (bool, string) {
		n := int64(0)
		for i := int64(0); i < slots; i++ {
			if boundNode(t, ns, fmt.Sprintf("more-%d", i)) != "" {
				n++
			}
		}
		return n == slots, fmt.Sprintf("%d/%d bound", n, slots)
	})
	create(fairnessPod("late-low", "1", "berth-low", nil))
	berthtest.WaitFor(t, 30*time.Second, "the late low-priority pod to be reported unschedulable", func() (bool, string) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "late-low", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p.Spec.NodeName != "" {
			return false, "bound to " + p.Spec.NodeName + " (the pool was not full)"
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse {
				return true, cond.Message
			}
		}
		return false, "no condition yet"
	})
	if err := c.CoreV1().Pods(ns).Delete(ctx, "filler-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	berthtest.WaitFor(t, 30*time.Second, "the late low-priority pod to be bound once capacity appears", func() (bool, string) {
		got := boundNode(t, ns, "late-low")
		return got != "", "bound to " + got
	})
}
