package podtopologyspread

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op next to ns/op because the machine they run on is shared: wall time
// there says more about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// benchCluster is 5,000 nodes in 3 zones holding 5,000 pods of 10 apps.
func benchCluster() *liveSnapshot {
	snap := &liveSnapshot{}
	var nodes []*v1.Node
	for i := range 5000 {
		nodes = append(nodes, st.MakeNode().Name(fmt.Sprintf("node-%d", i)).Label(zoneKey, fmt.Sprintf("zone-%d", i%3)).
			Capacity("cpu", "32", "memory", "128Gi", "pods", "110").Obj())
	}
	snap.addNodes(nodes...)
	for i := range 5000 {
		ni := snap.nodes[(i*7)%len(snap.nodes)]
		ni.AddPod(st.MakePod().Name(fmt.Sprintf("existing-%d", i)).Label("app", fmt.Sprintf("app-%d", i%10)).Obj())
		snap.touch(ni)
	}
	return snap
}

func benchPod(i int, mode v1.UnsatisfiableConstraintAction) *v1.Pod {
	sel := st.MakeLabelSelector().Label("app", "app-0").Obj()
	return st.MakePod().Name(fmt.Sprintf("pending-%d", i)).Label("app", "app-0").
		SpreadConstraint(1, zoneKey, mode, sel, nil, nil, nil, nil).
		SpreadConstraint(1, hostKey, mode, sel, nil, nil, nil, nil).Obj()
}

// BenchmarkPreFilterFilter is one pod's PreFilter plus Filter on all 5,000
// nodes (sequentially), after which the pod is placed on the first
// feasible node, as the cache would, so the next pod sees one changed node.
// "cold" drops the tallies before every pod: the cost of counting from
// scratch, which is what kube-scheduler does for every pod.
func BenchmarkPreFilterFilter(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "incremental"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			snap := benchCluster()
			pl := newPlugin(b, snap, nil)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			defer reportCPU(b, cpuTime())
			for i := 0; i < b.N; i++ {
				if cold {
					pl.tallies.byKey = nil
				}
				pod := benchPod(i, v1.DoNotSchedule)
				state := framework.NewCycleState()
				if _, st := pl.PreFilter(ctx, state, pod, snap.nodes); !st.IsSuccess() {
					b.Fatal(st)
				}
				var chosen *framework.NodeInfo
				for _, ni := range snap.nodes {
					if st := pl.Filter(ctx, state, pod, ni); st.IsSuccess() && chosen == nil {
						chosen = ni
					}
				}
				if chosen == nil {
					b.Fatal("no feasible node")
				}
				pod.Spec.NodeName = chosen.Node().Name
				chosen.AddPod(pod)
				snap.touch(chosen)
			}
		})
	}
}

// BenchmarkScore is one pod's PreScore, Score on all 5,000 nodes and
// NormalizeScore with soft zone and hostname constraints.
func BenchmarkScore(b *testing.B) {
	snap := benchCluster()
	pl := newPlugin(b, snap, nil)
	ctx := context.Background()
	scores := make(framework.NodeScoreList, len(snap.nodes))
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		pod := benchPod(i, v1.ScheduleAnyway)
		state := framework.NewCycleState()
		if st := pl.PreScore(ctx, state, pod, snap.nodes); !st.IsSuccess() {
			b.Fatal(st)
		}
		for j, ni := range snap.nodes {
			s, _ := pl.Score(ctx, state, pod, ni)
			scores[j] = framework.NodeScore{Name: ni.Node().Name, Score: s}
		}
		_ = pl.NormalizeScore(ctx, state, pod, scores)
		best := snap.nodes[0]
		pod.Spec.NodeName = best.Node().Name
		best.AddPod(pod)
		snap.touch(best)
	}
}
