package scheduler

import (
	"testing"

	"k8s.io/klog/v2"

	"github.com/berthsched/berth/internal/st"
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
