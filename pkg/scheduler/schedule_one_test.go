package scheduler

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
)

func node(name, cpu string) *st.NodeWrapper {
	return st.MakeNode().Name(name).Capacity("cpu", cpu, "memory", "16Gi", "pods", "110")
}

func pendingPod(name string) *st.PodWrapper {
	return st.MakePod().Name(name).SchedulerName(testSchedulerName)
}

func TestScheduleOneBindsToTheOnlyFittingNode(t *testing.T) {
	env := newTestEnv(t, envOptions{},
		node("small-1", "1").Obj(), node("big", "4").Obj(), node("small-2", "1").Obj())
	pod := pendingPod("p").Req("cpu", "2").Obj()
	env.createPods(pod)

	env.scheduleOne()

	if got := env.boundTo(); got["p"] != "big" || len(got) != 1 {
		t.Fatalf("bindings = %v, want p -> big", got)
	}
	if got := counterValue(env.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled, testSchedulerName)); got != 1 {
		t.Errorf("scheduled attempts = %v, want 1", got)
	}
	// The informer delivers the bound pod, which confirms the assumed one.
	env.waitFor("the cache to confirm the bind", func() bool { return env.inCache(pod) && !env.assumed(pod) })
	if a, b, u := env.queueLen(); a+b+u != 0 {
		t.Errorf("queue = %d/%d/%d, want empty", a, b, u)
	}
}

func TestScheduleOneUnschedulableIsRequeuedWithDiagnosis(t *testing.T) {
	env := newTestEnv(t, envOptions{},
		node("a-1", "1").Label("zone", "a").Obj(),
		node("a-2", "1").Label("zone", "a").Obj(),
		node("b-1", "8").Label("zone", "b").Obj())
	pod := pendingPod("p").Req("cpu", "2").NodeSelector(map[string]string{"zone": "a"}).Obj()
	env.createPods(pod)

	env.scheduleOne()

	if got := env.boundTo(); len(got) != 0 {
		t.Fatalf("bindings = %v, want none", got)
	}
	if a, b, u := env.queueLen(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("queue = %d/%d/%d, want the pod in the unschedulable pool", a, b, u)
	}
	rep, ok := env.lastReport(pod)
	if !ok {
		t.Fatal("no failure report queued")
	}
	// Sorted as strings, as kube-scheduler does.
	const want = "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
	if rep.msg != want || rep.reason != v1.PodReasonUnschedulable {
		t.Errorf("report = %q (%s), want %q (%s)", rep.msg, rep.reason, want, v1.PodReasonUnschedulable)
	}
	if got := counterValue(env.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultUnschedulable, testSchedulerName)); got != 1 {
		t.Errorf("unschedulable attempts = %v, want 1", got)
	}
	if env.inCache(pod) {
		t.Error("an unschedulable pod must not be assumed")
	}

	// A node that fits moves the pod out of the pool (to backoff, it has
	// just failed); once the backoff expires it binds there.
	if _, err := env.client.CoreV1().Nodes().Create(env.ctx, node("a-big", "4").Label("zone", "a").Obj(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.waitFor("the pod to leave the pool", func() bool { _, _, u := env.queueLen(); return u == 0 })
	env.clock.Step(2 * time.Second)
	env.sched.queue.FlushBackoffQCompleted(env.logger())
	if a, _, _ := env.queueLen(); a != 1 {
		t.Fatalf("active = %d, want 1 after the backoff", a)
	}
	env.scheduleOne()
	if got := env.boundTo()["p"]; got != "a-big" {
		t.Errorf("bound to %q, want a-big", got)
	}
}

func TestScheduleOneRecoversFilterPanic(t *testing.T) {
	panicky := &filterPlugin{name: "PanicFilter", fn: func(pod *v1.Pod, _ *framework.NodeInfo) *framework.Status {
		if pod.Labels["panic"] == "yes" {
			panic("boom")
		}
		return nil
	}}
	env := newTestEnv(t, envOptions{extra: []fakeRegistration{register(panicky.name, panicky, nil)}},
		node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj())
	bad := pendingPod("bad").Label("panic", "yes").Priority(10).Req("cpu", "1").Obj()
	good := pendingPod("good").Req("cpu", "1").Obj()
	env.createPods(bad, good)

	env.scheduleOne() // bad: higher priority, popped first
	if got := env.boundTo(); len(got) != 0 {
		t.Fatalf("bindings = %v after the panic, want none", got)
	}
	if a, b, u := env.queueLen(); a != 1 || b != 1 || u != 0 {
		t.Fatalf("queue = %d/%d/%d, want good active and bad in backoff", a, b, u)
	}
	if got := counterValue(env.metrics.PluginPanics.WithLabelValues("PanicFilter", "Filter")); got < 1 {
		t.Errorf("berth_plugin_panics_total{PanicFilter,Filter} = %v, want >= 1", got)
	}
	if got := counterValue(env.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultError, testSchedulerName)); got != 1 {
		t.Errorf("error attempts = %v, want 1", got)
	}
	rep, ok := env.lastReport(bad)
	if !ok || rep.reason != v1.PodReasonSchedulerError {
		t.Errorf("report = %+v, want reason %s", rep, v1.PodReasonSchedulerError)
	}

	env.scheduleOne() // the loop goes on: good binds
	if got := env.boundTo(); len(got) != 1 || got["good"] == "" {
		t.Errorf("bindings = %v, want good bound", got)
	}
}

// TestScheduleOneRotatesStartIndex checks that successive cycles start
// filtering where the previous one stopped, so every node gets its turn.
func TestScheduleOneRotatesStartIndex(t *testing.T) {
	var objs []runtime.Object
	for i := range 200 {
		objs = append(objs, node(fmt.Sprintf("n%03d", i), "64").Obj())
	}
	env := newTestEnv(t, envOptions{configYAML: `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 10
parallelism: 1
`}, objs...)
	env.createPods(pendingPod("p1").Req("cpu", "1").Obj())
	env.scheduleOne()
	// 10% of 200 is 20, floored to 100 feasible nodes: the next cycle
	// starts at or just after the 100th node.
	first := env.sched.nextStartNodeIndex
	if first < 100 || first >= 200 {
		t.Fatalf("nextStartNodeIndex = %d after one cycle, want in [100, 200)", first)
	}
	env.createPods(pendingPod("p2").Req("cpu", "1").Obj())
	env.scheduleOne()
	if got, want := env.sched.nextStartNodeIndex, (2*first)%200; got != want {
		t.Errorf("nextStartNodeIndex = %d after two cycles, want %d", got, want)
	}
}
