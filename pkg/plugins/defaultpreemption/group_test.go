package defaultpreemption

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// podGroup is the engine's view of scheduler-plugins group name.
func podGroup(name string, minMember int) *framework.PodGroup {
	return &framework.PodGroup{Key: "scheduling.x-k8s.io/default/" + name, API: "scheduling.x-k8s.io", Namespace: "default", Name: name, MinMember: minMember}
}

// groupMembers are n pending members m1..mn of a gang.
func groupMembers(n int, prio int32, cpu string) []*v1.Pod {
	var out []*v1.Pod
	for i := 1; i <= n; i++ {
		out = append(out, preemptor(fmt.Sprintf("m%d", i), prio, cpu).Obj())
	}
	return out
}

// gangs makes GangOf answer for victim gangs: each pod of a gang gets
// the whole gang, itself included, as the engine's GangOf does.
func gangs(groups ...[]*v1.Pod) func(*v1.Pod) []*v1.Pod {
	byUID := map[types.UID][]*v1.Pod{}
	for _, g := range groups {
		for _, p := range g {
			byUID[p.UID] = g
		}
	}
	return func(p *v1.Pod) []*v1.Pod { return byUID[p.UID] }
}

// groupEnv is newEnv with every pod (victims and members) in the fake
// clientset, and a recorder that keeps events.
func groupEnv(t *testing.T, running, members []*v1.Pod, nodes []*v1.Node) (*env, *events.FakeRecorder) {
	t.Helper()
	e := newEnv(t, append(append([]*v1.Pod(nil), running...), members...), nodes, nil, nil)
	rec := events.NewFakeRecorder(100)
	e.h.Handle.Recorder = rec
	return e, rec
}

// preFilter runs the profile's PreFilter for a member on the snapshot, as
// the engine's callback does.
func (e *env) preFilter(t *testing.T) func(*v1.Pod) (*framework.CycleState, *framework.Status) {
	return func(pod *v1.Pod) (*framework.CycleState, *framework.Status) {
		state := framework.NewCycleState()
		st := e.h.Runner.RunPreFilterPlugins(context.Background(), state, pod, e.h.SnapshotSharedLister().NodeInfos().List())
		return state, st
	}
}

func (e *env) preemptGroup(t *testing.T, g *framework.PodGroup, members []*v1.Pod, need int) (map[string]string, *framework.Status) {
	t.Helper()
	nominated, st := e.pl.PreemptGroup(context.Background(), g, members, need, e.preFilter(t))
	e.pl.WaitForPreemptions()
	return nominated, st
}

// writes lists the pods deleted and the pods whose status was patched,
// as the fake clientset saw them.
func (e *env) writes() (deleted, patched []string) {
	for _, a := range e.h.Client.(interface{ Actions() []clienttesting.Action }).Actions() {
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			deleted = append(deleted, a.GetName())
		case clienttesting.PatchAction:
			patched = append(patched, a.GetName())
		}
	}
	sort.Strings(deleted)
	sort.Strings(patched)
	return deleted, patched
}

