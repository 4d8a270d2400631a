package defaultpreemption

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	policy "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clienttesting "k8s.io/client-go/testing"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

func ptr[T any](v T) *T { return &v }

func TestValidateArgs(t *testing.T) {
	tests := []struct {
		name string
		args configv1.DefaultPreemptionArgs
		want int
	}{
		{"defaults", configv1.DefaultPreemptionArgs{MinCandidateNodesPercentage: ptr[int32](10), MinCandidateNodesAbsolute: ptr[int32](100)}, 0},
		{"percentage too big", configv1.DefaultPreemptionArgs{MinCandidateNodesPercentage: ptr[int32](101), MinCandidateNodesAbsolute: ptr[int32](1)}, 1},
		{"negative absolute", configv1.DefaultPreemptionArgs{MinCandidateNodesPercentage: ptr[int32](1), MinCandidateNodesAbsolute: ptr[int32](-1)}, 1},
		{"both zero", configv1.DefaultPreemptionArgs{MinCandidateNodesPercentage: ptr[int32](0), MinCandidateNodesAbsolute: ptr[int32](0)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidateArgs(&tc.args, field.NewPath("args")); len(got) != tc.want {
				t.Errorf("got %v, want %d errors", got, tc.want)
			}
		})
	}
}

// TestWithoutPreemptionIsAVerdictNotAFailure: where the Handle has no
// Preemption (explain, simulations), the plugin still builds and says
// preemption is not available instead of failing the profile.
func TestWithoutPreemptionIsAVerdictNotAFailure(t *testing.T) {
	pl, err := New(context.Background(), nil, st.NewHandle(nil))
	if err != nil {
		t.Fatalf("New without Preemption: %v", err)
	}
	pod := st.MakePod().Name("p").Priority(10).Obj()
	res, status := pl.(*DefaultPreemption).PostFilter(context.Background(), framework.NewCycleState(), pod, framework.NewNodeToStatus())
	if res != nil || status.Code() != framework.Unschedulable || !strings.Contains(status.Message(), ReasonNoPreemption) {
		t.Fatalf("PostFilter = %v, %v; want Unschedulable naming %q", res, status, ReasonNoPreemption)
	}
}

