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

// summarize adds up the cards of nodes under the workload d.
func (pl *GPUShare) summarize(nodes []*framework.NodeInfo, d *gpu.Distribution) clusterGPUs {
	var c clusterGPUs
	for _, ni := range nodes {
		if pl.tracker.cardCount(ni) == 0 {
			continue
		}
		n := pl.tracker.state(ni)
		capacity := float64(int64(len(n.Cards)) * gpu.MilliPerCard)
		c.capacity += capacity
		c.allocated += capacity - float64(n.FreeMilli())
		c.freeCards += n.FullyFree()
		c.frag += pl.frags.Frag(n, d)
	}
	return c
}

// maybePublish recomputes the GPU metrics from the cycle's snapshot at
// most once per publishInterval. Reserve calls it, which runs for every
// GPU pod placed (Score does not when one node is feasible); the pod being
// reserved may not be counted yet, an error of one pod that the next
// publication repairs.
func (pl *GPUShare) maybePublish(d *gpu.Distribution) {
	pl.seenMu.Lock()
	now := pl.now()
	due := now.Sub(pl.publishedAt) >= publishInterval
	if due {
		pl.publishedAt = now
	}
	pl.seenMu.Unlock()
	if !due {
		return
	}
	c := pl.summarize(pl.handle.SnapshotSharedLister().NodeInfos().List(), d)
	CapacityMilli.Set(c.capacity)
	AllocatedMilli.Set(c.allocated)
	FreeCards.Set(float64(c.freeCards))
	FragmentationMilli.Set(c.frag)
}