func (e *env) gone(t *testing.T, name string) bool {
	t.Helper()
	_, err := e.h.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

func (e *env) nominatedNode(t *testing.T, name string) string {
	t.Helper()
	p, err := e.h.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Status.NominatedNodeName
}

func drain(rec *events.FakeRecorder) []string {
	out := st.Events(rec)
	sort.Strings(out)
	return out
}

// checkNominations: every member is nominated, each to its own node
// among want, and the API says so too.
func checkNominations(t *testing.T, e *env, members []*v1.Pod, nominated map[string]string, want []string) {
	t.Helper()
	if len(nominated) != len(members) {
		t.Fatalf("nominated %v, want all %d members", nominated, len(members))
	}
	var nodes []string
	for _, m := range members {
		n, ok := nominated[string(m.UID)]
		if !ok {
			t.Errorf("member %s not nominated", m.Name)
			continue
		}
		nodes = append(nodes, n)
		if got := e.nominatedNode(t, m.Name); got != n {
			t.Errorf("member %s: nominatedNodeName in the API %q, returned %q", m.Name, got, n)
		}
	}
	sort.Strings(nodes)
	if diff := cmp.Diff(want, nodes); diff != "" {
		t.Errorf("nominated nodes (-want +got):\n%s", diff)
	}
}

// TestPreemptGroupEvictsForEveryMember: three full nodes, each with one
// low-priority pod; a gang of three that each need a whole node gets all
// three nodes, and all three pods are preempted.
func TestPreemptGroupEvictsForEveryMember(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj(), pod("lo2", "n2", 0, "2", 0).Obj(), pod("lo3", "n3", 0, "2", 0).Obj()}
	members := groupMembers(3, 100, "2")
	e, rec := groupEnv(t, running, members, nodes)

	nominated, st := e.preemptGroup(t, podGroup("g", 3), members, 3)
	if !st.IsSuccess() {
		t.Fatalf("status = %v", st)
	}
	checkNominations(t, e, members, nominated, []string{"n1", "n2", "n3"})
	deleted, _ := e.writes()
	if diff := cmp.Diff([]string{"lo1", "lo2", "lo3"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	for _, v := range []string{"lo1", "lo2", "lo3"} {
		if !e.gone(t, v) {
			t.Errorf("%s still exists", v)
		}
	}
	if e.metrics.attempts.Load() != 1 || e.metrics.victims.Load() != 3 {
		t.Errorf("metrics: attempts %d victims %d, want 1 and 3", e.metrics.attempts.Load(), e.metrics.victims.Load())
	}
	// Each victim is told which node it left; the preemptor named is the
	// first member by name.
	want := []string{
		"Normal Preempted Preempted by pod m1 on node n1",
		"Normal Preempted Preempted by pod m1 on node n2",
		"Normal Preempted Preempted by pod m1 on node n3",
		"Normal Preempting Preempting 3 pod(s) to place pod group default/g (3 members nominated)",
	}
	if diff := cmp.Diff(want, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestPreemptGroupAllOrNothing: one of the three nodes runs a pod of
// higher priority than the gang; two members could get room, three
// cannot, so nothing at all is evicted or nominated.
func TestPreemptGroupAllOrNothing(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj(), pod("lo2", "n2", 0, "2", 0).Obj(), pod("hi", "n3", 200, "2", 0).Obj()}
	members := groupMembers(3, 100, "2")
	e, rec := groupEnv(t, running, members, nodes)

	nominated, st := e.preemptGroup(t, podGroup("g", 3), members, 3)
	if st.Code() != framework.Unschedulable {
		t.Fatalf("status = %v, want Unschedulable", st)
	}
	for _, s := range []string{"2 of 3 needed members would fit", "member m3"} {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message %q does not say %q", st.Message(), s)
		}
	}
	if nominated != nil {
		t.Errorf("nominated %v, want nothing", nominated)
	}
	deleted, patched := e.writes()
	if len(deleted) != 0 || len(patched) != 0 {
		t.Errorf("deleted %v, patched %v; want no write at all", deleted, patched)
	}
	for _, p := range []string{"lo1", "lo2", "hi"} {
		if e.gone(t, p) {
			t.Errorf("%s was evicted", p)
		}
	}
	if e.metrics.victims.Load() != 0 {
		t.Errorf("victims metric %d, want 0", e.metrics.victims.Load())
	}
	if ev := drain(rec); len(ev) != 0 {
		t.Errorf("events %q, want none", ev)
	}

	// Needing only two of them, the same cluster has room: the two nodes
	// without the higher-priority pod are used.
	e2, _ := groupEnv(t, running, members, nodes)
	nominated, st = e2.preemptGroup(t, podGroup("g", 2), members, 2)
	if !st.IsSuccess() || len(nominated) != 2 {
		t.Fatalf("need 2: nominated %v, status %v", nominated, st)
	}
	var got []string
	for _, n := range nominated {
		got = append(got, n)
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"n1", "n2"}, got); diff != "" {
		t.Errorf("need 2: nodes (-want +got):\n%s", diff)
	}
	deleted, _ = e2.writes()
	if diff := cmp.Diff([]string{"lo1", "lo2"}, deleted); diff != "" {
		t.Errorf("need 2: deleted (-want +got):\n%s", diff)
	}
}

// TestPreemptGroupTakesVictimGangWhole: the pod on n1 belongs to a gang
// of two whose other member runs on n4, a node the group cannot use; the
// group needs n1, so both gang members go.
func TestPreemptGroupTakesVictimGangWhole(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2"), node("n4", "1")}
	gv1, gv2 := pod("gv1", "n1", 0, "2", 0).Obj(), pod("gv2", "n4", 0, "1", 0).Obj()
	running := []*v1.Pod{gv1, pod("lo2", "n2", 0, "2", 0).Obj(), pod("lo3", "n3", 0, "2", 0).Obj(), gv2}
	members := groupMembers(3, 100, "2")
	e, rec := groupEnv(t, running, members, nodes)
	e.h.Gangs = gangs([]*v1.Pod{gv1, gv2})

	nominated, st := e.preemptGroup(t, podGroup("g", 3), members, 3)
	if !st.IsSuccess() {
		t.Fatalf("status = %v", st)
	}
	checkNominations(t, e, members, nominated, []string{"n1", "n2", "n3"})
	deleted, _ := e.writes()
	if diff := cmp.Diff([]string{"gv1", "gv2", "lo2", "lo3"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if e.metrics.victims.Load() != 4 {
		t.Errorf("victims metric %d, want 4", e.metrics.victims.Load())
	}
	// gv2 is preempted from the node it runs on, not the member's.
	evs := drain(rec)
	found := false
	for _, ev := range evs {
		if ev == "Normal Preempted Preempted by pod m1 on node n4" {
			found = true
		}
	}
	if !found {
		t.Errorf("no Preempted event for gv2 on n4 in %q", evs)
	}
}

// TestPreemptGroupSparesUnbreakableGang: the pod on n1 belongs to a gang
// with a member as important as the group; that gang cannot be broken,
// so n1 is no candidate, the group cannot get three nodes, and nothing is
// evicted.
func TestPreemptGroupSparesUnbreakableGang(t *testing.T) {
	for _, prio := range []int32{100, 150} {
		t.Run(fmt.Sprintf("gang member priority %d", prio), func(t *testing.T) {
			nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2"), node("n4", "1")}
			gv1, gv2 := pod("gv1", "n1", 0, "2", 0).Obj(), pod("gv2", "n4", prio, "1", 0).Obj()
			running := []*v1.Pod{gv1, pod("lo2", "n2", 0, "2", 0).Obj(), pod("lo3", "n3", 0, "2", 0).Obj(), gv2}
			members := groupMembers(3, 100, "2")
			e, _ := groupEnv(t, running, members, nodes)
			e.h.Gangs = gangs([]*v1.Pod{gv1, gv2})

			nominated, st := e.preemptGroup(t, podGroup("g", 3), members, 3)
			if st.Code() != framework.Unschedulable {
				t.Fatalf("status = %v, want Unschedulable", st)
			}
			for _, s := range []string{"2 of 3 needed members would fit", "equal or higher priority"} {
				if !strings.Contains(st.Message(), s) {
					t.Errorf("message %q does not say %q", st.Message(), s)
				}
			}
			if nominated != nil {
				t.Errorf("nominated %v", nominated)
			}
			if deleted, patched := e.writes(); len(deleted) != 0 || len(patched) != 0 {
				t.Errorf("deleted %v, patched %v; want no write", deleted, patched)
			}
		})
	}
}

// TestPreemptGroupDoesNotEvictItsOwnMembers: a member placed earlier in
// the simulation, of lower priority than a later one, is not a victim for
// it.
func TestPreemptGroupDoesNotEvictItsOwnMembers(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj()}
	members := []*v1.Pod{preemptor("m1", 50, "2").Obj(), preemptor("m2", 100, "2").Obj()}
	e, _ := groupEnv(t, running, members, nodes)
	nominated, st := e.preemptGroup(t, podGroup("g", 2), members, 2)
	if st.Code() != framework.Unschedulable || nominated != nil {
		t.Fatalf("got %v, %v; want Unschedulable and no nomination", nominated, st)
	}
	for _, s := range []string{"1 of 2", "member m2", "same group"} {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message %q does not say %q", st.Message(), s)
		}
	}
	if deleted, _ := e.writes(); len(deleted) != 0 {
		t.Errorf("deleted %v", deleted)
	}
}

// TestPreemptGroupMemberThatMustNotPreempt: a member with
// preemptionPolicy Never is not placed by preemption.
func TestPreemptGroupMemberThatMustNotPreempt(t *testing.T) {
	never := v1.PreemptNever
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj(), pod("lo2", "n2", 0, "2", 0).Obj()}
	members := groupMembers(2, 100, "2")
	members[1].Spec.PreemptionPolicy = &never
	e, _ := groupEnv(t, running, members, nodes)
	nominated, st := e.preemptGroup(t, podGroup("g", 2), members, 2)
	if st.Code() != framework.Unschedulable || nominated != nil {
		t.Fatalf("got %v, %v; want Unschedulable", nominated, st)
	}
	for _, s := range []string{"1 of 2", "member m2"} {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("message %q does not say %q", st.Message(), s)
		}
	}
	if deleted, _ := e.writes(); len(deleted) != 0 {
		t.Errorf("deleted %v", deleted)
	}
}

