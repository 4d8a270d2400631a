package webhook

import (
	"context"
	"fmt"

	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	listersschedulingv1 "k8s.io/client-go/listers/scheduling/v1"
	listersstoragev1 "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berthsched/berth/pkg/lint"
)

// InformerFacts keeps the cluster facts the webhook's rules use in
// informer caches (nodes, storage classes, priority classes) and builds a
// lint.Cluster from them per request: listing a cache is a copy of
// pointers, cheap next to the API server's own admission work.
type InformerFacts struct {
	nodes           listerscorev1.NodeLister
	storageClasses  listersstoragev1.StorageClassLister
	priorityClasses listersschedulingv1.PriorityClassLister
	synced          []cache.InformerSynced
	// base carries what does not change while berth runs: the server
	// version, berth's profile names and GPU args.
	base lint.Cluster
}

// NewInformerFacts registers the informers with factory; base holds the
// static facts (ServerVersion, SchedulerNames, GPU args).
func NewInformerFacts(factory informers.SharedInformerFactory, base lint.Cluster) *InformerFacts {
	f := &InformerFacts{
		nodes:           factory.Core().V1().Nodes().Lister(),
		storageClasses:  factory.Storage().V1().StorageClasses().Lister(),
		priorityClasses: factory.Scheduling().V1().PriorityClasses().Lister(),
		base:            base,
	}
	f.synced = []cache.InformerSynced{
		factory.Core().V1().Nodes().Informer().HasSynced,
		factory.Storage().V1().StorageClasses().Informer().HasSynced,
		factory.Scheduling().V1().PriorityClasses().Informer().HasSynced,
	}
	return f
}

// ServerVersion reads the API server's version for the base facts.
func ServerVersion(c kubernetes.Interface) (*version.Version, error) {
	info, err := c.Discovery().ServerVersion()
	if err != nil {
		return nil, err
	}
	return version.ParseGeneric(info.GitVersion)
}

// WaitForSync waits until the caches are filled; until then the webhook
// is not ready.
func (f *InformerFacts) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), f.synced...) {
		return fmt.Errorf("informer caches did not sync: %w", ctx.Err())
	}
	return nil
}

// HasSynced reports whether every cache is filled.
func (f *InformerFacts) HasSynced() bool {
	for _, s := range f.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Cluster is Facts: the current snapshot of the caches. Before they sync
// it returns nil, so only the offline rules run.
func (f *InformerFacts) Cluster() *lint.Cluster {
	if !f.HasSynced() {
		return nil
	}
	c := f.base
	nodes, _ := f.nodes.List(labels.Everything())
	c.Nodes = nodes
	c.StorageClasses = map[string]*storagev1.StorageClass{}
	if scs, err := f.storageClasses.List(labels.Everything()); err == nil {
		for _, sc := range scs {
			c.StorageClasses[sc.Name] = sc
		}
	}
	c.PriorityClasses = map[string]*schedulingv1.PriorityClass{}
	if pcs, err := f.priorityClasses.List(labels.Everything()); err == nil {
		for _, pc := range pcs {
			c.PriorityClasses[pc.Name] = pc
		}
	}
	return &c
}
