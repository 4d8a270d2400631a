package explain

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// BenchmarkExplainFullCluster explains a high-priority pod on a full
// cluster: every node is a preemption candidate (ten low-priority pods
// each), the worst case for the what-ifs. Run with
// go test ./pkg/explain -run - -bench ExplainFullCluster.
func BenchmarkExplainFullCluster(b *testing.B) {
	for _, numNodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", numNodes), func(b *testing.B) {
			var nodes []*v1.Node
			var pods []*v1.Pod
			for i := range numNodes {
				name := fmt.Sprintf("n%04d", i)
				nodes = append(nodes, node(name).Obj())
				for j := range 10 {
					pods = append(pods, pod(fmt.Sprintf("%s-p%d", name, j)).Node(name).Req("cpu", "400m").Priority(int32(j)).Obj())
				}
			}
			x := newExplainer(b, nodes, pods)
			p := pod("p").Req("cpu", "1").Priority(100).Obj()
			b.ResetTimer()
			for range b.N {
				e, err := x.Explain(context.Background(), p, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(e.Suggestions) == 0 {
					b.Fatal("no suggestion")
				}
			}
		})
	}
}
