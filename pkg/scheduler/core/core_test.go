package core

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/scheduler/profile"
)

// fakeNominator is a fixed map of nominated pods by node.
type fakeNominator map[string][]*framework.PodInfo

func (f fakeNominator) NominatedPodsForNode(node string) []*framework.PodInfo { return f[node] }
func (f fakeNominator) Empty() bool                                           { return len(f) == 0 }

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		name       string
		global     int32
		profilePct *int32
		numAll     int
		want       int
	}{
		{name: "tiny cluster", numAll: 10, want: 10},
		{name: "below the minimum", numAll: 99, want: 99},
		{name: "100 nodes adaptive gives 50, floored to 100", numAll: 100, want: 100},
		{name: "1000 nodes adaptive 42%", numAll: 1000, want: 420},
		{name: "5000 nodes adaptive 10%", numAll: 5000, want: 500},
		{name: "6000 nodes adaptive floors at 5%", numAll: 6000, want: 300},
		{name: "20000 nodes adaptive 5%", numAll: 20000, want: 1000},
		{name: "explicit 100 is all", global: 100, numAll: 5000, want: 5000},
		{name: "explicit 30", global: 30, numAll: 5000, want: 1500},
		{name: "explicit 1 floored to 100 nodes", global: 1, numAll: 5000, want: 100},
		{name: "profile overrides global", global: 100, profilePct: ptr.To[int32](20), numAll: 5000, want: 1000},
		{name: "profile 0 is adaptive", global: 100, profilePct: ptr.To[int32](0), numAll: 5000, want: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NumFeasibleNodesToFind(tc.global, tc.profilePct, tc.numAll); got != tc.want {
				t.Errorf("numFeasibleNodesToFind(%v, %d) with global %d = %d, want %d", tc.profilePct, tc.numAll, tc.global, got, tc.want)
			}
		})
	}
}

func TestSelectHost(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	t.Run("picks the maximum", func(t *testing.T) {
		scores := []framework.NodePluginScores{{Name: "a", TotalScore: 5}, {Name: "b", TotalScore: 9}, {Name: "c", TotalScore: 3}}
		for range 100 {
			if got := selectHost(r, scores); got != "b" {
				t.Fatalf("selectHost = %q, want b", got)
			}
		}
	})
	t.Run("single node", func(t *testing.T) {
		if got := selectHost(r, []framework.NodePluginScores{{Name: "only"}}); got != "only" {
			t.Errorf("selectHost = %q, want only", got)
		}
	})
	t.Run("spreads ties", func(t *testing.T) {
		scores := []framework.NodePluginScores{{Name: "low", TotalScore: 1}, {Name: "a", TotalScore: 10}, {Name: "b", TotalScore: 10},
			{Name: "mid", TotalScore: 7}, {Name: "c", TotalScore: 10}}
		counts := map[string]int{}
		const runs = 1000
		for range runs {
			counts[selectHost(r, scores)]++
		}
		// Each tied node expects 333; 200 is about nine standard deviations
		// below that.
		for _, n := range []string{"a", "b", "c"} {
			if counts[n] <= 200 {
				t.Errorf("node %s picked %d/%d times, want > 200 (counts %v)", n, counts[n], runs, counts)
			}
		}
		if counts["low"]+counts["mid"] != 0 {
			t.Errorf("a lower score was picked: %v", counts)
		}
	})
}

func TestFilterNodeWithNominatedPods(t *testing.T) {
	ctx := context.Background()
	nodeObj := st.MakeNode().Name("n1").Capacity("cpu", "4", "pods", "10").Obj()
	running := st.MakePod().Name("running").UID("running").Node("n1").Req("cpu", "2").Obj()
	snap := st.NewSnapshot([]*v1.Pod{running}, []*v1.Node{nodeObj})
	ni, _ := snap.Get("n1")
	fit, err := noderesources.NewFit(ctx, nil, st.NewHandle(snap))
	if err != nil {
		t.Fatal(err)
	}
	prof, err := profile.NewFromPlugins("test", st.NewHandle(snap), fit)
	if err != nil {
		t.Fatal(err)
	}
	nom := fakeNominator{"n1": {framework.NewPodInfo(st.MakePod().Name("nominee").UID("nominee").Priority(10).Req("cpu", "2").Obj())}}

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
			if _, _, st := prof.RunPreFilterPlugins(ctx, state, pod, nil); !st.IsSuccess() {
				t.Fatal(st)
			}
			got := FilterNode(ctx, prof, nom, state, pod, ni)
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
	prof.RunPreFilterPlugins(ctx, state, self, nil)
	if got := FilterNode(ctx, prof, nom, state, self, ni); !got.IsSuccess() {
		t.Fatalf("nominee rejected on its own node: %v", got)
	}
}

// annotationGate is a node-local filter that reads an annotation the
// engine's signature does not cover.
type annotationGate struct{}

func (annotationGate) Name() string    { return "AnnotationGate" }
func (annotationGate) NodeLocal() bool { return true }
func (annotationGate) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ *framework.NodeInfo) *framework.Status {
	if pod.Annotations["gate"] == "closed" {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "gate closed")
	}
	return nil
}

// signedGate is annotationGate contributing the annotation to the
// signature.
type signedGate struct{ annotationGate }

func (signedGate) SignatureFragment(pod *v1.Pod) string { return pod.Annotations["gate"] }

// TestMemoHonoursSignatureFragments: two pods identical but for an
// annotation a node-local plugin reads must not share a memoised verdict
// when the plugin contributes the annotation to the signature; without
// the contribution the second pod reuses the first one's (wrong) verdict,
// which is what the contract exists to prevent.
func TestMemoHonoursSignatureFragments(t *testing.T) {
	ctx := context.Background()
	snap := st.NewSnapshot(nil, []*v1.Node{st.MakeNode().Name("n1").Capacity("cpu", "4", "pods", "10").Obj()})
	open := st.MakePod().Name("open").UID("open").Obj()
	closed := st.MakePod().Name("closed").UID("closed").Obj()
	open.Annotations = map[string]string{"gate": "open"}
	closed.Annotations = map[string]string{"gate": "closed"}
	evaluate := func(prof *profile.Profile, memo *Memo, pod *v1.Pod) error {
		_, err := Evaluate(ctx, Request{Pod: pod, State: framework.NewCycleState(), Profile: prof, Snapshot: snapshotOf{snap},
			Memo: memo, Rand: rand.New(rand.NewPCG(1, 1)), Parallelism: 1})
		return err
	}
	for _, tc := range []struct {
		name       string
		plugin     framework.Plugin
		wantClosed bool // whether the closed pod is rejected
	}{
		{"contributing plugin", signedGate{}, true},
		{"plugin that does not contribute reuses a stale verdict", annotationGate{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prof, err := profile.NewFromPlugins("test", st.NewHandle(snap), tc.plugin)
			if err != nil {
				t.Fatal(err)
			}
			memo := &Memo{}
			if err := evaluate(prof, memo, open); err != nil {
				t.Fatalf("open pod: %v", err)
			}
			err = evaluate(prof, memo, closed)
			var fitErr *FitError
			if got := errors.As(err, &fitErr); got != tc.wantClosed {
				t.Fatalf("closed pod rejected = %v (err %v), want %v", got, err, tc.wantClosed)
			}
		})
	}
}

// snapshotOf adds NumNodes to an st.Snapshot.
type snapshotOf struct{ *st.Snapshot }

func (s snapshotOf) NumNodes() int { return len(s.List()) }
