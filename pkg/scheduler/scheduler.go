package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/metrics"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
	"github.com/berthsched/berth/pkg/scheduler/core"
	"github.com/berthsched/berth/pkg/scheduler/profile"
	"github.com/berthsched/berth/pkg/scheduler/queue"
)

// Defaults for Options fields left zero.
const (
	DefaultBindConcurrency          = 64
	DefaultAssumedPodTTL            = 60 * time.Second
	DefaultConsistencyCheckInterval = 30 * time.Second
	DefaultUnschedulableTimeout     = 5 * time.Minute
	reportWorkers                   = 4
)

// Options configures a Scheduler. Clients are separate so that binding,
// failure reporting and informers each have their own rate limiter.
type Options struct {
	// Config is the loaded configuration.
	Config *config.Config
	// Registry holds the plugins profiles may enable.
	Registry framework.Registry
	// InformerFactory feeds the cache and queue; the caller starts it.
	InformerFactory informers.SharedInformerFactory
	// DynamicInformerFactory watches the custom resources plugins declare
	// as event sources (framework.EventSourcer) and lets plugins read
	// them; the caller starts it. Nil is fine when no plugin needs one.
	DynamicInformerFactory dynamicinformer.DynamicSharedInformerFactory
	// BindClient is used by bind plugins (via the Handle's ClientSet) and
	// preemption; give it its own rate limiter.
	BindClient kubernetes.Interface
	// StatusClient writes pod conditions.
	StatusClient kubernetes.Interface
	// EventBroadcaster sends events; the caller starts and stops it.
	EventBroadcaster events.EventBroadcaster
	// Metrics receives everything berth measures.
	Metrics *metrics.Metrics
	// Clock is injected for tests; nil means the real clock. It also
	// measures Permit wait timeouts, so a test can step past one.
	Clock clock.WithTicker
	// BindConcurrency bounds binding cycles in flight. Pods waiting at
	// Permit or in PreBind do not hold a slot, so a gang larger than this
	// bound, or slow storage, cannot stall the scheduling loop.
	BindConcurrency int
	// AssumedPodTTL is how long an assumed pod whose bind was sent may wait
	// for the informer to confirm it before it is expired.
	AssumedPodTTL time.Duration
	// ConsistencyCheckInterval is the period of the cache/informer check.
	ConsistencyCheckInterval time.Duration
	// TieBreakByName breaks ties between equally scored nodes by name
	// (the smallest wins) instead of at random, so that a run can be
	// reproduced and compared with the extender and the what-if, whatever
	// order the nodes were listed in.
	TieBreakByName bool
	// UnschedulableTimeout is the periodic flush of unschedulable pods.
	UnschedulableTimeout time.Duration
}

// Scheduler is berth's engine.
type Scheduler struct {
	clock    clock.WithTicker
	metrics  *metrics.Metrics
	profiles map[string]*profile.Profile
	cache    *schedcache.Cache
	queue    *queue.PriorityQueue
	snapshot *schedcache.Snapshot
	reporter *reporter

	informerFactory informers.SharedInformerFactory
	dynamicFactory  dynamicinformer.DynamicSharedInformerFactory
	// handlers are the pod and node handler registrations that feed the
	// cache and the queue (WaitForHandlersSync).
	handlers   []cache.ResourceEventHandlerRegistration
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister

	parallelism              int
	percentageOfNodesToScore int32
	nextStartNodeIndex       int
	tieBreakByName           bool
	consistencyInterval      time.Duration

	// memo reuses node-local verdicts and scores across identical pods
	// (equivalence.go); only the scheduling loop touches it.
	memo core.Memo
	// rand breaks score ties and samples plugin metrics; only the
	// scheduling loop uses it.
	rand *rand.Rand
	// nominator tracks pods nominated to nodes by preemption.
	nominator *nominator

	bindSem *semaphore.Weighted
	bindWG  sync.WaitGroup

	// groups is the last state of each gang, for berth_pod_groups.
	groups groupTracker
}

// handle is the framework.Handle given to plugins. Its fields are plain
// values: an ability the engine lacks is a nil field, which its accessor
// returns as a true nil.
type handle struct {
	snapshot   framework.SharedLister
	client     kubernetes.Interface
	factory    informers.SharedInformerFactory
	dynamic    dynamicinformer.DynamicSharedInformerFactory
	recorder   events.EventRecorder
	preemption *preemption
	activator  framework.PodActivator
}

