package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// gangLabel names a pod's group in these tests.
const gangLabel = "test.berth.io/gang"

// fakeGroups is a framework.GroupPlugin over a fixed table of groups,
// membership by label, members from the pod informer.
type fakeGroups struct {
	groups map[string]*framework.PodGroup
	pods   corelisters.PodLister

	mu      sync.Mutex
	reports []framework.GroupReport
}

func (f *fakeGroups) Name() string { return "FakeGroups" }

func (f *fakeGroups) PreEnqueue(context.Context, *v1.Pod) *framework.Status { return nil }

func (f *fakeGroups) GroupKey(pod *v1.Pod) string { return pod.Labels[gangLabel] }

func (f *fakeGroups) PodGroup(pod *v1.Pod) (*framework.PodGroup, *framework.Status) {
	g := f.groups[f.GroupKey(pod)]
	if g == nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "no such group")
	}
	return g, nil
}

func (f *fakeGroups) Members(key string) []*v1.Pod {
	all, _ := f.pods.List(labels.SelectorFromSet(labels.Set{gangLabel: key}))
	return all
}

func (f *fakeGroups) ReportGroup(_ context.Context, r framework.GroupReport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
}

func (f *fakeGroups) outcomes(key string) []framework.GroupOutcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []framework.GroupOutcome
	for _, r := range f.reports {
		if r.Group.Key == key {
			out = append(out, r.Outcome)
		}
	}
	return out
}

// failingPreBind fails PreBind for the pods named in fail.
type failingPreBind struct {
	fail       map[string]bool
	mu         sync.Mutex
	unreserved []string
}

func (p *failingPreBind) Name() string { return "FailingPreBind" }
func (p *failingPreBind) PreBind(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ string) *framework.Status {
	if p.fail[pod.Name] {
		return framework.AsStatus(fmt.Errorf("volume for %s could not be provisioned", pod.Name))
	}
	return nil
}
func (p *failingPreBind) Reserve(context.Context, *framework.CycleState, *v1.Pod, string) *framework.Status {
	return nil
}
func (p *failingPreBind) Unreserve(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unreserved = append(p.unreserved, pod.Name)
}

// newGangEnv builds an engine with groups over nodes.
func newGangEnv(t *testing.T, groups []*framework.PodGroup, extra []fakeRegistration, nodes ...runtime.Object) (*testEnv, *fakeGroups) {
	t.Helper()
	fg := &fakeGroups{groups: map[string]*framework.PodGroup{}}
	for _, g := range groups {
		fg.groups[g.Key] = g
	}
	regs := append([]fakeRegistration{register("FakeGroups", fg, func(h framework.Handle) {
		fg.pods = h.SharedInformerFactory().Core().V1().Pods().Lister()
	})}, extra...)
	// The real GangScheduling may not be enabled beside the fake.
	env := newTestEnv(t, envOptions{extra: regs, disabled: []string{"GangScheduling"}}, nodes...)
	return env, fg
}

func gangPods(group string, n int, cpu string) []*v1.Pod {
	var out []*v1.Pod
	for i := range n {
		out = append(out, pendingPod(fmt.Sprintf("%s-%d", group, i)).Label(gangLabel, group).Req("cpu", cpu).Obj())
	}
	return out
}

func boundCount(env *testEnv, prefix string) int {
	n := 0
	for name := range env.boundTo() {
		if strings.HasPrefix(name, prefix+"-") {
			n++
		}
	}
	return n
}

// TestGroupPlacedWholeInOneCycle: one pop places every member: the
// members see each other's reservations (two 3-CPU pods cannot share a
// 4-CPU node), and all are bound.
func TestGroupPlacedWholeInOneCycle(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 3}
	env, fg := newGangEnv(t, []*framework.PodGroup{g}, nil,
		node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj())
	env.createPods(gangPods("train", 3, "3")...)
	env.scheduleOne()
	bound := env.boundTo()
	if len(bound) != 3 {
		t.Fatalf("bound %v after one cycle, want all 3 members", bound)
	}
	nodes := map[string]bool{}
	for _, n := range bound {
		nodes[n] = true
	}
	if len(nodes) != 3 {
		t.Errorf("members share nodes %v: each needs 3 of a node's 4 CPUs", bound)
	}
	if got := fg.outcomes("train"); len(got) != 2 || got[0] != framework.GroupPlaced || got[1] != framework.GroupBound {
		t.Errorf("reports %v, want [Placed Bound]", got)
	}
}

