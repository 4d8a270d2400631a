package plugins

import (
	"fmt"

	"testing"

	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	kubefw "k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/berthsched/berth/internal/st"
)

// TestNodeInfos: a node state is translated once, the translation follows
// every change (kube-scheduler's generation), and what berth plugins
// derived from the old state is gone with it.
func TestNodeInfos(t *testing.T) {
	c := newNodeInfos()
	kni := kubefw.NewNodeInfo()
	kni.SetNode(st.MakeNode().Name("n1").Capacity("cpu", "4", "memory", "8Gi", "pods", "10").Obj())
	p1 := st.MakePod().Name("p1").UID("p1").Node("n1").Req("cpu", "1").Obj()
	kni.AddPod(p1)

	first := c.get(kni)
	if first.Node().Name != "n1" || len(first.Pods) != 1 || first.Requested.MilliCPU != 1000 || first.Allocatable.MilliCPU != 4000 {
		t.Fatalf("translation: node %s, %d pods, %d/%d milli-CPU", first.Node().Name, len(first.Pods), first.Requested.MilliCPU, first.Allocatable.MilliCPU)
	}
	first.SetDerived("k", 1)
	if again := c.get(kni.Snapshot()); again != first {
		t.Fatalf("the snapshot of an unchanged node was translated again")
	}

	kni.AddPod(st.MakePod().Name("p2").UID("p2").Node("n1").Req("cpu", "2").Obj())
	second := c.get(kni)
	if second == first || len(second.Pods) != 2 || second.Requested.MilliCPU != 3000 {
		t.Fatalf("after a pod was added: same translation %v, %d pods, %d milli-CPU", second == first, len(second.Pods), second.Requested.MilliCPU)
	}
	if second.Derived("k") != nil {
		t.Errorf("derived state survived a change of the node")
	}
	if err := kni.RemovePod(klog.Background(), p1); err != nil {
		t.Fatal(err)
	}
	if third := c.get(kni); len(third.Pods) != 1 || third.Requested.MilliCPU != 2000 {
		t.Errorf("after a pod was removed: %d pods, %d milli-CPU", len(third.Pods), third.Requested.MilliCPU)
	}
}

// TestNodeInfosSweep: nodes that left are dropped from the cache by a full
// list, never by a partial one (PreScore's feasible nodes).
func TestNodeInfosSweep(t *testing.T) {
	c := newNodeInfos()
	var all []fwk.NodeInfo
	for i := range sweepSlack + 10 {
		kni := kubefw.NewNodeInfo()
		kni.SetNode(st.MakeNode().Name(fmt.Sprintf("n%d", i)).Obj())
		all = append(all, kni)
	}
	c.list(all, true)
	c.list(all[:1], false)
	if len(c.byName) != len(all) {
		t.Fatalf("a partial list left %d of %d nodes cached", len(c.byName), len(all))
	}
	c.list(all[:5], true)
	if len(c.byName) != 5 {
		t.Fatalf("a full list of 5 nodes left %d cached", len(c.byName))
	}
}
