package gpushare

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/placement/gpu"
)

// TestPublishSummarizesCardsAndThrottles: two 4-card nodes, one holding a
// 2-card pod, the other a 300-milli share; a node without GPUs adds
// nothing. Fragmentation is measured against a workload of 4-card pods,
// which neither node can host, so all their free capacity is fragments.
// A second publication within publishInterval is skipped; after it, the
// new picture is published, with the node of the pod being reserved as
// Reserve passes it.
func TestPublishSummarizesCardsAndThrottles(t *testing.T) {
	pods := []*v1.Pod{
		bound(wholePod("w", "2"), "a", &Assignment{Node: "a", Cards: []int{0, 1}, Milli: 1000}),
		bound(sharePod("s", "300"), "b", &Assignment{Node: "b", Cards: []int{0}, Milli: 300}),
	}
	cpuOnly := st.MakeNode().Name("c").Capacity("cpu", "32", "memory", "128Gi", "pods", "110").Obj()
	nodes := []*v1.Node{gpuNode("a", "4"), gpuNode("b", "4"), cpuOnly}
	pl := newPlugin(t, st.NewHandle(st.NewSnapshot(pods, nodes)), nil)
	now := time.Unix(1000, 0)
	pl.now = func() time.Time { return now }
	pl.workload.Observe(gpu.Request{Count: 4, MilliPerCard: gpu.MilliPerCard})
	dist := pl.workload.Freeze()

	publish := func(pl *GPUShare, reserved *gpu.Node) {
		if pl.publishDue() {
			pl.publish(dist, reserved)
		}
	}
	publish(pl, nil)
	check := func(capacity, allocated, free, frag float64) {
		t.Helper()
		for _, m := range []struct {
			name      string
			got, want float64
		}{
			{"capacity", testutil.ToFloat64(CapacityMilli), capacity},
			{"allocated", testutil.ToFloat64(AllocatedMilli), allocated},
			{"free cards", testutil.ToFloat64(FreeCards), free},
			{"fragmentation", testutil.ToFloat64(FragmentationMilli), frag},
		} {
			if m.got != m.want {
				t.Errorf("%s = %v, want %v", m.name, m.got, m.want)
			}
		}
	}
	check(8000, 2300, 5, 5700)

	// A third node's cards appear; within the interval nothing changes.
	pl = newPlugin(t, st.NewHandle(st.NewSnapshot(pods, append(nodes, gpuNode("d", "8")))), nil)
	pl.now = func() time.Time { return now }
	pl.publishedAt = now.Add(-publishInterval / 2)
	publish(pl, nil)
	check(8000, 2300, 5, 5700)
	now = now.Add(publishInterval)
	// A pod being reserved on d takes a card the snapshot does not show.
	ni, _ := pl.handle.SnapshotSharedLister().NodeInfos().Get("d")
	reserved := pl.tracker.state(ni).Clone()
	if err := reserved.Allocate(gpu.Request{Count: 1, MilliPerCard: gpu.MilliPerCard}, []int{7}); err != nil {
		t.Fatal(err)
	}
	publish(pl, reserved)
	// The 8-card node can still host a 4-card pod: no fragments there.
	check(16000, 3300, 12, 5700)
}