func TestSelectVictims(t *testing.T) {
	never := v1.PreemptNever
	tests := []struct {
		name        string
		nodes       []*v1.Node
		pods        []*v1.Pod
		pdbs        []*policy.PodDisruptionBudget
		pod         *v1.Pod
		wantNode    string
		wantVictims []string
		wantCode    framework.Code
		wantMsg     string
	}{
		{
			name:  "minimal set: the most important victims are reprieved first",
			nodes: []*v1.Node{node("n1", "4")},
			pods: []*v1.Pod{
				pod("p1", "n1", 1, "1", 0).Obj(),
				pod("p2", "n1", 2, "1", 0).Obj(),
				pod("p3", "n1", 3, "2", 0).Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n1",
			wantVictims: []string{"p2", "p1"},
		},
		{
			name:  "equal priority pods are never victims",
			nodes: []*v1.Node{node("n1", "2")},
			pods: []*v1.Pod{
				pod("eq", "n1", 10, "1", 0).Obj(),
				pod("lo", "n1", 1, "1", 0).Obj(),
			},
			pod:      preemptor("hi", 10, "2").Obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  "Insufficient cpu",
		},
		{
			name:     "no lower-priority pod at all",
			nodes:    []*v1.Node{node("n1", "2")},
			pods:     []*v1.Pod{pod("eq", "n1", 10, "2", 0).Obj()},
			pod:      preemptor("hi", 10, "2").Obj(),
			wantCode: framework.Unschedulable,
			wantMsg:  ReasonNoVictims,
		},
		{
			name:     "preemptionPolicy Never",
			nodes:    []*v1.Node{node("n1", "2")},
			pods:     []*v1.Pod{pod("lo", "n1", 1, "2", 0).Obj()},
			pod:      func() *v1.Pod { p := preemptor("hi", 10, "2").Obj(); p.Spec.PreemptionPolicy = &never; return p }(),
			wantCode: framework.Unschedulable,
			wantMsg:  ReasonPreemptNever,
		},
		{
			name:  "the node whose victims violate no PDB wins",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2")},
			pods: []*v1.Pod{
				pod("guarded", "n1", 1, "2", 0).Label("app", "db").Obj(),
				pod("free", "n2", 1, "2", 0).Obj(),
			},
			pdbs:        []*policy.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n2",
			wantVictims: []string{"free"},
		},
		{
			name:  "PDB-protected pods are reprieved before more important unprotected ones",
			nodes: []*v1.Node{node("n1", "4")},
			pods: []*v1.Pod{
				// older, so more important without the PDB
				pod("old", "n1", 1, "2", 0).Obj(),
				pod("guarded", "n1", 1, "2", 5).Label("app", "db").Obj(),
			},
			pdbs:        []*policy.PodDisruptionBudget{pdb("db", 0, "app", "db")},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n1",
			wantVictims: []string{"old"},
		},
		{
			name:  "without the PDB the older pod is kept",
			nodes: []*v1.Node{node("n1", "4")},
			pods: []*v1.Pod{
				pod("old", "n1", 1, "2", 0).Obj(),
				pod("young", "n1", 1, "2", 5).Label("app", "db").Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n1",
			wantVictims: []string{"young"},
		},
		{
			name:  "a PDB with budget left does not protect",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2")},
			pods: []*v1.Pod{
				pod("a", "n1", 1, "2", 0).Label("app", "db").Obj(),
				pod("b", "n2", 2, "2", 0).Obj(),
			},
			pdbs:        []*policy.PodDisruptionBudget{pdb("db", 1, "app", "db")},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n1",
			wantVictims: []string{"a"},
		},
		{
			name:  "lowest highest-victim priority, then smallest (count-weighted) sum",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2"), node("n4", "2")},
			pods: []*v1.Pod{
				pod("n1-a", "n1", 5, "2", 0).Obj(),
				pod("n2-a", "n2", 3, "1", 0).Obj(), pod("n2-b", "n2", 3, "1", 0).Obj(),
				pod("n3-a", "n3", 3, "1", 0).Obj(), pod("n3-b", "n3", 1, "1", 0).Obj(),
				pod("n4-a", "n4", 3, "2", 0).Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n4",
			wantVictims: []string{"n4-a"},
		},
		{
			name:  "smallest sum of priorities among equal counts",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2")},
			pods: []*v1.Pod{
				pod("n1-a", "n1", 3, "1", 0).Obj(), pod("n1-b", "n1", 3, "1", 0).Obj(),
				pod("n2-a", "n2", 3, "1", 0).Obj(), pod("n2-b", "n2", 1, "1", 0).Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n2",
			wantVictims: []string{"n2-a", "n2-b"},
		},
		{
			name:  "fewest victims when sums tie",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2")},
			pods: []*v1.Pod{
				pod("n1-a", "n1", 0, "1", 0).Obj(), pod("n1-b", "n1", 0, "1", 0).Obj(),
				pod("n2-a", "n2", 0, "2", 0).Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n2",
			wantVictims: []string{"n2-a"},
		},
		{
			name:  "latest start of the most important victims",
			nodes: []*v1.Node{node("n1", "2"), node("n2", "2")},
			pods: []*v1.Pod{
				pod("old", "n1", 1, "2", 0).Obj(),
				pod("new", "n2", 1, "2", 30).Obj(),
			},
			pod:         preemptor("hi", 10, "2").Obj(),
			wantNode:    "n2",
			wantVictims: []string{"new"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.pods, tc.nodes, tc.pdbs, nil)
			e.pl.async = func(func()) {} // look at the decision only
			res, st := e.run(t, tc.pod)
			if tc.wantNode == "" {
				if st.Code() != tc.wantCode || !strings.Contains(st.Message(), tc.wantMsg) {
					t.Fatalf("status = %v, want code %v with %q", st, tc.wantCode, tc.wantMsg)
				}
				if res != nil && res.NominatedNodeName != "" {
					t.Fatalf("nominated %q, want none", res.NominatedNodeName)
				}
				return
			}
			if !st.IsSuccess() {
				t.Fatalf("status = %v", st)
			}
			if res.NominatedNodeName != tc.wantNode {
				t.Fatalf("nominated %q, want %q", res.NominatedNodeName, tc.wantNode)
			}
			got := e.lastCandidate(t, tc.pod)
			if diff := cmp.Diff(tc.wantVictims, names(got.victims)); diff != "" {
				t.Errorf("victims (-want +got):\n%s", diff)
			}
		})
	}
}

// lastCandidate re-runs the dry run for pod and returns the chosen
// candidate, to look at its victims.
func (e *env) lastCandidate(t *testing.T, pod *v1.Pod) *candidate {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	nodes := e.h.SnapshotSharedLister().NodeInfos().List()
	e.h.Runner.RunPreFilterPlugins(ctx, state, pod, nodes)
	pdbs, _ := listPDBs(e.pl.pdbLister)
	cands, _, err := e.pl.dryRun(ctx, state, pod, nodes, pdbs, 0, len(nodes))
	if err != nil || len(cands) == 0 {
		t.Fatalf("dry run: %v, %d candidates", err, len(cands))
	}
	return e.pl.pickCandidate(cands)
}

func TestNumCandidates(t *testing.T) {
	tests := []struct {
		pct, abs    int32
		nodes, want int
	}{
		{10, 100, 1000, 100},
		{10, 100, 5000, 500},
		{10, 100, 50, 50},
		{0, 5, 30, 5},
		{50, 0, 30, 15},
	}
	for _, tc := range tests {
		pl := &DefaultPreemption{pct: tc.pct, abs: tc.abs, randIntn: func(n int) int { return n - 1 }}
		off, n := pl.offsetAndNumCandidates(tc.nodes)
		if n != tc.want || off != tc.nodes-1 {
			t.Errorf("pct=%d abs=%d nodes=%d: got (%d, %d), want (%d, %d)", tc.pct, tc.abs, tc.nodes, off, n, tc.nodes-1, tc.want)
		}
	}
}

func TestCandidateSearchIsBounded(t *testing.T) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 60 {
		n := fmt.Sprintf("n%02d", i)
		nodes = append(nodes, node(n, "2"))
		pods = append(pods, pod("p-"+n, n, 1, "2", 0).Obj())
	}
	e := newEnv(t, pods, nodes, nil, &configv1.DefaultPreemptionArgs{MinCandidateNodesPercentage: ptr[int32](0), MinCandidateNodesAbsolute: ptr[int32](5)})
	ctx := context.Background()
	p := preemptor("hi", 10, "2").Obj()
	state := framework.NewCycleState()
	all := e.h.SnapshotSharedLister().NodeInfos().List()
	e.h.Runner.RunPreFilterPlugins(ctx, state, p, all)
	off, num := e.pl.offsetAndNumCandidates(len(all))
	cands, _, err := e.pl.dryRun(ctx, state, p, all, nil, off, num)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 5 {
		t.Fatalf("got %d candidates, want 5", len(cands))
	}
}

func TestTerminatingVictimOnNominatedNodeWaits(t *testing.T) {
	victim := pod("lo", "n1", 1, "2", 0).Terminating().Obj()
	victim.Status.Conditions = []v1.PodCondition{{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler}}
	e := newEnv(t, []*v1.Pod{victim, pod("lo2", "n2", 1, "2", 0).Obj()}, []*v1.Node{node("n1", "2"), node("n2", "2")}, nil, nil)
	_, st := e.run(t, preemptor("hi", 10, "2").NominatedNode("n1").Obj())
	if st.Code() != framework.Unschedulable || st.Message() != "preemption: "+ReasonTerminatingVictim {
		t.Fatalf("status = %v, want %q", st, ReasonTerminatingVictim)
	}
	// Once the nominated node cannot take the pod at all, it may look elsewhere.
	ok, _ := e.pl.eligible(preemptor("hi", 10, "2").NominatedNode("n1").Obj(), framework.NewStatus(framework.UnschedulableAndUnresolvable))
	if !ok {
		t.Fatal("pod whose nominated node is unresolvable should be eligible")
	}
}

func TestNominatedHigherPriorityPodKeepsItsRoom(t *testing.T) {
	// n1 has 2 free cpus nominated to a priority-20 pod; a priority-10
	// pod must preempt on n2 instead of taking n1.
	nodes := []*v1.Node{node("n1", "4"), node("n2", "4")}
	pods := []*v1.Pod{pod("a", "n1", 1, "2", 0).Obj(), pod("b", "n2", 1, "4", 0).Obj()}
	e := newEnv(t, pods, nodes, nil, nil)
	e.h.Nominate(preemptor("nominee", 20, "2").NominatedNode("n1").Obj(), "n1")
	e.pl.async = func(func()) {}
	res, st := e.run(t, preemptor("mid", 10, "4").Obj())
	if !st.IsSuccess() {
		t.Fatalf("status = %v", st)
	}
	if res.NominatedNodeName != "n2" {
		// n1 would need 6 cpus with the nominee: impossible.
		t.Fatalf("nominated %q, want n2", res.NominatedNodeName)
	}
}

func TestSideEffects(t *testing.T) {
	victim := pod("victim", "n1", 1, "2", 0).Obj()
	victim.Spec.TerminationGracePeriodSeconds = ptr[int64](17)
	lowNominee := preemptor("low-nominee", 5, "1").NominatedNode("n1").Obj()
	hi := preemptor("hi", 10, "2").Obj()
	e := newEnv(t, []*v1.Pod{victim, lowNominee, hi}, []*v1.Node{node("n1", "2")}, nil, nil)
	e.h.Nominate(lowNominee, "n1")
	var asyncRan bool
	e.pl.async = func(f func()) { asyncRan = true; go f() }

	res, st := e.run(t, hi)
	if !st.IsSuccess() || res.NominatedNodeName != "n1" {
		t.Fatalf("got %v, %v", res, st)
	}
	e.pl.WaitForPreemptions()
	if !asyncRan {
		t.Fatal("side effects did not go through the async executor")
	}
	ctx := context.Background()
	pods := e.h.Client.CoreV1().Pods("default")
	if _, err := pods.Get(ctx, "victim", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("victim still there: %v", err)
	}
	got, err := pods.Get(ctx, "hi", metav1.GetOptions{})
	if err != nil || got.Status.NominatedNodeName != "n1" {
		t.Errorf("preemptor nominatedNodeName = %q, err %v; want n1", got.Status.NominatedNodeName, err)
	}
	got, err = pods.Get(ctx, "low-nominee", metav1.GetOptions{})
	if err != nil || got.Status.NominatedNodeName != "" {
		t.Errorf("lower-priority nominee keeps %q (err %v); want it cleared", got.Status.NominatedNodeName, err)
	}
	var sawCondition, sawGrace bool
	for _, a := range e.h.Client.(interface{ Actions() []clienttesting.Action }).Actions() {
		switch a := a.(type) {
		case clienttesting.PatchAction:
			if a.GetName() == "victim" && strings.Contains(string(a.GetPatch()), string(v1.PodReasonPreemptionByScheduler)) {
				sawCondition = true
			}
		case clienttesting.DeleteAction:
			if o := a.GetDeleteOptions(); a.GetName() == "victim" && o.GracePeriodSeconds != nil && *o.GracePeriodSeconds == 17 {
				sawGrace = true
			}
		}
	}
	if !sawCondition || !sawGrace {
		t.Errorf("DisruptionTarget patch seen: %v, delete with grace period 17 seen: %v", sawCondition, sawGrace)
	}
	if e.metrics.attempts.Load() != 1 || e.metrics.victims.Load() != 1 {
		t.Errorf("metrics: attempts %d victims %d, want 1 and 1", e.metrics.attempts.Load(), e.metrics.victims.Load())
	}
}

// A pod retried while its evictions are still running must not preempt
// on a second node: its own node still looks full until the victims are
// gone (found by scheduler_perf's PreemptionBasic, where each retry
// emptied another node).
func TestNoSecondPreemptionWhileEvicting(t *testing.T) {
	nodes := []*v1.Node{node("n1", "4"), node("n2", "4")}
	pods := []*v1.Pod{pod("a", "n1", 1, "4", 0).Obj(), pod("b", "n2", 1, "4", 0).Obj()}
	e := newEnv(t, pods, nodes, nil, nil)
	var pending []func()
	e.pl.async = func(f func()) { pending = append(pending, f) }
	hi := preemptor("hi", 10, "3").Obj()

	res, st := e.run(t, hi)
	if !st.IsSuccess() || res == nil || res.NominatedNodeName == "" {
		t.Fatalf("first attempt: %v, %v", res, st)
	}
	first := res.NominatedNodeName
	res, st = e.run(t, hi)
	if st.Code() != framework.Unschedulable || !strings.Contains(st.Message(), ReasonPreemptionRunning) {
		t.Fatalf("retry during the evictions: status %v, want %q", st, ReasonPreemptionRunning)
	}
	if res != nil && res.NominatedNodeName != "" {
		t.Fatalf("retry nominated %q", res.NominatedNodeName)
	}
	if len(pending) != 1 {
		t.Fatalf("%d evictions started, want 1", len(pending))
	}
	// Once the evictions are done the pod may preempt again (its victims
	// are still in this test's snapshot, so it finds a node again).
	pending[0]()
	res, st = e.run(t, hi)
	if !st.IsSuccess() || res.NominatedNodeName == "" {
		t.Fatalf("after the evictions: %v, %v (first nominated %s)", res, st, first)
	}
}
