package dynamicresources

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berthsched/berth/pkg/framework"
)

// BenchmarkCycle measures the plugin's share of one pod's scheduling
// cycle on 300 nodes with 8 GPUs each, a quarter of the cards already
// allocated: PreFilter (allocator set-up), Filter on every node, Score on
// every node and Reserve on the first feasible one. Unreserve puts the
// card back so every iteration sees the same cluster.
func BenchmarkCycle(b *testing.B) {
	const nodes, cards = 300, 8
	var ns []*v1.Node
	objs := []runtime.Object{deviceClass(class)}
	for i := range nodes {
		name := fmt.Sprintf("node-%03d", i)
		ns = append(ns, node(name))
		s := slice(name, cards, "h100")
		objs = append(objs, s)
		// Cards 0 and 1 of every node are taken.
		for d := range 2 {
			c := claim(fmt.Sprintf("busy-%d-%d", i, d), exactly("gpu", class, 1))
			c.Status.Allocation = &resourceapi.AllocationResult{Devices: resourceapi.DeviceAllocationResult{
				Results: []resourceapi.DeviceRequestAllocationResult{{Request: "gpu", Driver: driver, Pool: name, Device: s.Spec.Devices[d].Name}}}}
			objs = append(objs, c)
		}
	}
	objs = append(objs, claim("mine", exactly("gpu", class, 1)))
	f := newFixture(&testing.T{}, ns, objs...)
	pod := podWith("p", "mine")
	pod.UID = types.UID("bench")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cs := framework.NewCycleState()
		if _, st := f.pl.PreFilter(f.ctx, cs, pod, f.nodes); !st.IsSuccess() {
			b.Fatal(st)
		}
		first := ""
		for _, ni := range f.nodes {
			if st := f.pl.Filter(f.ctx, cs, pod, ni); st.IsSuccess() && first == "" {
				first = ni.Node().Name
			}
		}
		if first == "" {
			b.Fatal("no node fits")
		}
		for _, ni := range f.nodes {
			f.pl.Score(f.ctx, cs, pod, ni)
		}
		if st := f.pl.Reserve(f.ctx, cs, pod, first); !st.IsSuccess() {
			b.Fatal(st)
		}
		f.pl.Unreserve(f.ctx, cs, pod, first)
	}
}
