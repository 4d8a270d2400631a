package conformance

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	testingclock "k8s.io/utils/clock/testing"

	volcanov1beta1 "github.com/berthsched/berth/pkg/apis/volcano/v1beta1"
	xv1alpha1 "github.com/berthsched/berth/pkg/apis/xscheduling/v1alpha1"
	"github.com/berthsched/berth/pkg/config"
	berthfw "github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	"github.com/berthsched/berth/pkg/placement/gang"
	"github.com/berthsched/berth/pkg/plugins"
	"github.com/berthsched/berth/pkg/scheduler"
)

// berthGang runs berth's engine on gang cases.
type berthGang struct {
	registry berthfw.Registry
	cfg      *config.Config
}

func newBerthGang(reg berthfw.Registry) (*berthGang, error) {
	if reg == nil {
		reg = plugins.NewInTreeRegistry()
	}
	cfg, err := config.Load(nil, reg)
	if err != nil {
		return nil, fmt.Errorf("berth default config: %w", err)
	}
	return &berthGang{registry: reg, cfg: cfg}, nil
}

// run runs berth's Scheduler (pkg/scheduler.New with berth's default
// profile, GangScheduling included) on one admitted gang case: a fake
// clientset whose discovery serves scheduling.k8s.io/v1beta1 podgroups, a
// fake dynamic client holding the PodGroup, and a fake clock. The members
// are created one at a time, a millisecond apart on the queue's clock, as
// on kube-scheduler's side. Once all are in activeQ, ScheduleOne runs
// until activeQ is empty: once for a gang (the engine takes every queued
// member in one step), once per member for a group berth schedules pod by
// pod (minCount 1 without a topology key). The outcome is the binds.
func (b *berthGang) run(ctx context.Context, c *admittedGang) (GangOutcome, error) {
	// Unschedulable groups are logged as errors by kube-scheduler; the
	// outcome and the events say what happened.
	ctx, cancel := context.WithCancel(klog.NewContext(ctx, logr.Discard()))
	defer cancel()
	client, binds := newBindingClient(gangObjects(c, config.DefaultSchedulerName)...)
	client.Resources = []*metav1.APIResourceList{{
		GroupVersion: gang.UpstreamPodGroups.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: gang.UpstreamPodGroups.Resource, Namespaced: true, Kind: "PodGroup"}},
	}}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c.group)
	if err != nil {
		return GangOutcome{}, err
	}
	pg := unstructuredOf(u)
	pg.SetAPIVersion(gang.UpstreamPodGroups.GroupVersion().String())
	pg.SetKind("PodGroup")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gang.UpstreamPodGroups:          "PodGroupList",
		xv1alpha1.PodGroupResource:      "PodGroupList",
		volcanov1beta1.PodGroupResource: "PodGroupList",
	}, pg)
	factory := informers.NewSharedInformerFactory(client, 0)
	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	notes := &noteRecorder{}
	clk := testingclock.NewFakeClock(gangEpoch)
	sched, err := scheduler.New(ctx, scheduler.Options{
		Config:                 b.cfg,
		Registry:               b.registry,
		InformerFactory:        factory,
		DynamicInformerFactory: dynFactory,
		BindClient:             client,
		StatusClient:           client,
		EventBroadcaster:       noteBroadcaster{notes: notes},
		Metrics:                metrics.New(prometheus.NewRegistry()),
		Clock:                  clk,
	})
	if err != nil {
		return GangOutcome{}, fmt.Errorf("berth: %w", err)
	}
	defer sched.Queue().Close()
	factory.Start(ctx.Done())
	dynFactory.Start(ctx.Done())
	defer func() {
		// The informers stop on ctx; Shutdown waits for them.
		cancel()
		factory.Shutdown()
		dynFactory.Shutdown()
	}()
	factory.WaitForCacheSync(ctx.Done())
	dynFactory.WaitForCacheSync(ctx.Done())
	if err := sched.WaitForHandlersSync(ctx); err != nil {
		return GangOutcome{}, err
	}
	for _, p := range c.pending {
		clk.Step(time.Millisecond)
		p = withSchedulerName(p, config.DefaultSchedulerName)
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return GangOutcome{}, err
		}
		if err := waitUntil(ctx, "berth's queue to hold "+p.Name, func() bool {
			pods, _ := sched.Queue().PendingPods()
			for _, q := range pods {
				if q.UID == p.UID {
					return true
				}
			}
			return false
		}); err != nil {
			return GangOutcome{}, err
		}
	}
	// Every member is in the queue and its handler has run, so no event is
	// still to come. Members created before the group's quorum existed
	// were held back by GangScheduling's PreEnqueue and are still held:
	// berth's engine emits no cluster event for a new unscheduled pod, so
	// the plugin's Pod/Add hint never releases them. The group step pops
	// the first member in activeQ and takes the held ones with the rest.
	pending, _ := sched.Queue().PendingPods()
	active, _, _ := sched.Queue().Len()
	if active == 0 {
		return GangOutcome{}, fmt.Errorf("no member of the group reached berth's activeQ")
	}
	inActive := map[string]bool{}
	for _, p := range pending[:active] {
		inActive[p.Name] = true
	}
	var order []string
	for _, p := range c.pending {
		if inActive[p.Name] {
			order = append(order, p.Name)
			break
		}
	}
	for _, p := range c.pending {
		if p.Name != order[0] {
			order = append(order, p.Name)
		}
	}
	for range c.pending {
		if active, _, _ := sched.Queue().Len(); active == 0 {
			break
		}
		sched.ScheduleOne(ctx)
		sched.WaitForBinds()
	}
	return GangOutcome{Bound: binds.targets(), Order: order, Notes: notes.list()}, nil
}

// noteBroadcaster hands out the case's recorder; berth calls nothing else
// of the interface.
type noteBroadcaster struct {
	events.EventBroadcaster
	notes *noteRecorder
}

func (b noteBroadcaster) NewRecorder(*runtime.Scheme, string) events.EventRecorderLogger {
	return b.notes
}
