package cache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
)

func TestReconcile(t *testing.T) {
	n1, n2 := makeNode("n1", "8"), makeNode("n2", "8")
	withRV("1", n1)
	withRV("1", n2)
	n1New := makeNode("n1", "16")
	withRV("2", n1New)
	p1, p2 := makePod("p1", "n1", "1"), makePod("p2", "n2", "1")
	withRV("1", p1)
	withRV("1", p2)
	p1OnN2 := makePod("p1", "n2", "1")
	withRV("2", p1OnN2)
	p1Bigger := makePod("p1", "n1", "3")
	withRV("2", p1Bigger)
	assumed := makePod("assumed", "n1", "2")
	assumedBoundN2 := makePod("assumed", "n2", "2")
	p1Done := p1.DeepCopy()
	p1Done.Status.Phase = v1.PodFailed

	tests := []struct {
		name string
		// cache state, fed through the event handlers.
		cacheNodes   []*v1.Node
		cachePods    []*v1.Pod
		assumedPods  []*v1.Pod
		nodes        []*v1.Node
		pods         []*v1.Pod
		want         map[string]int
		wantAssumed  bool
		wantSnapPods []*v1.Pod
	}{
		{
			name:       "no drift",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1, p2},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{p1, p2},
			wantSnapPods: []*v1.Pod{p1, p2},
		},
		{
			name:       "missing node and pod",
			cacheNodes: []*v1.Node{n1}, cachePods: []*v1.Pod{p1},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{p1, p2},
			want:         map[string]int{DriftNodeMissing: 1, DriftPodMissing: 1},
			wantSnapPods: []*v1.Pod{p1, p2},
		},
		{
			name:       "extra node and pod",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1, p2},
			nodes: []*v1.Node{n1}, pods: []*v1.Pod{p1},
			want:         map[string]int{DriftNodeExtra: 1, DriftPodExtra: 1},
			wantSnapPods: []*v1.Pod{p1},
		},
		{
			name:       "stale node",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1},
			nodes: []*v1.Node{n1New, n2}, pods: []*v1.Pod{p1},
			want:         map[string]int{DriftNodeStale: 1},
			wantSnapPods: []*v1.Pod{p1},
		},
		{
			name:       "pod on the wrong node",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{p1OnN2},
			want:         map[string]int{DriftPodWrongNode: 1},
			wantSnapPods: []*v1.Pod{p1OnN2},
		},
		{
			name:       "stale pod",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{p1Bigger},
			want:         map[string]int{DriftPodStale: 1},
			wantSnapPods: []*v1.Pod{p1Bigger},
		},
		{
			name:       "terminal pods in the list are extra",
			cacheNodes: []*v1.Node{n1}, cachePods: []*v1.Pod{p1},
			nodes: []*v1.Node{n1}, pods: []*v1.Pod{p1Done},
			want: map[string]int{DriftPodExtra: 1},
		},
		{
			name:       "assumed pod not yet bound is kept",
			cacheNodes: []*v1.Node{n1, n2}, cachePods: []*v1.Pod{p1}, assumedPods: []*v1.Pod{assumed},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{p1},
			wantAssumed:  true,
			wantSnapPods: []*v1.Pod{p1, assumed},
		},
		{
			name:       "assumed pod seen bound is confirmed",
			cacheNodes: []*v1.Node{n1}, assumedPods: []*v1.Pod{assumed},
			nodes: []*v1.Node{n1}, pods: []*v1.Pod{assumed},
			wantSnapPods: []*v1.Pod{assumed},
		},
		{
			name:       "assumed pod bound elsewhere is moved",
			cacheNodes: []*v1.Node{n1, n2}, assumedPods: []*v1.Pod{assumed},
			nodes: []*v1.Node{n1, n2}, pods: []*v1.Pod{assumedBoundN2},
			want:         map[string]int{DriftPodWrongNode: 1},
			wantSnapPods: []*v1.Pod{assumedBoundN2},
		},
		{
			name:       "everything at once",
			cacheNodes: []*v1.Node{n1}, cachePods: []*v1.Pod{p1, p2}, assumedPods: []*v1.Pod{assumed},
			nodes: []*v1.Node{n1New, n2}, pods: []*v1.Pod{p1OnN2},
			want:         map[string]int{DriftNodeMissing: 1, DriftNodeStale: 1, DriftPodWrongNode: 1, DriftPodExtra: 1},
			wantAssumed:  true,
			wantSnapPods: []*v1.Pod{p1OnN2, assumed},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			c, _, m := newTestCache(ttl)
			for _, n := range tc.cacheNodes {
				c.AddNode(logger, n)
			}
			for _, p := range tc.cachePods {
				if err := c.AddPod(logger, p); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tc.assumedPods {
				if err := c.AssumePod(logger, p); err != nil {
					t.Fatal(err)
				}
			}
			snap := NewEmptySnapshot()
			if err := c.UpdateSnapshot(logger, snap); err != nil {
				t.Fatal(err)
			}

			drift := c.Reconcile(logger, tc.nodes, tc.pods)
			total := 0
			for _, n := range tc.want {
				total += n
			}
			if drift != total {
				t.Errorf("Reconcile = %d, want %d", drift, total)
			}
			if diff := cmp.Diff(tc.want, m.drift, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("drift per kind (-want +got):\n%s", diff)
			}
			if got, _ := c.IsAssumedPod(assumed); got != tc.wantAssumed {
				t.Errorf("assumed pod still assumed = %v, want %v", got, tc.wantAssumed)
			}
			// The repaired cache, seen through the old snapshot, is the truth.
			if err := c.UpdateSnapshot(logger, snap); err != nil {
				t.Fatal(err)
			}
			checkSnapshot(t, snap, tc.wantSnapPods, tc.nodes)
			if again := c.Reconcile(logger, tc.nodes, tc.pods); again != 0 {
				t.Errorf("second Reconcile found %d more", again)
			}
		})
	}
}