// TestPreemptGroupWithRoomEvictsNothing: when the members fit as things
// are (the cluster changed since the attempt), they are nominated and no
// pod is preempted.
func TestPreemptGroupWithRoomEvictsNothing(t *testing.T) {
	nodes := []*v1.Node{node("n1", "4"), node("n2", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj(), pod("lo2", "n2", 0, "2", 0).Obj()}
	members := groupMembers(1, 100, "2")
	e, _ := groupEnv(t, running, members, nodes)
	nominated, st := e.preemptGroup(t, podGroup("g", 1), members, 1)
	if !st.IsSuccess() {
		t.Fatalf("status = %v", st)
	}
	if diff := cmp.Diff(map[string]string{"m1": "n1"}, nominated); diff != "" {
		t.Errorf("nominated (-want +got):\n%s", diff)
	}
	if deleted, _ := e.writes(); len(deleted) != 0 {
		t.Errorf("deleted %v", deleted)
	}
	if e.metrics.victims.Load() != 0 {
		t.Errorf("victims metric %d", e.metrics.victims.Load())
	}
}

// TestPreemptGroupNothingToEvict: when no pod anywhere is of lower
// priority than the group's most important member, there is nothing to
// simulate.
func TestPreemptGroupNothingToEvict(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2")}
	// Priorities 100 and 150 on the nodes; members of 50 and 100.
	running := []*v1.Pod{pod("eq", "n1", 100, "2", 0).Obj(), pod("hi", "n2", 150, "2", 0).Obj()}
	members := []*v1.Pod{preemptor("m1", 50, "2").Obj(), preemptor("m2", 100, "2").Obj()}
	e, _ := groupEnv(t, running, members, nodes)
	nominated, st := e.preemptGroup(t, podGroup("g", 2), members, 2)
	if st.Code() != framework.Unschedulable || nominated != nil {
		t.Fatalf("got %v, %v; want Unschedulable", nominated, st)
	}
	if !strings.Contains(st.Message(), "no pod of lower priority") {
		t.Errorf("message %q does not say there is nothing to evict", st.Message())
	}
	if deleted, patched := e.writes(); len(deleted) != 0 || len(patched) != 0 {
		t.Errorf("deleted %v, patched %v", deleted, patched)
	}
	if e.metrics.attempts.Load() != 1 {
		t.Errorf("attempts metric %d, want 1", e.metrics.attempts.Load())
	}

	// A pod below the group's highest member (not below every member)
	// is something to evict: m2 (100) may evict the pod of 75.
	running = []*v1.Pod{pod("mid", "n1", 75, "2", 0).Obj(), pod("hi", "n2", 150, "2", 0).Obj()}
	members = []*v1.Pod{preemptor("m2", 100, "2").Obj(), preemptor("m1", 50, "2").Obj()}
	e, _ = groupEnv(t, running, members, nodes)
	nominated, st = e.preemptGroup(t, podGroup("g", 1), members, 1)
	if !st.IsSuccess() || !cmp.Equal(map[string]string{"m2": "n1"}, nominated) {
		t.Fatalf("got %v, %v; want m2 nominated to n1", nominated, st)
	}
	if deleted, _ := e.writes(); !cmp.Equal([]string{"mid"}, deleted) {
		t.Errorf("deleted %v, want mid", deleted)
	}
}

func TestPreemptGroupWithoutPreemption(t *testing.T) {
	pl, err := New(context.Background(), nil, st.NewHandle(nil))
	if err != nil {
		t.Fatal(err)
	}
	nominated, status := pl.(*DefaultPreemption).PreemptGroup(context.Background(), podGroup("g", 2), groupMembers(2, 10, "1"), 2,
		func(*v1.Pod) (*framework.CycleState, *framework.Status) { return framework.NewCycleState(), nil })
	if nominated != nil || status.Code() != framework.Unschedulable || !strings.Contains(status.Message(), ReasonNoPreemption) {
		t.Fatalf("PreemptGroup = %v, %v; want Unschedulable naming %q", nominated, status, ReasonNoPreemption)
	}
}

// TestPostFilterTakesVictimGangAlong: single-pod preemption whose victim
// belongs to a gang evicts the whole gang, members on other nodes too.
func TestPostFilterTakesVictimGangAlong(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "1")}
	gv1, gv2 := pod("gv1", "n1", 0, "2", 0).Obj(), pod("gv2", "n2", 0, "1", 0).Obj()
	hi := preemptor("hi", 100, "2").Obj()
	e, _ := groupEnv(t, []*v1.Pod{gv1, gv2}, []*v1.Pod{hi}, nodes)
	e.h.Gangs = gangs([]*v1.Pod{gv1, gv2})

	res, st := e.run(t, hi)
	e.pl.WaitForPreemptions()
	if !st.IsSuccess() || res.NominatedNodeName != "n1" {
		t.Fatalf("got %v, %v; want n1", res, st)
	}
	if !strings.Contains(st.Message(), "preempting 2 victims") {
		t.Errorf("message %q does not count both gang members", st.Message())
	}
	deleted, _ := e.writes()
	if diff := cmp.Diff([]string{"gv1", "gv2"}, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if e.metrics.victims.Load() != 2 {
		t.Errorf("victims metric %d, want 2", e.metrics.victims.Load())
	}
}

