package explain

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/config"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/scheduler"
)

// ClusterOptions say which cluster and configuration FromCluster reads.
type ClusterOptions struct {
	// Client reads the cluster; nothing is written through it.
	Client kubernetes.Interface
	// Dynamic reads the custom resources plugins need (PodGroup CRDs);
	// nil leaves them out (gangs are then not evaluated whole).
	Dynamic dynamic.Interface
	// Config and Registry build the profiles, as for `berth run`, so the
	// pod is evaluated by the same plugins with the same arguments.
	Config   *config.Config
	Registry framework.Registry
}

// Cluster is an Explainer over a snapshot of a live cluster, taken once
// when it is built (later changes are not seen). Close stops its
// informers.
type Cluster struct {
	*Explainer
	pods   podLister
	cancel context.CancelFunc
	stop   func()
}

type podLister interface {
	get(namespace, name string) (*v1.Pod, error)
}

type factoryPods struct {
	f informers.SharedInformerFactory
}

func (p factoryPods) get(ns, name string) (*v1.Pod, error) {
	return p.f.Core().V1().Pods().Lister().Pods(ns).Get(name)
}

// FromCluster reads what the configured profiles need through an informer
// factory (nodes and pods, plus whatever the plugins register: claims,
// volumes, storage classes, CSI objects, PDBs …), waits for it to sync,
// and fills an evaluator's cache with the nodes and bound, non-terminal
// pods; pending pods with a status.nominatedNodeName are nominated, and
// the PodDisruptionBudgets go to the preemption what-ifs.
func FromCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	logger := klog.FromContext(ctx)
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithTransform(scheduler.StripManagedFields))
	var dynFactory dynamicinformer.DynamicSharedInformerFactory
	if o.Dynamic != nil {
		dynFactory = dynamicinformer.NewDynamicSharedInformerFactory(o.Dynamic, 0)
	}
	ev, err := scheduler.NewEvaluator(ctx, scheduler.EvaluatorOptions{Config: o.Config, Registry: o.Registry, InformerFactory: factory, DynamicInformerFactory: dynFactory, Client: o.Client})
	if err != nil {
		cancel()
		return nil, err
	}
	nodes := factory.Core().V1().Nodes().Lister()
	pods := factory.Core().V1().Pods().Lister()
	pdbs := factory.Policy().V1().PodDisruptionBudgets().Lister()
	factory.Start(ctx.Done())
	stop := factory.Shutdown
	if dynFactory != nil {
		dynFactory.Start(ctx.Done())
		stop = func() { factory.Shutdown(); dynFactory.Shutdown() }
	}
	c := &Cluster{Explainer: New(ev), pods: factoryPods{factory}, cancel: cancel, stop: stop}
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			c.Close()
			return nil, fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	if dynFactory != nil {
		for gvr, ok := range dynFactory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				c.Close()
				return nil, fmt.Errorf("informer for %v did not sync", gvr)
			}
		}
	}
	if err := ev.WaitForSync(ctx); err != nil {
		c.Close()
		return nil, err
	}
	nodeList, err := nodes.List(labels.Everything())
	if err != nil {
		c.Close()
		return nil, err
	}
	for _, n := range nodeList {
		ev.Cache().AddNode(logger, n)
	}
	podList, err := pods.List(labels.Everything())
	if err != nil {
		c.Close()
		return nil, err
	}
	bound, nominated := 0, 0
	for _, p := range podList {
		terminal := p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
		switch {
		case terminal:
		case p.Spec.NodeName != "":
			if err := ev.Cache().AddPod(logger, p); err != nil {
				c.Close()
				return nil, err
			}
			bound++
		case p.Status.NominatedNodeName != "":
			c.AddNominatedPod(logger, p)
			nominated++
		}
	}
	pdbList, err := pdbs.List(labels.Everything())
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetPodDisruptionBudgets(pdbList)
	logger.V(1).Info("Cluster snapshot loaded", "nodes", len(nodeList), "boundPods", bound, "nominatedPods", nominated, "podDisruptionBudgets", len(pdbList))
	return c, nil
}

// Pod returns a pod from the snapshot.
func (c *Cluster) Pod(namespace, name string) (*v1.Pod, error) {
	return c.pods.get(namespace, name)
}

// Close stops the informers.
func (c *Cluster) Close() {
	c.cancel()
	c.stop()
}
