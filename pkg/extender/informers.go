package extender

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
	schedcache "github.com/berthsched/berth/pkg/scheduler/cache"
)

// DefaultAssumedPodTTL is how long a pod bound through the bind verb stays
// assumed without the informer confirming it before the cache releases
// what it took.
const DefaultAssumedPodTTL = scheduler.DefaultAssumedPodTTL

// ClusterOptions configure FromCluster.
type ClusterOptions struct {
	// Client reads the cluster and, in the bind verb, writes the
	// assignment annotation and the binding.
	Client kubernetes.Interface
	// Dynamic reads the custom resources plugins need; nil when the
	// profile needs none.
	Dynamic dynamic.Interface
	// Config and Registry build berth's profiles, as for `berth run`.
	Config   *config.Config
	Registry framework.Registry
	// Profile is the berth profile every pod is evaluated with; "" means
	// the configuration's first profile.
	Profile string
	// Seed seeds tie-breaking.
	Seed uint64
	// TieBreakByName: see Options.
	TieBreakByName bool
	// Metrics, if set, are the extender's metrics (see NewMetrics).
	Metrics *Metrics
	// AssumedPodTTL is DefaultAssumedPodTTL when zero.
	AssumedPodTTL time.Duration
}

// Cluster is an Extender over its own informer cache of a live cluster.
type Cluster struct {
	*Extender
	factory    informers.SharedInformerFactory
	dynFactory dynamicinformer.DynamicSharedInformerFactory
	synced     []toolscache.InformerSynced
}

// FromCluster builds berth's profiles over a cache fed by informers:
// every node, and every assigned pod that has not terminated (whoever
// scheduled it). Start starts the informers; verbs should wait for
// WaitForSync.
func FromCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if len(o.Config.Profiles) == 0 {
		return nil, fmt.Errorf("the configuration has no profile")
	}
	if o.Profile == "" {
		o.Profile = o.Config.Profiles[0].SchedulerName
	}
	if o.AssumedPodTTL == 0 {
		o.AssumedPodTTL = DefaultAssumedPodTTL
	}
	factory := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithTransform(scheduler.StripManagedFields))
	var dynFactory dynamicinformer.DynamicSharedInformerFactory
	if o.Dynamic != nil {
		dynFactory = dynamicinformer.NewDynamicSharedInformerFactory(o.Dynamic, 0)
	}
	cache := schedcache.New(o.AssumedPodTTL, clock.RealClock{}, nil)
	// A bind's watch event later than the TTL must not free the cards
	// and capacity the pod holds (see scheduler.BindingCheck).
	cache.SetBindingCheck(scheduler.BindingCheck(o.Client))
	ev, err := scheduler.NewEvaluator(ctx, scheduler.EvaluatorOptions{Config: o.Config, Registry: o.Registry,
		InformerFactory: factory, DynamicInformerFactory: dynFactory, Client: o.Client, Cache: cache})
	if err != nil {
		return nil, err
	}
	pods := factory.Core().V1().Pods()
	x, err := New(Options{Evaluator: ev, Profile: o.Profile, Seed: o.Seed, TieBreakByName: o.TieBreakByName, Metrics: o.Metrics,
		GetPod: func(ctx context.Context, ns, name string) (*v1.Pod, error) {
			if p, err := pods.Lister().Pods(ns).Get(name); err == nil {
				return p, nil
			}
			// The informer may not have seen a pod created a moment ago.
			return o.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		}})
	if err != nil {
		return nil, err
	}
	x.notReady.Store(true)
	c := &Cluster{Extender: x, factory: factory, dynFactory: dynFactory}
	logger := klog.FromContext(ctx)
	podReg, err := pods.Informer().AddEventHandler(podHandler(logger, ev))
	if err != nil {
		return nil, err
	}
	nodeReg, err := factory.Core().V1().Nodes().Informer().AddEventHandler(nodeHandler(logger, cache))
	if err != nil {
		return nil, err
	}
	c.synced = []toolscache.InformerSynced{podReg.HasSynced, nodeReg.HasSynced}
	return c, nil
}

// Start starts the informers and the expiry of assumed pods; they stop
// with ctx (and Shutdown).
func (c *Cluster) Start(ctx context.Context) {
	c.factory.Start(ctx.Done())
	if c.dynFactory != nil {
		c.dynFactory.Start(ctx.Done())
	}
	c.ev.Cache().Run(ctx, time.Second)
}

// WaitForSync waits until the informers, their handlers and the profiles'
// plugins have synced, then marks the extender ready.
func (c *Cluster) WaitForSync(ctx context.Context) error {
	for typ, ok := range c.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	if c.dynFactory != nil {
		for gvr, ok := range c.dynFactory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("informer for %v did not sync", gvr)
			}
		}
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("event handlers did not sync: %w", ctx.Err())
	}
	if err := c.ev.WaitForSync(ctx); err != nil {
		return err
	}
	c.notReady.Store(false)
	return nil
}

// Shutdown stops the informers and waits for their goroutines.
func (c *Cluster) Shutdown() {
	c.factory.Shutdown()
	if c.dynFactory != nil {
		c.dynFactory.Shutdown()
	}
}

// accounted is a pod the cache holds: assigned, not terminated.
func accounted(p *v1.Pod) bool {
	return p != nil && p.Spec.NodeName != "" && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed
}

func podOf(obj any) *v1.Pod {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, _ := obj.(*v1.Pod)
	return p
}

func nodeOf(obj any) *v1.Node {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, _ := obj.(*v1.Node)
	return n
}

// podHandler keeps the evaluator's cache and nominations in step: an
// assigned pod's add or update confirms the pod the bind verb assumed (the
// cache's upserts are idempotent), and a delete or termination releases
// it. A pending pod that kube-scheduler's preemption nominated to a node
// (status.nominatedNodeName) keeps its room there in berth's evaluations,
// as in kube-scheduler's own.
func podHandler(logger klog.Logger, ev *scheduler.Evaluator) toolscache.ResourceEventHandler {
	cache := ev.Cache()
	upsert := func(p *v1.Pod) {
		if p == nil {
			return
		}
		// Replaces or, for a bound pod or one without a nomination,
		// forgets an earlier nomination.
		ev.Nominate(logger, p)
		var err error
		if accounted(p) {
			err = cache.AddPod(logger, p)
		} else if p.Spec.NodeName != "" {
			err = cache.RemovePod(logger, p)
		}
		if err != nil {
			logger.V(4).Info("Cache update failed", "pod", klog.KObj(p), "err", err)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { upsert(podOf(obj)) },
		UpdateFunc: func(_, obj any) { upsert(podOf(obj)) },
		DeleteFunc: func(obj any) {
			p := podOf(obj)
			if p == nil {
				return
			}
			ev.Unnominate(p)
			if p.Spec.NodeName != "" {
				if err := cache.RemovePod(logger, p); err != nil {
					logger.V(4).Info("Cache update failed", "pod", klog.KObj(p), "err", err)
				}
			}
		},
	}
}

func nodeHandler(logger klog.Logger, cache *schedcache.Cache) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				cache.AddNode(logger, n)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			if o, n := nodeOf(oldObj), nodeOf(obj); o != nil && n != nil {
				cache.UpdateNode(logger, o, n)
			}
		},
		DeleteFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				if err := cache.RemoveNode(logger, n); err != nil {
					logger.V(4).Info("Cache update failed", "node", klog.KObj(n), "err", err)
				}
			}
		},
	}
}