// TestPostFilterPrefersNotBreakingGangs: a gang's extra member counts as
// a victim when nodes are compared, so a node with a single victim of
// the same priority wins over the gang's node.
func TestPostFilterPrefersNotBreakingGangs(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "1")}
	gv1, gv2 := pod("gv1", "n1", 0, "2", 0).Obj(), pod("gv2", "n3", 0, "1", 0).Obj()
	lo := pod("lo", "n2", 0, "2", 0).Obj()
	hi := preemptor("hi", 100, "2").Obj()
	e, _ := groupEnv(t, []*v1.Pod{gv1, gv2, lo}, []*v1.Pod{hi}, nodes)
	e.h.Gangs = gangs([]*v1.Pod{gv1, gv2})
	e.pl.async = func(func()) {}
	res, st := e.run(t, hi)
	if !st.IsSuccess() || res.NominatedNodeName != "n2" {
		t.Fatalf("got %v, %v; want n2", res, st)
	}
	if diff := cmp.Diff([]string{"lo"}, names(e.lastCandidate(t, hi).victims)); diff != "" {
		t.Errorf("victims (-want +got):\n%s", diff)
	}
}

// TestPostFilterSparesUnbreakableGang: a node whose victim belongs to a
// gang with a member of the preemptor's priority or higher is no
// candidate, even when it would otherwise be the best.
func TestPostFilterSparesUnbreakableGang(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "1")}
	// Without the gang, n1 (victim priority 0) beats n2 (priority 5).
	gv1, gv2 := pod("gv1", "n1", 0, "2", 0).Obj(), pod("gv2", "n3", 100, "1", 0).Obj()
	lo := pod("lo", "n2", 5, "2", 0).Obj()
	hi := preemptor("hi", 100, "2").Obj()

	e, _ := groupEnv(t, []*v1.Pod{gv1, gv2, lo}, []*v1.Pod{hi}, nodes)
	e.h.Gangs = gangs([]*v1.Pod{gv1, gv2})
	res, st := e.run(t, hi)
	e.pl.WaitForPreemptions()
	if !st.IsSuccess() || res.NominatedNodeName != "n2" {
		t.Fatalf("got %v, %v; want n2", res, st)
	}
	if deleted, _ := e.writes(); !cmp.Equal([]string{"lo"}, deleted) {
		t.Errorf("deleted %v, want only lo", deleted)
	}

	// With the gang's node the only one: no preemption, and the status
	// says why.
	e2, _ := groupEnv(t, []*v1.Pod{gv1, gv2}, []*v1.Pod{hi}, []*v1.Node{node("n1", "2"), node("n3", "1")})
	e2.h.Gangs = gangs([]*v1.Pod{gv1, gv2})
	res, st = e2.run(t, hi)
	e2.pl.WaitForPreemptions()
	if st.Code() != framework.Unschedulable || !strings.Contains(st.Message(), ReasonGangNotBreakable) {
		t.Fatalf("status = %v, want Unschedulable naming %q", st, ReasonGangNotBreakable)
	}
	if res != nil && res.NominatedNodeName != "" {
		t.Errorf("nominated %q", res.NominatedNodeName)
	}
	if deleted, patched := e2.writes(); len(deleted) != 0 || len(patched) != 0 {
		t.Errorf("deleted %v, patched %v", deleted, patched)
	}
}