func (h *handle) SnapshotSharedLister() framework.SharedLister           { return h.snapshot }
func (h *handle) ClientSet() kubernetes.Interface                        { return h.client }
func (h *handle) SharedInformerFactory() informers.SharedInformerFactory { return h.factory }
func (h *handle) EventRecorder() events.EventRecorder                    { return h.recorder }
func (h *handle) DynamicInformerFactory() dynamicinformer.DynamicSharedInformerFactory {
	return h.dynamic
}

// GetWaitingPod is never reached by plugins: each profile wraps the handle
// with its own waiting-pod map (profile.New), which answers instead.
func (h *handle) GetWaitingPod(string) framework.WaitingPod { return nil }

func (h *handle) Preemption() framework.Preemption {
	if h.preemption == nil {
		return nil
	}
	return h.preemption
}

func (h *handle) PodActivator() framework.PodActivator { return h.activator }

// activator forwards to the queue, which is built after the profiles.
type activator struct{ s *Scheduler }

func (a activator) Activate(logger klog.Logger, pods map[string]*v1.Pod) {
	a.s.queue.Activate(logger, pods)
}

// New builds the engine: profiles, cache, queue and informer handlers. It
// does not start anything; call Run.
func New(ctx context.Context, opts Options) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.BindConcurrency <= 0 {
		opts.BindConcurrency = DefaultBindConcurrency
	}
	if opts.AssumedPodTTL <= 0 {
		opts.AssumedPodTTL = DefaultAssumedPodTTL
	}
	if opts.ConsistencyCheckInterval <= 0 {
		opts.ConsistencyCheckInterval = DefaultConsistencyCheckInterval
	}
	if opts.UnschedulableTimeout <= 0 {
		opts.UnschedulableTimeout = DefaultUnschedulableTimeout
	}
	cfg := opts.Config
	s := &Scheduler{
		clock:                    opts.Clock,
		metrics:                  opts.Metrics,
		profiles:                 map[string]*profile.Profile{},
		snapshot:                 schedcache.NewEmptySnapshot(),
		informerFactory:          opts.InformerFactory,
		dynamicFactory:           opts.DynamicInformerFactory,
		podLister:                opts.InformerFactory.Core().V1().Pods().Lister(),
		nodeLister:               opts.InformerFactory.Core().V1().Nodes().Lister(),
		parallelism:              cfg.Parallelism,
		percentageOfNodesToScore: cfg.PercentageOfNodesToScore,
		tieBreakByName:           opts.TieBreakByName,
		consistencyInterval:      opts.ConsistencyCheckInterval,
		bindSem:                  semaphore.NewWeighted(int64(opts.BindConcurrency)),
		nominator:                newNominator(),
		rand:                     rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6265727468)),
	}
	s.cache = schedcache.New(opts.AssumedPodTTL, opts.Clock, cacheMetrics{opts.Metrics})
	if opts.BindClient != nil {
		s.cache.SetBindingCheck(BindingCheck(opts.BindClient))
	}
	initErrorSeries(opts.Metrics)

	recorders := map[string]events.EventRecorder{}
	preEnqueue := map[string][]framework.PreEnqueuePlugin{}
	clusterEvents := map[string]map[string][]framework.ClusterEventWithHint{}
	var less func(a, b *framework.QueuedPodInfo) bool
	var queueSortName string
	for _, pc := range cfg.Profiles {
		rec := opts.EventBroadcaster.NewRecorder(scheme.Scheme, pc.SchedulerName)
		recorders[pc.SchedulerName] = rec
		pre := &preemption{nom: s.nominator, metrics: preemptionMetrics{opts.Metrics}, cache: s.cache}
		h := &handle{snapshot: s.snapshot, client: opts.BindClient, factory: opts.InformerFactory, dynamic: opts.DynamicInformerFactory, recorder: rec, preemption: pre, activator: activator{s}}
		p, err := profile.New(ctx, opts.Registry, pc, profile.Options{Handle: h, Metrics: opts.Metrics, Parallelism: cfg.Parallelism, Clock: opts.Clock})
		if err != nil {
			return nil, err
		}
		pre.prof = p
		s.profiles[pc.SchedulerName] = p
		preEnqueue[pc.SchedulerName] = p.PreEnqueuePlugins()
		evs, err := p.ClusterEvents(ctx)
		if err != nil {
			return nil, err
		}
		clusterEvents[pc.SchedulerName] = evs
		if less == nil {
			less, queueSortName = p.QueueSortLess(), p.QueueSortName()
		} else if p.QueueSortName() != queueSortName {
			return nil, fmt.Errorf("profile %q uses queueSort plugin %q but another profile uses %q: all profiles must share one queue order", pc.SchedulerName, p.QueueSortName(), queueSortName)
		}
	}
	if less == nil {
		return nil, fmt.Errorf("no profiles configured")
	}
	s.queue = queue.New(less, queue.Options{
		Clock:                opts.Clock,
		InitialBackoff:       cfg.PodInitialBackoff,
		MaxBackoff:           cfg.PodMaxBackoff,
		UnschedulableTimeout: opts.UnschedulableTimeout,
		PreEnqueuePlugins:    preEnqueue,
		ClusterEvents:        clusterEvents,
		Metrics:              queueMetrics{opts.Metrics},
	})
	s.reporter = newReporter(opts.StatusClient, s.podLister, recorders)
	if err := s.addEventHandlers(); err != nil {
		return nil, err
	}
	sources := map[framework.EventResource]framework.EventSource{}
	for _, p := range s.profiles {
		for _, src := range p.EventSources() {
			sources[src.Resource] = src
		}
	}
	if err := checkEventFeeds(clusterEvents, sources, s.dynamicFactory != nil); err != nil {
		return nil, err
	}
	if err := s.addSourceEventHandlers(clusterEvents, sources); err != nil {
		return nil, err
	}
	return s, nil
}

