package cache

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
)

// benchCache returns a cache of numNodes nodes (three zones, a few images
// each) with podsPerNode pods on every node, and a snapshot of it.
func benchCache(b *testing.B, numNodes, podsPerNode int) (*Cache, *Snapshot) {
	logger := klog.Background()
	c := New(ttl, nil, nil)
	for i := range numNodes {
		n := st.MakeNode().Name(fmt.Sprintf("node-%05d", i)).
			Label(v1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%3)).
			Capacity("cpu", "64", "memory", "256Gi", "pods", "110").
			Images(1000, "pause", "pause:3.10").Images(5000, fmt.Sprintf("app-%d", i%50)).Obj()
		c.AddNode(logger, n)
		for j := range podsPerNode {
			if err := c.AddPod(logger, makePod(fmt.Sprintf("p-%d-%d", i, j), n.Name, "100m")); err != nil {
				b.Fatal(err)
			}
		}
	}
	snap := NewEmptySnapshot()
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		b.Fatal(err)
	}
	return c, snap
}

// BenchmarkUpdateSnapshotOneChange measures a scheduling cycle's snapshot
// update after one pod was assumed, in a 5,000-node, 50,000-pod cache.
func BenchmarkUpdateSnapshotOneChange(b *testing.B) {
	logger := klog.Background()
	c, snap := benchCache(b, 5000, 10)
	pods := make([]*v1.Pod, 5000)
	for i := range pods {
		pods[i] = makePod(fmt.Sprintf("assumed-%d", i), fmt.Sprintf("node-%05d", i), "100m")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := pods[i%len(pods)]
		if i >= len(pods) {
			b.StopTimer()
			_ = c.ForgetPod(logger, p)
			b.StartTimer()
		}
		if err := c.AssumePod(logger, p); err != nil {
			b.Fatal(err)
		}
		if err := c.UpdateSnapshot(logger, snap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateSnapshotFull is the cost the incremental path avoids: a
// snapshot built from nothing over the same cache.
func BenchmarkUpdateSnapshotFull(b *testing.B) {
	logger := klog.Background()
	c, _ := benchCache(b, 5000, 10)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.UpdateSnapshot(logger, NewEmptySnapshot()); err != nil {
			b.Fatal(err)
		}
	}
}