// TestGroupAllOrNothing: a group whose minimum does not fit keeps
// nothing: no bind, nothing assumed, every member back in the queue with a
// message that says how close it came and why the rest has no node.
func TestGroupAllOrNothing(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 3}
	// 12 CPUs in all, more than the 9 the members ask, but one node is
	// half taken: only two members fit.
	env, fg := newGangEnv(t, []*framework.PodGroup{g}, nil, node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj(),
		st.MakePod().Name("busy").Node("n3").Req("cpu", "2").Obj())
	pods := gangPods("train", 3, "3")
	env.createPods(pods...)
	env.scheduleOne()
	if n := env.bindAttempts(); n != 0 {
		t.Fatalf("%d bind calls for a group that cannot fit", n)
	}
	for _, p := range pods {
		if env.inCache(p) {
			t.Errorf("%s left in the cache", p.Name)
		}
	}
	if _, _, pool := env.queueLen(); pool != 3 {
		t.Errorf("unschedulable pool holds %d pods, want the 3 members", pool)
	}
	rep, ok := env.lastReport(pods[2])
	if !ok {
		t.Fatal("no failure reported for the member that did not fit")
	}
	for _, want := range []string{"2 of 3 needed members fit", "Insufficient cpu"} {
		if !strings.Contains(rep.msg, want) {
			t.Errorf("message %q lacks %q", rep.msg, want)
		}
	}
	if got := fg.outcomes("train"); len(got) != 1 || got[0] != framework.GroupUnschedulable {
		t.Errorf("reports %v, want [Unschedulable]", got)
	}
}

// TestTwoGangsNoDeadlock: two gangs that each fit alone but not together
// (Volcano #3373 in small): one is bound whole, the other holds nothing,
// whatever order their pods were queued in.
func TestTwoGangsNoDeadlock(t *testing.T) {
	a := &framework.PodGroup{Key: "a", Namespace: "default", Name: "a", MinMember: 3}
	b := &framework.PodGroup{Key: "b", Namespace: "default", Name: "b", MinMember: 3}
	env, _ := newGangEnv(t, []*framework.PodGroup{a, b}, nil,
		node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj(), node("n4", "4").Obj())
	pa, pb := gangPods("a", 3, "3"), gangPods("b", 3, "3")
	env.createPods(pa[0], pb[0], pa[1], pb[1], pa[2], pb[2])
	env.scheduleOne()
	env.scheduleOne()
	na, nb := boundCount(env, "a"), boundCount(env, "b")
	if !(na == 3 && nb == 0 || na == 0 && nb == 3) {
		t.Fatalf("bound a=%d b=%d: want one gang whole and the other untouched", na, nb)
	}
	// The losing gang's members are all queued again (in the pool, or in
	// backoff when the winner's binds arrived during their attempt), and
	// none is left assumed.
	if a, b, pool := env.queueLen(); a+b+pool != 3 {
		t.Errorf("queue active=%d backoff=%d pool=%d; the losing gang's 3 members belong in it", a, b, pool)
	}
	for _, p := range append(pa, pb...) {
		if _, bound := env.boundTo()[p.Name]; !bound && env.inCache(p) {
			t.Errorf("%s is in the cache but was not bound", p.Name)
		}
	}
}

// TestGroupRollsBackOnPreBindFailure: one member's PreBind fails after
// every member was reserved; none of them is bound, all are unreserved and
// forgotten, and the group is requeued.
func TestGroupRollsBackOnPreBindFailure(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 3}
	pb := &failingPreBind{fail: map[string]bool{"train-1": true}}
	env, fg := newGangEnv(t, []*framework.PodGroup{g}, []fakeRegistration{register(pb.Name(), pb, nil)},
		node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj())
	pods := gangPods("train", 3, "3")
	env.createPods(pods...)
	env.scheduleOne()
	if n := env.bindAttempts(); n != 0 {
		t.Fatalf("%d members bound although train-1's PreBind failed", n)
	}
	pb.mu.Lock()
	unreserved := len(pb.unreserved)
	pb.mu.Unlock()
	if unreserved != 3 {
		t.Errorf("Unreserve ran for %d members, want all 3", unreserved)
	}
	for _, p := range pods {
		if env.inCache(p) {
			t.Errorf("%s still assumed", p.Name)
		}
	}
	rep, ok := env.lastReport(pods[0])
	if !ok || !strings.Contains(rep.msg, "train-1 failed before binding") {
		t.Errorf("train-0's report %q should name the member whose PreBind failed", rep.msg)
	}
	got := fg.outcomes("train")
	if len(got) != 2 || got[1] != framework.GroupUnschedulable {
		t.Errorf("reports %v, want [Placed Unschedulable]", got)
	}
}