// TestExpandGangs checks the expansion on its own: members of the
// victims' gangs are added once, and a gang with a member not below the
// priority refuses.
func TestExpandGangs(t *testing.T) {
	a1, a2, a3 := pod("a1", "n1", 0, "1", 0).Obj(), pod("a2", "n2", 0, "1", 0).Obj(), pod("a3", "n3", 5, "1", 0).Obj()
	b1, b2 := pod("b1", "n1", 0, "1", 0).Obj(), pod("b2", "n2", 10, "1", 0).Obj()
	solo := pod("solo", "n1", 0, "1", 0).Obj()
	e := newEnv(t, nil, []*v1.Node{node("n1", "1")}, nil, nil)
	e.h.Gangs = gangs([]*v1.Pod{a1, a2, a3}, []*v1.Pod{b1, b2})

	got, ok := expandGangs(e.h, []*v1.Pod{solo, a1, a2}, 10)
	if !ok {
		t.Fatal("expansion refused")
	}
	if diff := cmp.Diff([]string{"solo", "a1", "a2", "a3"}, names(got)); diff != "" {
		t.Errorf("expanded (-want +got):\n%s", diff)
	}
	if got, ok := expandGangs(e.h, []*v1.Pod{solo}, 10); !ok || !cmp.Equal([]string{"solo"}, names(got)) {
		t.Errorf("no gang: %v, %v", names(got), ok)
	}
	// b2 has priority 10, equal to the preemptor's.
	if got, ok := expandGangs(e.h, []*v1.Pod{solo, b1}, 10); ok {
		t.Errorf("gang with an equal-priority member expanded to %v", names(got))
	}
	if _, ok := expandGangs(e.h, []*v1.Pod{b1}, 11); !ok {
		t.Error("gang below the priority refused")
	}
	// a3 (priority 5) blocks a preemptor of priority 5.
	if _, ok := expandGangs(e.h, []*v1.Pod{a1}, 5); ok {
		t.Error("gang with a member of the preemptor's priority expanded")
	}
}