// Profiles returns the profiles by schedulerName.
func (s *Scheduler) Profiles() map[string]*profile.Profile { return s.profiles }

// Queue exposes the queue (tests and the explain tooling read it).
func (s *Scheduler) Queue() *queue.PriorityQueue { return s.queue }

// Cache exposes the cache (tests and the explain tooling read it).
func (s *Scheduler) Cache() *schedcache.Cache { return s.cache }

// Run schedules until ctx is done, then waits for in-flight binds. The
// informers must have been started and synced by the caller.
func (s *Scheduler) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	s.queue.Run(logger)
	s.cache.Run(ctx, time.Second)
	go s.reporter.Run(ctx, reportWorkers)
	go s.runConsistencyCheck(ctx)
	go s.reportGated(ctx)
	go func() {
		<-ctx.Done()
		s.queue.Close()
	}()
	for ctx.Err() == nil {
		s.ScheduleOne(ctx)
	}
	logger.Info("Scheduling loop stopped; waiting for in-flight binds")
	s.bindWG.Wait()
}

// Gated pods are reported on (PodScheduled=False and a FailedScheduling
// event with the gating plugin's message) once a PreEnqueue plugin has
// held them GatedReportDelay, and again when the message changes, at
// most every GatedReportEvery.
const (
	GatedReportDelay = 10 * time.Second
	GatedReportEvery = time.Minute
)

// reportGated tells the owners of pods held back by a PreEnqueue plugin
// (a PodGroup that does not exist, a gang short of members) why they
// wait: without it such a pod stays Pending with no condition and no
// event.
func (s *Scheduler) reportGated(ctx context.Context) {
	t := s.clock.NewTicker(GatedReportDelay / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		logger := klog.FromContext(ctx)
		for _, r := range s.queue.LongGated(logger, GatedReportDelay, GatedReportEvery) {
			logger.V(2).Info("Pod held before scheduling", "pod", klog.KObj(r.Pod), "reason", r.Message)
			s.reporter.Report(r.Pod, v1.PodReasonUnschedulable, r.Message)
		}
	}
}

// WaitForBinds waits for every binding cycle started so far.
func (s *Scheduler) WaitForBinds() { s.bindWG.Wait() }

// runConsistencyCheck compares the cache with the informers periodically
// and repairs any drift (which Reconcile counts in berth_cache_drift_total).
func (s *Scheduler) runConsistencyCheck(ctx context.Context) {
	t := s.clock.NewTicker(s.consistencyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.CheckConsistency(ctx)
		}
	}
}

// CheckConsistency runs one consistency check now.
func (s *Scheduler) CheckConsistency(ctx context.Context) int {
	logger := klog.FromContext(ctx)
	nodes, err := s.nodeLister.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing nodes for the consistency check")
		return 0
	}
	all, err := s.podLister.List(labels.Everything())
	if err != nil {
		logger.Error(err, "Listing pods for the consistency check")
		return 0
	}
	pods := make([]*v1.Pod, 0, len(all))
	for _, p := range all {
		if assignedAndActive(p) {
			pods = append(pods, p)
		}
	}
	drift := s.cache.Reconcile(logger, nodes, pods)
	if drift > 0 {
		logger.Info("Cache drift repaired", "differences", drift)
	}
	return drift
}