// TestGroupTopologyDomain: a group confined to one zone goes to the zone
// that holds it whole, after the roomier-looking zone (more free CPU in
// total, but no second node for a 7-CPU member) is tried and rolled back.
func TestGroupTopologyDomain(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 2, TopologyKey: "zone"}
	env, _ := newGangEnv(t, []*framework.PodGroup{g}, nil,
		node("a1", "13").Label("zone", "a").Obj(), node("a2", "3").Label("zone", "a").Obj(),
		node("b1", "7500m").Label("zone", "b").Obj(), node("b2", "7500m").Label("zone", "b").Obj())
	env.createPods(gangPods("train", 2, "7")...)
	env.scheduleOne()
	bound := env.boundTo()
	if len(bound) != 2 || bound["train-0"][:1] != "b" || bound["train-1"][:1] != "b" {
		t.Fatalf("bound %v, want both members in zone b (b1 and b2)", bound)
	}
}

// TestGroupNeverFits: a minimum larger than the whole cluster fails at
// once, unresolvable, saying so.
func TestGroupNeverFits(t *testing.T) {
	g := &framework.PodGroup{Key: "big", Namespace: "default", Name: "big", MinMember: 2,
		MinResources: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100")}}
	env, _ := newGangEnv(t, []*framework.PodGroup{g}, nil, node("n1", "4").Obj(), node("n2", "4").Obj())
	pods := gangPods("big", 2, "1")
	env.createPods(pods...)
	env.scheduleOne()
	rep, ok := env.lastReport(pods[0])
	if !ok || !strings.Contains(rep.msg, "can never fit") || !strings.Contains(rep.msg, "ask for 100 of cpu") {
		t.Fatalf("report %q should say the group can never fit and why", rep.msg)
	}
	if env.bindAttempts() != 0 {
		t.Error("members bound")
	}
}

// TestGroupWaitsForMembers: fewer members than the minimum exist; none is
// placed and the message counts them.
func TestGroupWaitsForMembers(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 3}
	env, fg := newGangEnv(t, []*framework.PodGroup{g}, nil, node("n1", "4").Obj(), node("n2", "4").Obj(), node("n3", "4").Obj())
	pods := gangPods("train", 2, "1")
	env.createPods(pods...)
	env.scheduleOne()
	if env.bindAttempts() != 0 {
		t.Fatal("members bound before the group's minimum existed")
	}
	rep, _ := env.lastReport(pods[0])
	if !strings.Contains(rep.msg, "2 of 3 members exist") {
		t.Errorf("report %q should count the members", rep.msg)
	}
	if got := fg.outcomes("train"); len(got) != 1 || got[0] != framework.GroupWaiting {
		t.Errorf("reports %v, want [Waiting]", got)
	}
}

// TestGroupNeverFitsInOneDomain: the cluster holds the group's 9 CPUs, but
// no zone does (8 each): the group fails at once, unresolvable, naming the
// largest domain, instead of being retried for ever.
func TestGroupNeverFitsInOneDomain(t *testing.T) {
	g := &framework.PodGroup{Key: "train", Namespace: "default", Name: "train", MinMember: 3, TopologyKey: "zone"}
	env, fg := newGangEnv(t, []*framework.PodGroup{g}, nil,
		node("a1", "4").Label("zone", "a").Obj(), node("a2", "4").Label("zone", "a").Obj(),
		node("b1", "4").Label("zone", "b").Obj(), node("b2", "4").Label("zone", "b").Obj())
	pods := gangPods("train", 3, "3")
	env.createPods(pods...)
	env.scheduleOne()
	if env.bindAttempts() != 0 {
		t.Fatal("members bound")
	}
	rep, ok := env.lastReport(pods[0])
	if !ok || !strings.Contains(rep.msg, "can never fit in one zone domain: its 3 members' requests ask for 9 of cpu, but the largest domain (zone=") ||
		!strings.Contains(rep.msg, ") has 8 allocatable") {
		t.Fatalf("report %q should say no zone can ever hold the group", rep.msg)
	}
	if got := fg.outcomes("train"); len(got) != 1 || got[0] != framework.GroupUnschedulable {
		t.Errorf("reports %v, want [Unschedulable]", got)
	}
}