// TestPreemptGroupNotAgainWhileEvicting: a gang retried while its
// evictions are still running does not preempt a second time.
func TestPreemptGroupNotAgainWhileEvicting(t *testing.T) {
	nodes := []*v1.Node{node("n1", "2"), node("n2", "2"), node("n3", "2"), node("n4", "2")}
	running := []*v1.Pod{pod("lo1", "n1", 0, "2", 0).Obj(), pod("lo2", "n2", 0, "2", 0).Obj(),
		pod("lo3", "n3", 0, "2", 0).Obj(), pod("lo4", "n4", 0, "2", 0).Obj()}
	members := groupMembers(2, 100, "2")
	e, _ := groupEnv(t, running, members, nodes)
	var pending []func()
	e.pl.async = func(f func()) { pending = append(pending, f) }
	g := podGroup("g", 2)

	if _, st := e.pl.PreemptGroup(context.Background(), g, members, 2, e.preFilter(t)); !st.IsSuccess() {
		t.Fatalf("first attempt: %v", st)
	}
	nominated, st := e.pl.PreemptGroup(context.Background(), g, members, 2, e.preFilter(t))
	if st.Code() != framework.Unschedulable || st.Message() != ReasonPreemptionRunning || len(nominated) != 0 {
		t.Fatalf("retry during the evictions: %v, %v; want %q", nominated, st, ReasonPreemptionRunning)
	}
	if len(pending) != 1 {
		t.Fatalf("%d evictions started, want 1", len(pending))
	}
	pending[0]()
	if _, st := e.pl.PreemptGroup(context.Background(), g, members, 2, e.preFilter(t)); !st.IsSuccess() {
		t.Fatalf("after the evictions: %v", st)
	}
}
