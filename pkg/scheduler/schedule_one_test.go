package scheduler

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/scheduler/profile"
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

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		name       string
		global     int32
		profilePct *int32
		numAll     int
		want       int
	}{
		{name: "tiny cluster", numAll: 10, want: 10},
		{name: "below the minimum", numAll: 99, want: 99},
		{name: "100 nodes adaptive gives 50, floored to 100", numAll: 100, want: 100},
		{name: "1000 nodes adaptive 42%", numAll: 1000, want: 420},
		{name: "5000 nodes adaptive 10%", numAll: 5000, want: 500},
		{name: "6000 nodes adaptive floors at 5%", numAll: 6000, want: 300},
		{name: "20000 nodes adaptive 5%", numAll: 20000, want: 1000},
		{name: "explicit 100 is all", global: 100, numAll: 5000, want: 5000},
		{name: "explicit 30", global: 30, numAll: 5000, want: 1500},
		{name: "explicit 1 floored to 100 nodes", global: 1, numAll: 5000, want: 100},
		{name: "profile overrides global", global: 100, profilePct: ptr.To[int32](20), numAll: 5000, want: 1000},
		{name: "profile 0 is adaptive", global: 100, profilePct: ptr.To[int32](0), numAll: 5000, want: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scheduler{percentageOfNodesToScore: tc.global}
			if got := s.numFeasibleNodesToFind(tc.profilePct, tc.numAll); got != tc.want {
				t.Errorf("numFeasibleNodesToFind(%v, %d) with global %d = %d, want %d", tc.profilePct, tc.numAll, tc.global, got, tc.want)
			}
		})
	}
}

func TestSelectHost(t *testing.T) {
	t.Run("picks the maximum", func(t *testing.T) {
		scores := []profile.NodeScores{{Name: "a", TotalScore: 5}, {Name: "b", TotalScore: 9}, {Name: "c", TotalScore: 3}}
		for range 100 {
			if got := selectHost(scores); got != "b" {
				t.Fatalf("selectHost = %q, want b", got)
			}
		}
	})
	t.Run("single node", func(t *testing.T) {
		if got := selectHost([]profile.NodeScores{{Name: "only"}}); got != "only" {
			t.Errorf("selectHost = %q, want only", got)
		}
	})
	t.Run("spreads ties", func(t *testing.T) {
		scores := []profile.NodeScores{{Name: "low", TotalScore: 1}, {Name: "a", TotalScore: 10}, {Name: "b", TotalScore: 10},
			{Name: "mid", TotalScore: 7}, {Name: "c", TotalScore: 10}}
		counts := map[string]int{}
		const runs = 1000
		for range runs {
			counts[selectHost(scores)]++
		}
		// Each tied node expects 333; 200 is about nine standard deviations
		// below that.
		for _, n := range []string{"a", "b", "c"} {
			if counts[n] <= 200 {
				t.Errorf("node %s picked %d/%d times, want > 200 (counts %v)", n, counts[n], runs, counts)
			}
		}
		if counts["low"]+counts["mid"] != 0 {
			t.Errorf("a lower score was picked: %v", counts)
		}
	})
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
