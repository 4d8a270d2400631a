package scheduler

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
)

func nominatedNames(n *nominator, node string) []string {
	var out []string
	for _, pi := range n.NominatedPodsForNode(node) {
		out = append(out, pi.Pod.Name)
	}
	return out
}

func TestNominatorLifecycle(t *testing.T) {
	logger := klog.Background()
	n := newNominator()
	p := st.MakePod().Name("p").UID("p").Priority(10).NominatedNode("n1").Obj()

	n.AddNominatedPod(logger, p, "")
	if got := nominatedNames(n, "n1"); len(got) != 1 || got[0] != "p" {
		t.Fatalf("after add from status: %v", got)
	}
	// Preemption moves the nomination in memory.
	n.AddNominatedPod(logger, p, "n2")
	if len(n.NominatedPodsForNode("n1")) != 0 || n.NominatedNodeName("p") != "n2" {
		t.Fatalf("nomination not moved: n1=%v n2=%v", nominatedNames(n, "n1"), nominatedNames(n, "n2"))
	}
	// An update that does not carry a nomination yet keeps the in-memory one.
	plain := st.MakePod().Name("p").UID("p").Priority(10).Obj()
	n.UpdateNominatedPod(logger, plain, plain.DeepCopy())
	if n.NominatedNodeName("p") != "n2" {
		t.Fatalf("in-memory nomination lost on update: %q", n.NominatedNodeName("p"))
	}
	// An update that clears a nomination the API had removes it.
	n.UpdateNominatedPod(logger, st.MakePod().Name("p").UID("p").NominatedNode("n2").Obj(), plain)
	if n.NominatedNodeName("p") != "" {
		t.Fatalf("cleared nomination still there: %q", n.NominatedNodeName("p"))
	}
	// Bound pods are never nominations; delete forgets.
	n.AddNominatedPod(logger, p, "")
	bound := p.DeepCopy()
	bound.Spec.NodeName = "n1"
	n.UpdateNominatedPod(logger, p, bound)
	if n.count.Load() != 0 {
		t.Fatalf("bound pod still nominated")
	}
	n.AddNominatedPod(logger, p, "")
	n.DeleteNominatedPodIfExists(p)
	if n.count.Load() != 0 || len(n.byNode) != 0 || len(n.nodeOf) != 0 {
		t.Fatalf("delete left state: %v %v", n.byNode, n.nodeOf)
	}
}

func TestFilterWithNominatedPods(t *testing.T) {
	ctx := context.Background()
	logger := klog.Background()
	nodeObj := st.MakeNode().Name("n1").Capacity("cpu", "4", "pods", "10").Obj()
	running := st.MakePod().Name("running").UID("running").Node("n1").Req("cpu", "2").Obj()
	snap := st.NewSnapshot([]*v1.Pod{running}, []*v1.Node{nodeObj})
	ni, _ := snap.Get("n1")
	fit, err := noderesources.NewFit(ctx, nil, st.NewHandle(snap))
	if err != nil {
		t.Fatal(err)
	}
	runner := &st.PluginRunner{PreFilters: []framework.PreFilterPlugin{fit.(framework.PreFilterPlugin)}, Filters: []framework.FilterPlugin{fit.(framework.FilterPlugin)}}
	nom := newNominator()
	nom.AddNominatedPod(logger, st.MakePod().Name("nominee").UID("nominee").Priority(10).Req("cpu", "2").Obj(), "n1")

	tests := []struct {
		name string
		prio int32
		want framework.Code
	}{
		{"lower priority cannot take the nominee's room", 5, framework.Unschedulable},
		{"equal priority cannot either", 10, framework.Unschedulable},
		{"higher priority ignores the nominee", 20, framework.Success},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := st.MakePod().Name("p").UID("p").Priority(tc.prio).Req("cpu", "2").Obj()
			state := framework.NewCycleState()
			if st := runner.RunPreFilterPlugins(ctx, state, pod, nil); !st.IsSuccess() {
				t.Fatal(st)
			}
			run := func(ctx context.Context, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
				return runner.RunFilterPlugins(ctx, state, pod, ni)
			}
			got := runFilterWithNominatedPods(ctx, nom, runner, run, state, pod, ni)
			if got.Code() != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if len(ni.Pods) != 1 {
				t.Fatalf("the snapshot's NodeInfo was changed: %d pods", len(ni.Pods))
			}
		})
	}
	// The nominee itself is not counted against itself.
	self := st.MakePod().Name("nominee").UID("nominee").Priority(10).Req("cpu", "2").Obj()
	state := framework.NewCycleState()
	runner.RunPreFilterPlugins(ctx, state, self, nil)
	if got := filterWithNominatedPods(ctx, runner, nil, nom, state, self, ni); !got.IsSuccess() {
		t.Fatalf("nominee rejected on its own node: %v", got)
	}
}
