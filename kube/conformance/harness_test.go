package conformance

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	berthfw "github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins"
)

// lenient is a NodeUnschedulable that admits every node.
type lenient struct{}

func (lenient) Name() string { return "NodeUnschedulable" }

func (lenient) Filter(context.Context, *berthfw.CycleState, *v1.Pod, *berthfw.NodeInfo) *berthfw.Status {
	return nil
}

// TestHarnessDetectsDisagreement guards against a harness that compares
// nothing: a berth plugin that admits cordoned nodes must be caught, and
// shrunk to the one node that shows it.
func TestHarnessDetectsDisagreement(t *testing.T) {
	reg := plugins.NewInTreeRegistry()
	reg["NodeUnschedulable"] = berthfw.Registration{Factory: func(context.Context, runtime.Object, berthfw.Handle) (berthfw.Plugin, error) {
		return lenient{}, nil
	}}
	h, err := NewHarness(reg)
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 40; s++ {
		ds, err := h.Run(context.Background(), Generate(s, DefaultGenOptions))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Plugin != "NodeUnschedulable" {
				continue // TestConformance reports these
			}
			if len(d.Cluster.Nodes) != 1 || len(d.Cluster.Pods) != 0 || !d.Cluster.Nodes[0].Spec.Unschedulable {
				t.Fatalf("reproducer not minimal:\n%s", d)
			}
			return
		}
	}
	t.Fatal("a lenient NodeUnschedulable went unnoticed")
}

// newSelfHarness compares kube-scheduler's plugins of rows with a second
// copy of themselves, counting every disagreement rather than shrinking it:
// the scenario tests use it to check their generators.
func newSelfHarness(t *testing.T, rows []Plugin) *Harness {
	t.Helper()
	h, err := NewSelfHarness(rows)
	if err != nil {
		t.Fatal(err)
	}
	h.Shrink = false
	return h
}

// checkSelf runs c through a self harness; kube-scheduler must agree with
// itself.
func checkSelf(t *testing.T, h *Harness, ctx context.Context, c *Case) {
	t.Helper()
	ds, err := h.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		t.Errorf("kube-scheduler disagrees with itself:\n%s", d)
	}
}
