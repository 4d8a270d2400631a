package defaultpreemption

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/plugintest"
	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
)

// BenchmarkPostFilter: 1,000 full nodes holding 20,000 low-priority pods;
// every call preempts for a high-priority pod (the API side effects are
// dropped). Reported as PostFilter calls per second.
func BenchmarkPostFilter(b *testing.B) {
	const numNodes, podsPerNode = 1000, 20
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range numNodes {
		n := fmt.Sprintf("node-%04d", i)
		nodes = append(nodes, node(n, "20"))
		for j := range podsPerNode {
			pods = append(pods, pod(fmt.Sprintf("%s-p%02d", n, j), n, int32(j%3), "1", j).Obj())
		}
	}
	ctx := context.Background()
	h := st.NewHandle(st.NewSnapshot(pods, nodes))
	fit, err := noderesources.NewFit(ctx, nil, h)
	if err != nil {
		b.Fatal(err)
	}
	ph := plugintest.NewPreemptionHandle(h, fit)
	p, err := New(ctx, nil, ph)
	if err != nil {
		b.Fatal(err)
	}
	pl := p.(*DefaultPreemption)
	pl.async = func(func()) {}

	hi := preemptor("hi", 100, "3").Obj()
	state := framework.NewCycleState()
	all := ph.SnapshotSharedLister().NodeInfos().List()
	ph.Runner.RunPreFilterPlugins(ctx, state, hi, all)
	statuses := nodeStatuses{}
	for _, ni := range all {
		if st := ph.Runner.RunFilterPlugins(ctx, state, hi, ni); !st.IsSuccess() {
			statuses[ni.Node().Name] = st
		}
	}
	if len(statuses) != numNodes {
		b.Fatalf("%d nodes reject the pod, want all", len(statuses))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, st := pl.PostFilter(ctx, state, hi, statuses)
		if !st.IsSuccess() || res.NominatedNodeName == "" {
			b.Fatalf("got %v %v", res, st)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "postfilters/s")
}
