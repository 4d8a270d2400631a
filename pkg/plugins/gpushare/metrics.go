package gpushare

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/placement/gpu"
)

// The GPU metrics describe the cluster's cards as the scheduler last saw
// them. They are package-level, like pkg/metricsource's, because the
// plugin is built per profile by the registry and has no registry of its
// own; berth run registers Collectors. Every profile's instance publishes
// the same cluster-wide values.
var (
	// CapacityMilli is every card of every node in milli-GPU: the
	// denominator of allocation.
	CapacityMilli = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "berth_gpu_capacity_milli",
		Help: "GPU capacity of the cluster's nodes in milli-GPU (1000 per card), as of the last GPU pod reserved.",
	})
	// AllocatedMilli is what pods hold (annotated, or reserved by berth and
	// not yet annotated).
	AllocatedMilli = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "berth_gpu_allocated_milli",
		Help: "Milli-GPU allocated to pods on the cluster's cards, as of the last GPU pod reserved.",
	})
	// FreeCards counts cards with nothing allocated: what a pod asking for
	// whole cards can still get.
	FreeCards = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "berth_gpu_free_cards",
		Help: "GPU cards with nothing allocated, as of the last GPU pod reserved.",
	})
	// FragmentationMilli is FGD's fragmentation summed over nodes: free
	// milli-GPU that the typical workload learned so far could not use.
	// Free capacity that is mostly fragments means pods wait although the
	// cluster looks half empty.
	FragmentationMilli = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "berth_gpu_fragmentation_milli",
		Help: "Free milli-GPU the learned typical GPU workload could not use (FGD fragmentation summed over nodes), as of the last GPU pod reserved.",
	})
)

// Collectors returns the GPU metrics, for registries.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{CapacityMilli, AllocatedMilli, FreeCards, FragmentationMilli}
}

// publishInterval bounds how often a GPU pod's Reserve recomputes the
// cluster-wide GPU metrics: one pass over every node, which a burst of GPU
// pods should not pay per pod.
const publishInterval = 5 * time.Second

// clusterGPUs is the cluster-wide GPU picture the metrics publish.
type clusterGPUs struct {
	capacity, allocated, frag float64
	freeCards                 int
}

// summarize adds up the cards of nodes under the workload d; reserved,
// if not nil, replaces the snapshot's state of its node.
func (pl *GPUShare) summarize(nodes []*framework.NodeInfo, d *gpu.Distribution, reserved *gpu.Node) clusterGPUs {
	var c clusterGPUs
	for _, ni := range nodes {
		if pl.tracker.cardCount(ni) == 0 {
			continue
		}
		n := pl.tracker.state(ni)
		if reserved != nil && ni.Node() != nil && ni.Node().Name == reserved.Name {
			n = reserved
		}
		capacity := float64(int64(len(n.Cards)) * gpu.MilliPerCard)
		c.capacity += capacity
		c.allocated += capacity - float64(n.FreeMilli())
		c.freeCards += n.FullyFree()
		c.frag += pl.frags.Frag(n, d)
	}
	return c
}

// publishDue reports whether publishInterval has passed since the last
// publication, and if so starts a new interval.
func (pl *GPUShare) publishDue() bool {
	pl.seenMu.Lock()
	defer pl.seenMu.Unlock()
	now := pl.now()
	if now.Sub(pl.publishedAt) < publishInterval {
		return false
	}
	pl.publishedAt = now
	return true
}

// publish sets the GPU metrics from the cycle's snapshot under the
// workload d. Reserve calls it, at most once per publishInterval, for
// every GPU pod placed (Score does not run when one node is feasible),
// with reserved: the pod's node with the pod's cards taken, which the
// snapshot does not show yet.
func (pl *GPUShare) publish(d *gpu.Distribution, reserved *gpu.Node) {
	c := pl.summarize(pl.handle.SnapshotSharedLister().NodeInfos().List(), d, reserved)
	CapacityMilli.Set(c.capacity)
	AllocatedMilli.Set(c.allocated)
	FreeCards.Set(float64(c.freeCards))
	FragmentationMilli.Set(c.frag)
}
