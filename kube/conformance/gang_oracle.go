package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	testingclock "k8s.io/utils/clock/testing"

	kscheduler "k8s.io/kubernetes/pkg/scheduler"
	kmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"
)

// runOracleGang runs kube-scheduler v1.37's own Scheduler (scheduler.New
// with its default profile, over a fake clientset and the informer
// factory scheduler.NewInformerFactory builds) on one admitted gang case,
// with the feature gates gangGates set (GenericWorkload on, so the default
// profile has GangScheduling and pods with spec.schedulingGroup are queued
// as one pod group). The members are created one at a time, each a
// millisecond later on the queue's fake clock, so the group's queue order
// is their creation order; once the whole group is in activeQ, one
// ScheduleOne runs its pod group scheduling cycle, and the outcome is the
// binds it issued.
func runOracleGang(ctx context.Context, c *admittedGang) (GangOutcome, error) {
	kmetrics.Register()
	// Unschedulable groups are logged as errors by kube-scheduler; the
	// outcome and the events say what happened.
	ctx, cancel := context.WithCancel(klog.NewContext(ctx, logr.Discard()))
	defer cancel()
	objs := gangObjects(c, kubeSchedulerName)
	objs = append(objs, c.group.DeepCopy())
	client, binds := newBindingClient(objs...)
	inf := kscheduler.NewInformerFactory(client, 0, nil)
	notes := &noteRecorder{}
	clk := testingclock.NewFakeClock(gangEpoch)
	sched, err := kscheduler.New(ctx, client, inf, nil,
		func(string) events.EventRecorderLogger { return notes },
		kscheduler.WithClock(clk))
	if err != nil {
		return GangOutcome{}, fmt.Errorf("kube-scheduler: %w", err)
	}
	defer sched.SchedulingQueue.Close()
	inf.Start(ctx.Done())
	defer func() {
		// The informers stop on ctx; Shutdown waits for them.
		cancel()
		inf.Shutdown()
	}()
	inf.WaitForCacheSync(ctx.Done())
	bound := countBound(c)
	if err := waitUntil(ctx, "kube-scheduler's cache to hold the nodes and bound pods", func() bool {
		n, _ := sched.Cache.PodCount()
		return sched.Cache.NodeCount() == len(c.cluster.Nodes) && n == bound
	}); err != nil {
		return GangOutcome{}, err
	}

	var created []*v1.Pod
	for _, p := range c.pending {
		clk.Step(time.Millisecond)
		p = withSchedulerName(p, kubeSchedulerName)
		got, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return GangOutcome{}, err
		}
		created = append(created, got)
		if err := waitUntil(ctx, "kube-scheduler's queue to hold "+p.Name, func() bool {
			_, ok := sched.SchedulingQueue.GetPod(got.Name, got.Namespace, got.Spec.SchedulingGroup)
			return ok
		}); err != nil {
			return GangOutcome{}, err
		}
	}
	if err := waitUntil(ctx, "the pod group to be in kube-scheduler's activeQ", func() bool {
		return len(sched.SchedulingQueue.PodsInActiveQ()) == len(created)
	}); err != nil {
		_, summary := sched.SchedulingQueue.PendingPods()
		return GangOutcome{}, fmt.Errorf("%w (%s)", err, summary)
	}

	sched.ScheduleOne(ctx)

	// The members the cycle kept are assumed in the cache before their
	// binding cycles start; each of those issues one bind.
	want := 0
	for _, p := range created {
		if ok, _ := sched.Cache.IsAssumedPod(p); ok {
			want++
		}
	}
	if err := waitUntil(ctx, fmt.Sprintf("kube-scheduler's %d bind(s)", want), func() bool { return binds.count() >= want }); err != nil {
		return GangOutcome{}, err
	}
	out := GangOutcome{Bound: binds.targets(), Notes: notes.list()}
	for _, p := range created {
		out.Order = append(out.Order, p.Name)
	}
	if pg, err := client.SchedulingV1beta1().PodGroups(c.group.Namespace).Get(ctx, c.group.Name, metav1.GetOptions{}); err == nil {
		for _, cond := range pg.Status.Conditions {
			out.Notes = append(out.Notes, fmt.Sprintf("PodGroup condition %s=%s (%s): %s", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
	}
	return out, nil
}

// kubeSchedulerName is the default profile's schedulerName.
const kubeSchedulerName = v1.DefaultSchedulerName

// gangEpoch is when the fake clocks of both sides start.
var gangEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
