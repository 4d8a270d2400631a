package noderesources

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// benchCluster is 5,000 nodes of 32 cpu / 128Gi with 10 pods each; every
// seventh node is nearly full so the failure path is exercised too.
func benchCluster(b *testing.B) []*framework.NodeInfo {
	b.Helper()
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 5000 {
		name := fmt.Sprintf("node-%d", i)
		nodes = append(nodes, st.MakeNode().Name(name).Capacity("cpu", "32", "memory", "128Gi", "pods", "110", "example.com/foo", "8").Obj())
		cpu := "1"
		if i%7 == 0 {
			cpu = "3"
		}
		for j := range 10 {
			pods = append(pods, st.MakePod().Name(fmt.Sprintf("%s-p%d", name, j)).Node(name).Req("cpu", cpu, "memory", "4Gi").Obj())
		}
	}
	return st.NewSnapshot(pods, nodes).List()
}

func BenchmarkFitFilter(b *testing.B) {
	nodes := benchCluster(b)
	f := newFit(b, nil)
	pod := st.MakePod().Name("p").Req("cpu", "4", "memory", "8Gi", "example.com/foo", "1").Obj()
	ctx := context.Background()
	state := framework.NewCycleState()
	f.PreFilter(ctx, state, pod, nodes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, ni := range nodes {
			_ = f.Filter(ctx, state, pod, ni)
		}
	}
}

func BenchmarkFitScore(b *testing.B) {
	nodes := benchCluster(b)
	f := newFit(b, nil)
	pod := st.MakePod().Name("p").Req("cpu", "4", "memory", "8Gi").Obj()
	ctx := context.Background()
	state := framework.NewCycleState()
	f.PreScore(ctx, state, pod, nodes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, ni := range nodes {
			_, _ = f.Score(ctx, state, pod, ni)
		}
	}
}
