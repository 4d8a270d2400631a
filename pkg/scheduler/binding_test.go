package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berthsched/berth/pkg/framework"
)

var (
	podsResource = schema.GroupResource{Resource: "pods"}
	bindingGR    = schema.GroupResource{Resource: bindingResource}
)

// refusedBinding is the Conflict the API server returns when the stored pod
// refuses a binding: already assigned, being deleted, or gated
// (k8s.io/kubernetes/pkg/registry/core/pod/storage, BindingREST.assignPod).
func refusedBinding(name, why string) error {
	return apierrors.NewConflict(bindingGR, name, errors.New(why))
}

// overTheWire returns err as a client sees it: the Status encoded as JSON
// by the server and decoded by client-go.
func overTheWire(t *testing.T, err error) error {
	t.Helper()
	b, jerr := json.Marshal(err.(apierrors.APIStatus).Status())
	if jerr != nil {
		t.Fatal(jerr)
	}
	var st metav1.Status
	if jerr := json.Unmarshal(b, &st); jerr != nil {
		t.Fatal(jerr)
	}
	return &apierrors.StatusError{ErrStatus: st}
}

func TestClassifyBindError(t *testing.T) {
	tests := []struct {
		err  error
		want bindOutcome
	}{
		// The stored pod refused the binding: final, whatever the message.
		{refusedBinding("p", `pod p is already assigned to node "n1"`), bindConflict},
		{refusedBinding("p", "pod p is being deleted, cannot be assigned to a host"), bindConflict},
		{refusedBinding("p", "the message may change"), bindConflict},
		{overTheWire(t, refusedBinding("p", "x")), bindConflict},
		{fmt.Errorf("binding: %w", refusedBinding("p", "x")), bindConflict},
		// A failed UID precondition (the pod was re-created) or any other
		// conflict: requeued if the informer still shows the pod unbound,
		// even when the message reads like an assigned pod.
		{apierrors.NewConflict(podsResource, "p", errors.New("Precondition failed: UID in precondition: a, UID in object meta: b")), bindError},
		{apierrors.NewConflict(podsResource, "p", errors.New("pod is already assigned")), bindError},
		{apierrors.NewAlreadyExists(podsResource, "p"), bindError},
		{apierrors.NewNotFound(podsResource, "p"), bindNotFound},
		{&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonGone, Message: "gone"}}, bindNotFound},
		{apierrors.NewServerTimeout(podsResource, "create", 1), bindTransient},
		{apierrors.NewTimeoutError("slow", 1), bindTransient},
		{apierrors.NewTooManyRequests("slow down", 1), bindTransient},
		{apierrors.NewServiceUnavailable("down"), bindTransient},
		{apierrors.NewInternalError(errors.New("etcd")), bindTransient},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), bindTransient},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, bindTransient},
		{apierrors.NewForbidden(podsResource, "p", errors.New("no")), bindError},
		{errors.New("something else"), bindError},
	}
	for _, tc := range tests {
		if got := classifyBindError(tc.err); got != tc.want {
			t.Errorf("classifyBindError(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestBindConflictIsNotRetriedAndForgetsThePod(t *testing.T) {
	env := newTestEnv(t, envOptions{bind: func(b *v1.Binding) error {
		return refusedBinding(b.Name, "refused")
	}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.scheduleOne()

	if got := env.bindAttempts(); got != 1 {
		t.Errorf("bind attempts = %d, want 1 (a conflict is final)", got)
	}
	if env.inCache(pod) {
		t.Error("the assumed pod is still in the cache after a conflict")
	}
	if a, b, u := env.queueLen(); a+b+u != 0 {
		t.Errorf("queue = %d/%d/%d, want the pod dropped", a, b, u)
	}
	if got := counterValue(env.metrics.BindErrors.WithLabelValues(string(bindConflict))); got != 1 {
		t.Errorf("bind errors{conflict} = %v, want 1", got)
	}
}

// TestBindPreconditionConflictRequeues: a conflict that is not the pod
// refusing the binding must not lose the pod while the informer shows it
// unbound.
func TestBindPreconditionConflictRequeues(t *testing.T) {
	env := newTestEnv(t, envOptions{bind: func(b *v1.Binding) error {
		return apierrors.NewConflict(podsResource, b.Name, errors.New("Precondition failed: UID in precondition: a, UID in object meta: b"))
	}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.scheduleOne()

	if env.inCache(pod) {
		t.Error("the assumed pod is still in the cache")
	}
	if a, b, u := env.queueLen(); a+b+u != 1 {
		t.Errorf("queue = %d/%d/%d, want the pod requeued", a, b, u)
	}
	if got := counterValue(env.metrics.BindErrors.WithLabelValues(string(bindError))); got != 1 {
		t.Errorf("bind errors{error} = %v, want 1", got)
	}
}

// stepUntil steps the fake clock while the binding cycle waits on it, until
// done reports true.
func (e *testEnv) stepUntil(what string, done func() bool) {
	e.t.Helper()
	e.waitFor(what, func() bool {
		if e.clock.HasWaiters() {
			e.clock.Step(time.Second)
		}
		return done()
	})
}

func TestBindTransientErrorIsRetried(t *testing.T) {
	failures := 2
	env := newTestEnv(t, envOptions{bind: func(b *v1.Binding) error {
		if failures > 0 {
			failures--
			return apierrors.NewServerTimeout(podsResource, "create", 1)
		}
		return nil
	}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.sched.ScheduleOne(env.ctx)
	env.stepUntil("the bind to succeed", func() bool { return len(env.boundTo()) == 1 })
	env.sched.WaitForBinds()

	if got := env.bindAttempts(); got != 3 {
		t.Errorf("bind attempts = %d, want 3", got)
	}
	if got := env.boundTo()["p"]; got != "n1" {
		t.Errorf("bound to %q, want n1", got)
	}
	if got := counterValue(env.metrics.BindErrors.WithLabelValues(string(bindTransient))); got != 2 {
		t.Errorf("bind errors{transient} = %v, want 2", got)
	}
	if !env.inCache(pod) {
		t.Error("the bound pod left the cache")
	}
}

func TestBindTransientErrorGivesUpAndRequeues(t *testing.T) {
	env := newTestEnv(t, envOptions{bind: func(b *v1.Binding) error {
		return apierrors.NewServerTimeout(podsResource, "create", 1)
	}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.sched.ScheduleOne(env.ctx)
	env.stepUntil("the binding cycle to give up", func() bool { _, b, _ := env.queueLen(); return b == 1 })
	env.sched.WaitForBinds()

	if got, want := env.bindAttempts(), bindRetries+1; got != want {
		t.Errorf("bind attempts = %d, want %d", got, want)
	}
	if env.inCache(pod) {
		t.Error("the assumed pod is still in the cache")
	}
	if got := counterValue(env.metrics.BindErrors.WithLabelValues(string(bindError))); got != 1 {
		t.Errorf("bind errors{error} = %v, want 1", got)
	}
}

func TestReserveFailureUnreservesAndForgets(t *testing.T) {
	res := &reservePlugin{name: "FakeReserve", reserve: func(*v1.Pod, string) *framework.Status {
		return framework.NewStatus(framework.Unschedulable, "no room in the reservation")
	}}
	env := newTestEnv(t, envOptions{extra: []fakeRegistration{register(res.name, res, nil)}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.scheduleOne()

	reserved, unreserved := res.calls()
	if len(reserved) != 1 || len(unreserved) != 1 || unreserved[0] != "p@n1" {
		t.Errorf("reserve calls %v, unreserve calls %v; want one each for p@n1", reserved, unreserved)
	}
	if env.inCache(pod) {
		t.Error("the pod is still assumed after Reserve failed")
	}
	if got := env.bindAttempts(); got != 0 {
		t.Errorf("bind attempts = %d, want 0", got)
	}
	if a, b, u := env.queueLen(); a != 0 || b != 0 || u != 1 {
		t.Errorf("queue = %d/%d/%d, want the pod in the unschedulable pool", a, b, u)
	}
	if rep, _ := env.lastReport(pod); rep.msg != "no room in the reservation" {
		t.Errorf("report message = %q", rep.msg)
	}
}

func TestPermitWaitThenAllow(t *testing.T) {
	pl := &permitPlugin{name: "FakePermit", timeout: time.Hour}
	env := newTestEnv(t, envOptions{extra: []fakeRegistration{register(pl.name, pl, func(h framework.Handle) { pl.handle = h })}},
		node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.sched.ScheduleOne(env.ctx)
	wp := pl.handle.GetWaitingPod(string(pod.UID))
	if wp == nil {
		t.Fatal("the pod is not waiting on permit")
	}
	if wp.GetPod().Spec.NodeName != "n1" {
		t.Errorf("waiting pod is on %q, want n1", wp.GetPod().Spec.NodeName)
	}
	if !env.assumed(pod) {
		t.Error("a waiting pod must stay assumed")
	}
	if got := env.bindAttempts(); got != 0 {
		t.Fatalf("bound before permit allowed it (%d attempts)", got)
	}
	wp.Allow(pl.name)
	env.sched.WaitForBinds()
	if got := env.boundTo()["p"]; got != "n1" {
		t.Errorf("bound to %q, want n1", got)
	}
	if w2 := pl.handle.GetWaitingPod(string(pod.UID)); w2 != nil {
		t.Error("the pod is still listed as waiting after its bind")
	}
}

func TestPermitRejectThroughHandle(t *testing.T) {
	pl := &permitPlugin{name: "FakePermit", timeout: time.Hour}
	env := newTestEnv(t, envOptions{extra: []fakeRegistration{register(pl.name, pl, func(h framework.Handle) { pl.handle = h })}},
		node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	env.sched.ScheduleOne(env.ctx)
	pl.handle.GetWaitingPod(string(pod.UID)).Reject(pl.name, "gang incomplete")
	env.sched.WaitForBinds()

	if got := env.bindAttempts(); got != 0 {
		t.Errorf("bind attempts = %d, want 0", got)
	}
	if env.inCache(pod) {
		t.Error("a rejected pod is still assumed")
	}
	if a, b, u := env.queueLen(); a+b+u != 1 {
		t.Errorf("queue = %d/%d/%d, want the pod requeued", a, b, u)
	}
	if rep, _ := env.lastReport(pod); rep.msg != "gang incomplete" || rep.reason != v1.PodReasonUnschedulable {
		t.Errorf("report = %q (%s)", rep.msg, rep.reason)
	}
}

// TestPermitTimeoutRejects steps the fake clock past the Permit timeout.
func TestPermitTimeoutRejects(t *testing.T) {
	pl := &permitPlugin{name: "FakePermit", timeout: 10 * time.Minute}
	res := &reservePlugin{name: "FakeReserve"}
	env := newTestEnv(t, envOptions{extra: []fakeRegistration{
		register(pl.name, pl, func(h framework.Handle) { pl.handle = h }),
		register(res.name, res, nil),
	}}, node("n1", "4").Obj())
	pod := pendingPod("p").Req("cpu", "1").Obj()
	env.createPods(pod)

	before := env.clock.Waiters()
	env.sched.ScheduleOne(env.ctx)
	env.waitFor("the binding cycle to wait on the clock", func() bool { return env.clock.Waiters() > before })
	env.clock.Step(pl.timeout - time.Second)
	if !env.assumed(pod) || env.bindAttempts() != 0 {
		t.Fatal("the pod left Permit before its timeout")
	}
	env.clock.Step(time.Second)
	env.sched.WaitForBinds()

	if got := env.bindAttempts(); got != 0 {
		t.Errorf("bind attempts = %d, want 0", got)
	}
	if _, unreserved := res.calls(); len(unreserved) != 1 {
		t.Errorf("unreserve calls = %v, want one", unreserved)
	}
	if env.inCache(pod) {
		t.Error("a timed-out pod is still assumed")
	}
	if a, b, u := env.queueLen(); a+b+u != 1 {
		t.Errorf("queue = %d/%d/%d, want the pod requeued", a, b, u)
	}
	if rep, _ := env.lastReport(pod); !strings.Contains(rep.msg, "rejected due to timeout") {
		t.Errorf("report = %q, want a permit timeout", rep.msg)
	}
}

// slowPreBind holds pods labelled slow in PreBind until release is closed,
// like VolumeBinding waiting for a provisioner.
type slowPreBind struct {
	release chan struct{}
	waiting chan string
}

func (p *slowPreBind) Name() string { return "SlowPreBind" }

func (p *slowPreBind) PreBind(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, _ string) *framework.Status {
	if pod.Labels["slow"] == "" {
		return nil
	}
	p.waiting <- pod.Name
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return framework.AsStatus(ctx.Err())
	}
}

// TestPreBindWaitDoesNotHoldABindSlot: with one bind slot, a pod whose
// PreBind waits must not keep the next pod from binding.
func TestPreBindWaitDoesNotHoldABindSlot(t *testing.T) {
	pl := &slowPreBind{release: make(chan struct{}), waiting: make(chan string, 1)}
	env := newTestEnv(t, envOptions{bindConcurrency: 1, extra: []fakeRegistration{register(pl.Name(), pl, nil)}},
		node("n1", "4").Obj())
	slow := pendingPod("slow").Req("cpu", "1").Obj()
	slow.Labels = map[string]string{"slow": "yes"}
	env.createPods(slow)
	env.sched.ScheduleOne(env.ctx)
	if got := <-pl.waiting; got != "slow" {
		t.Fatalf("waiting in PreBind: %s", got)
	}
	env.createPods(pendingPod("fast").Req("cpu", "1").Obj())
	done := make(chan struct{})
	go func() {
		// Blocks on the bind slot if the slow pod still holds it.
		env.sched.ScheduleOne(env.ctx)
		close(done)
	}()
	env.waitFor("the fast pod to bind while the slow one waits", func() bool { return env.boundTo()["fast"] == "n1" })
	<-done
	if _, ok := env.boundTo()["slow"]; ok {
		t.Fatal("the slow pod bound before its PreBind finished")
	}
	close(pl.release)
	env.sched.WaitForBinds()
	if got := env.boundTo()["slow"]; got != "n1" {
		t.Errorf("slow pod bound to %q, want n1", got)
	}
}

// gangPermit holds pods labelled gang at Permit (for an hour) and lets
// every other pod through.
type gangPermit struct{ handle framework.Handle }

var _ framework.PermitPlugin = (*gangPermit)(nil)

func (p *gangPermit) Name() string { return "FakeGang" }

func (p *gangPermit) Permit(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ string) (*framework.Status, time.Duration) {
	if pod.Labels["gang"] == "" {
		return nil, 0
	}
	return framework.NewStatus(framework.Wait), time.Hour
}

// TestPermitWaitersDoNotHoldBindSlots: a gang larger than the bind
// concurrency, parked at Permit, must not keep the loop from scheduling and
// binding other pods; allowing the gang then binds every member.
func TestPermitWaitersDoNotHoldBindSlots(t *testing.T) {
	const members, others, slots = 200, 5, 64
	pl := &gangPermit{}
	env := newTestEnv(t, envOptions{bindConcurrency: slots, extra: []fakeRegistration{register(pl.Name(), pl, func(h framework.Handle) { pl.handle = h })}},
		node("n1", "4").Obj(), node("n2", "4").Obj())
	var gang, rest []*v1.Pod
	for i := range members {
		gang = append(gang, pendingPod(fmt.Sprintf("gang-%03d", i)).Label("gang", "g").Obj())
	}
	for i := range others {
		rest = append(rest, pendingPod(fmt.Sprintf("other-%d", i)).Obj())
	}
	env.createPods(gang...)
	// Queued later, so the loop meets the whole gang first.
	env.clock.Step(time.Second)
	env.createPods(rest...)

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for range members + others {
			env.sched.ScheduleOne(env.ctx)
		}
	}()
	env.waitFor("the other pods to bind while the gang waits at Permit", func() bool {
		bound := env.boundTo()
		for _, p := range rest {
			if bound[p.Name] == "" {
				return false
			}
		}
		return true
	})
	<-loopDone
	if got := len(env.boundTo()); got != others {
		t.Fatalf("%d pods bound before the gang was allowed, want %d", got, others)
	}

	for _, p := range gang {
		wp := pl.handle.GetWaitingPod(string(p.UID))
		if wp == nil {
			t.Fatalf("gang member %s is not waiting at Permit", p.Name)
		}
		wp.Allow(pl.Name())
	}
	env.sched.WaitForBinds()
	bound := env.boundTo()
	for _, p := range gang {
		if bound[p.Name] == "" {
			t.Errorf("gang member %s was not bound", p.Name)
		}
	}
	if !env.sched.bindSem.TryAcquire(slots) {
		t.Error("bind slots are still held after every binding cycle ended")
	}
}

// TestBindInFlightHoldsASlot: pods that do not wait at Permit still give
// the loop backpressure: a bind in flight holds one of the slots.
func TestBindInFlightHoldsASlot(t *testing.T) {
	inBind, release := make(chan struct{}), make(chan struct{})
	env := newTestEnv(t, envOptions{bindConcurrency: 1, bind: func(*v1.Binding) error {
		close(inBind)
		<-release
		return nil
	}}, node("n1", "4").Obj())
	env.createPods(pendingPod("p").Obj())

	env.sched.ScheduleOne(env.ctx)
	<-inBind
	if env.sched.bindSem.TryAcquire(1) {
		t.Fatal("a bind in flight holds no slot: the loop would not block")
	}
	close(release)
	env.sched.WaitForBinds()
	if !env.sched.bindSem.TryAcquire(1) {
		t.Error("the slot was not given back after the bind")
	}
}

// TestShutdownUndoesReservations: stopping the loop leaves no pod assumed,
// neither one parked at Permit nor one the loop holds back for a bind slot.
func TestShutdownUndoesReservations(t *testing.T) {
	pl := &gangPermit{}
	inBind, release := make(chan struct{}), make(chan struct{})
	env := newTestEnv(t, envOptions{bindConcurrency: 1, extra: []fakeRegistration{register(pl.Name(), pl, func(h framework.Handle) { pl.handle = h })},
		bind: func(b *v1.Binding) error {
			if b.Name == "first" {
				close(inBind)
				<-release
			}
			return nil
		}}, node("n1", "4").Obj())
	first, member, held := pendingPod("first").Obj(), pendingPod("member").Label("gang", "g").Obj(), pendingPod("held").Obj()
	// Created up front (the fake clientset serialises calls, and the first
	// bind will block in it), a clock step apart to fix the queue order.
	for _, p := range []*v1.Pod{first, member, held} {
		env.createPods(p)
		env.clock.Step(time.Second)
	}
	env.sched.ScheduleOne(env.ctx)
	<-inBind // first holds the only slot

	ctx, stop := context.WithCancel(env.ctx)
	env.sched.ScheduleOne(ctx)
	if pl.handle.GetWaitingPod(string(member.UID)) == nil {
		t.Fatal("the gang member is not waiting at Permit")
	}
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		env.sched.ScheduleOne(ctx) // blocks on the bind slot
	}()
	env.waitFor("the held pod to be assumed", func() bool { return env.assumed(held) })
	stop()
	<-loopDone
	close(release)
	env.sched.WaitForBinds()

	for _, p := range []*v1.Pod{member, held} {
		if env.inCache(p) {
			t.Errorf("%s is still assumed after shutdown", p.Name)
		}
	}
	if got := env.boundTo(); len(got) != 1 || got["first"] != "n1" {
		t.Errorf("bound = %v, want only first (its bind was in flight)", got)
	}
}
