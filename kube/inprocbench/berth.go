package inprocbench

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/scheduler"
)

// Berth names berth's instances.
const Berth = "berth"

// berthAssumedPodTTL keeps assumed pods for the whole run: the fake never
// echoes a bind back, and kube-scheduler v1.37's cache never expires an
// assumed pod either.
const berthAssumedPodTTL = 24 * time.Hour

// StartBerth builds berth's engine (the default configuration: the
// default profile with every in-tree plugin's defaults, adaptive
// percentageOfNodesToScore) over a fake clientset holding c, starts its
// queue, cache and informers, and returns once every pending pod is
// queued. Events go to a recorder that drops them; logging is discarded.
func StartBerth(ctx context.Context, c *Cluster) (*Instance, error) {
	reg := plugins.NewInTreeRegistry()
	cfg, err := config.Load(nil, reg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(quietContext(ctx))
	in, client := newInstance(Berth, c, config.DefaultSchedulerName)
	factory := informers.NewSharedInformerFactory(client, 0)
	sched, err := scheduler.New(ctx, scheduler.Options{
		Config:           cfg,
		Registry:         reg,
		InformerFactory:  factory,
		BindClient:       client,
		StatusClient:     client,
		EventBroadcaster: dropEvents{},
		Metrics:          metrics.New(prometheus.NewRegistry()),
		AssumedPodTTL:    berthAssumedPodTTL,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("berth: %w", err)
	}
	in.scheduleOne, in.cancel, in.factory = sched.ScheduleOne, cancel, factory
	in.closeQueue = func() { sched.Queue().Close(); sched.WaitForBinds() }
	if err := startInformers(ctx, factory, sched.WaitForHandlersSync); err != nil {
		in.Close()
		return nil, err
	}
	// What Scheduler.Run starts that the scheduling of these pods uses
	// (the failure reporter and the cache/informer consistency check are
	// left out: no pod fails, and binds are not echoed back).
	sched.Queue().Run(klog.FromContext(ctx))
	sched.Cache().Run(ctx, time.Second)
	return in, nil
}

// dropEvents hands out recorders that drop events. Methods other than
// NewRecorder are never called.
type dropEvents struct{ events.EventBroadcaster }

func (dropEvents) NewRecorder(*runtime.Scheme, string) events.EventRecorderLogger {
	return &events.FakeRecorder{}
}
