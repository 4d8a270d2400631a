package inprocbench

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
)

// KubeScheduler names kube-scheduler's instances.
const KubeScheduler = "kube-scheduler"

// StartKube builds kube-scheduler v1.37 (scheduler.New with the default
// configuration of latest.Default(): the default profile, adaptive
// percentageOfNodesToScore, parallelism 16) over a fake clientset holding
// c, starts its queue and informers, and returns once every pending pod is
// queued. Events go to a recorder that drops them; logging is discarded.
func StartKube(ctx context.Context, c *Cluster) (*Instance, error) {
	cfg, err := latest.Default()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(quietContext(ctx))
	in, client := newInstance(KubeScheduler, c, v1.DefaultSchedulerName)
	factory := scheduler.NewInformerFactory(client, 0, nil)
	sched, err := scheduler.New(ctx, client, factory, nil,
		func(string) events.EventRecorderLogger { return &events.FakeRecorder{} },
		scheduler.WithProfiles(cfg.Profiles...),
		scheduler.WithPercentageOfNodesToScore(cfg.PercentageOfNodesToScore),
		scheduler.WithParallelism(cfg.Parallelism),
		scheduler.WithPodInitialBackoffSeconds(cfg.PodInitialBackoffSeconds),
		scheduler.WithPodMaxBackoffSeconds(cfg.PodMaxBackoffSeconds),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("kube-scheduler: %w", err)
	}
	in.scheduleOne, in.cancel, in.factory = sched.ScheduleOne, cancel, factory
	in.closeQueue = sched.SchedulingQueue.Close
	if err := startInformers(ctx, factory, sched.WaitForHandlersSync); err != nil {
		in.Close()
		return nil, err
	}
	// What Scheduler.Run starts before its ScheduleOne loop.
	sched.SchedulingQueue.Run(klog.FromContext(ctx))
	if sched.APIDispatcher != nil {
		sched.APIDispatcher.Run(klog.FromContext(ctx))
		closeQueue := in.closeQueue
		in.closeQueue = func() { sched.APIDispatcher.Close(); closeQueue() }
	}
	return in, nil
}
