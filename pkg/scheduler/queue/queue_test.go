package queue

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// prioritySort is the default QueueSort: higher priority first, then the
// pod that entered the queue first.
func prioritySort(a, b *framework.QueuedPodInfo) bool {
	pa, pb := podPriority(a.Pod), podPriority(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
}

func podPriority(p *v1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func newTestQueue(t testing.TB, opts Options) (*PriorityQueue, *testingclock.FakeClock, klog.Logger) {
	t.Helper()
	clk := testingclock.NewFakeClock(t0)
	if opts.Clock == nil {
		opts.Clock = clk
	}
	var logger klog.Logger
	if tt, ok := t.(*testing.T); ok {
		logger, _ = ktesting.NewTestContext(tt)
	} else {
		logger = klog.Background()
	}
	return New(prioritySort, opts), clk, logger
}

func pod(name string) *st.PodWrapper { return st.MakePod().Name(name) }

func names(pods []*v1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

// where reports which sub-queue holds the pod, for assertions.
func where(q *PriorityQueue, uid types.UID) string {
	q.lock.Lock()
	defer q.lock.Unlock()
	switch {
	case q.activeQ.get(uid) != nil:
		return QueueActive
	case q.backoffQ.get(uid) != nil:
		return QueueBackoff
	case q.pool[uid] != nil && q.pool[uid].Gated:
		return QueueGated
	case q.pool[uid] != nil:
		return QueueUnschedulable
	case q.inFlight.pods[uid] != nil:
		return "inFlight"
	}
	return "none"
}

func mustPop(t *testing.T, q *PriorityQueue, logger klog.Logger) *framework.QueuedPodInfo {
	t.Helper()
	p, err := q.Pop(logger)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	return p
}

// fail pops the named pod (it must be first) and hands it back as rejected
// by plugins.
func fail(t *testing.T, q *PriorityQueue, logger klog.Logger, plugins ...string) *framework.QueuedPodInfo {
	t.Helper()
	p := mustPop(t, q, logger)
	p.UnschedulablePlugins = sets.New(plugins...)
	if err := q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPopOrder(t *testing.T) {
	tests := []struct {
		name string
		pods []*v1.Pod // added in this order, one second apart
		want []string
	}{
		{
			name: "priority first",
			pods: []*v1.Pod{pod("low").Priority(1).Obj(), pod("high").Priority(100).Obj(), pod("mid").Priority(50).Obj()},
			want: []string{"high", "mid", "low"},
		},
		{
			name: "same priority: first in, first out",
			pods: []*v1.Pod{pod("a").Obj(), pod("b").Obj(), pod("c").Obj()},
			want: []string{"a", "b", "c"},
		},
		{
			name: "mixed",
			pods: []*v1.Pod{pod("a").Priority(1).Obj(), pod("b").Priority(2).Obj(), pod("c").Priority(1).Obj(), pod("d").Priority(2).Obj()},
			want: []string{"b", "d", "a", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, clk, logger := newTestQueue(t, Options{})
			for _, p := range tt.pods {
				q.Add(logger, p)
				clk.Step(time.Second)
			}
			var got []string
			for range tt.pods {
				got = append(got, mustPop(t, q, logger).Pod.Name)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("pop order (-want +got):\n%s", d)
			}
		})
	}
}

func TestPopCountsAttempts(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("p").Obj())
	clk.Step(time.Second)
	p := mustPop(t, q, logger)
	if p.Attempts != 1 || p.InitialAttemptTimestamp == nil || !p.InitialAttemptTimestamp.Equal(t0.Add(time.Second)) {
		t.Fatalf("after first pop: attempts=%d initial=%v", p.Attempts, p.InitialAttemptTimestamp)
	}
	if err := q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	q.FlushBackoffQCompleted(logger)
	p = mustPop(t, q, logger)
	if p.Attempts != 2 || !p.InitialAttemptTimestamp.Equal(t0.Add(time.Second)) {
		t.Fatalf("after second pop: attempts=%d initial=%v", p.Attempts, p.InitialAttemptTimestamp)
	}
	if got := q.SchedulingCycle(); got != 2 {
		t.Errorf("SchedulingCycle = %d, want 2", got)
	}
}

func TestBackoffDuration(t *testing.T) {
	tests := []struct {
		name         string
		initial, max time.Duration
		attempts     int
		want         time.Duration
	}{
		{"never tried", 0, 0, 0, 0},
		{"1st", 0, 0, 1, time.Second},
		{"2nd", 0, 0, 2, 2 * time.Second},
		{"3rd", 0, 0, 3, 4 * time.Second},
		{"4th", 0, 0, 4, 8 * time.Second},
		{"5th capped", 0, 0, 5, 10 * time.Second},
		{"100th capped", 0, 0, 100, 10 * time.Second},
		{"custom", 100 * time.Millisecond, time.Second, 3, 400 * time.Millisecond},
		{"custom capped", 100 * time.Millisecond, time.Second, 5, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _, _ := newTestQueue(t, Options{InitialBackoff: tt.initial, MaxBackoff: tt.max})
			if got := q.backoffDuration(tt.attempts); got != tt.want {
				t.Errorf("backoffDuration(%d) = %v, want %v", tt.attempts, got, tt.want)
			}
		})
	}
}

// An Error (no rejecting plugin) goes to backoffQ and is flushed to activeQ
// exactly when its backoff expires; each attempt doubles the wait.
func TestBackoffFlush(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("p").Obj())
	for attempt, wait := range []time.Duration{1, 2, 4, 8, 10, 10} {
		wait *= time.Second
		fail(t, q, logger) // no plugins: an Error
		if w := where(q, "uid-p"); w != QueueBackoff {
			t.Fatalf("attempt %d: pod in %s, want backoff", attempt+1, w)
		}
		clk.Step(wait - time.Millisecond)
		q.FlushBackoffQCompleted(logger)
		if w := where(q, "uid-p"); w != QueueBackoff {
			t.Fatalf("attempt %d: pod left backoff before %v", attempt+1, wait)
		}
		clk.Step(time.Millisecond)
		q.FlushBackoffQCompleted(logger)
		if w := where(q, "uid-p"); w != QueueActive {
			t.Fatalf("attempt %d: pod in %s after %v, want active", attempt+1, w, wait)
		}
	}
}

func TestBackoffQOrderedByExpiry(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("a").Obj())
	p := mustPop(t, q, logger)
	p.Attempts = 3 // 4s
	_ = q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle())
	q.Add(logger, pod("b").Obj())
	fail(t, q, logger) // 1s
	clk.Step(time.Second)
	q.FlushBackoffQCompleted(logger)
	if a, b := where(q, "uid-a"), where(q, "uid-b"); a != QueueBackoff || b != QueueActive {
		t.Fatalf("after 1s: a in %s, b in %s", a, b)
	}
}

func TestUnschedulableTimeout(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{UnschedulableTimeout: time.Minute})
	q.Add(logger, pod("p").Obj())
	fail(t, q, logger, "NodeResourcesFit")
	if w := where(q, "uid-p"); w != QueueUnschedulable {
		t.Fatalf("pod in %s, want unschedulable", w)
	}
	clk.Step(time.Minute - time.Second)
	q.FlushUnschedulablePodsLeftover(logger)
	if w := where(q, "uid-p"); w != QueueUnschedulable {
		t.Fatalf("pod left the pool before the timeout (in %s)", w)
	}
	clk.Step(time.Second)
	q.FlushUnschedulablePodsLeftover(logger)
	if w := where(q, "uid-p"); w != QueueActive {
		t.Fatalf("pod in %s after the timeout, want active", w)
	}
}

// A pod that has not waited out its backoff when the timeout flush comes goes
// to backoffQ.
func TestUnschedulableTimeoutStillBackingOff(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{UnschedulableTimeout: time.Millisecond})
	q.Add(logger, pod("p").Obj())
	fail(t, q, logger, "NodeResourcesFit")
	clk.Step(time.Millisecond) // timed out, but the 1s backoff has not expired
	q.FlushUnschedulablePodsLeftover(logger)
	if w := where(q, "uid-p"); w != QueueBackoff {
		t.Fatalf("pod in %s, want backoff", w)
	}
}

func TestAddExistingUpdatesInPlace(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("a").Priority(1).Obj())
	q.Add(logger, pod("b").Priority(2).Obj())
	q.Add(logger, pod("a").Priority(3).Obj())
	if a, _, _ := q.Len(); a != 2 {
		t.Fatalf("activeQ has %d pods, want 2", a)
	}
	if got := mustPop(t, q, logger).Pod.Name; got != "a" {
		t.Errorf("popped %s, want a (re-sorted by its new priority)", got)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, q *PriorityQueue, logger klog.Logger)
		from  string
	}{
		{"activeQ", func(t *testing.T, q *PriorityQueue, logger klog.Logger) {}, QueueActive},
		{"backoffQ", func(t *testing.T, q *PriorityQueue, logger klog.Logger) { fail(t, q, logger) }, QueueBackoff},
		{"pool", func(t *testing.T, q *PriorityQueue, logger klog.Logger) { fail(t, q, logger, "X") }, QueueUnschedulable},
		{"gated", func(t *testing.T, q *PriorityQueue, logger klog.Logger) {
			q.Delete(pod("p").Obj())
			q.Add(logger, pod("p").SchedulingGates("g").Obj())
		}, QueueGated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _, logger := newTestQueue(t, Options{PreEnqueuePlugins: gatePlugins()})
			q.Add(logger, pod("p").Obj())
			q.Add(logger, pod("other").Priority(-1).Obj())
			tt.setup(t, q, logger)
			if w := where(q, "uid-p"); w != tt.from {
				t.Fatalf("setup put pod in %s, want %s", w, tt.from)
			}
			q.Delete(pod("p").Obj())
			if w := where(q, "uid-p"); w != "none" {
				t.Fatalf("after Delete pod in %s", w)
			}
			pods, _ := q.PendingPods()
			if d := cmp.Diff([]string{"other"}, names(pods)); d != "" {
				t.Errorf("pending (-want +got):\n%s", d)
			}
			q.Delete(pod("p").Obj()) // deleting again is harmless
		})
	}
}

func TestPopBlocksUntilAdd(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	got := make(chan string)
	go func() {
		p, err := q.Pop(logger)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- p.Pod.Name
	}()
	select {
	case n := <-got:
		t.Fatalf("Pop returned %q on an empty queue", n)
	case <-time.After(20 * time.Millisecond):
	}
	q.Add(logger, pod("p").Obj())
	if n := <-got; n != "p" {
		t.Fatalf("Pop returned %q, want p", n)
	}
}

func TestCloseUnblocksPop(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	const waiters = 3
	errs := make(chan error, waiters)
	for range waiters {
		go func() {
			_, err := q.Pop(logger)
			errs <- err
		}()
	}
	q.Close()
	for range waiters {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("Pop after Close: %v, want ErrClosed", err)
		}
	}
	q.Close() // idempotent
}

func TestActivate(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{})
	for _, n := range []string{"pool", "backoff", "active"} {
		q.Add(logger, pod(n).Obj())
		clk.Step(time.Second)
	}
	fail(t, q, logger, "X") // pops "pool" (first in)
	fail(t, q, logger)      // pops "backoff"
	if w := where(q, "uid-pool"); w != QueueUnschedulable {
		t.Fatalf("pool pod in %s", w)
	}
	q.Activate(logger, map[string]*v1.Pod{
		"a": pod("pool").Obj(), "b": pod("backoff").Obj(), "c": pod("active").Obj(), "d": pod("unknown").Obj(),
	})
	if a, b, u := q.Len(); a != 3 || b != 0 || u != 0 {
		t.Fatalf("Len = %d,%d,%d; want 3,0,0", a, b, u)
	}
}

func TestPendingPodsSummary(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		q.Add(logger, pod(n).Obj())
	}
	fail(t, q, logger)
	fail(t, q, logger)
	fail(t, q, logger, "X")
	fail(t, q, logger, "X")
	fail(t, q, logger, "X")
	pods, summary := q.PendingPods()
	if len(pods) != 6 || summary != "activeQ:1; backoffQ:2; unschedulablePods:3" {
		t.Errorf("PendingPods = %d pods, %q", len(pods), summary)
	}
}

type recordingMetrics struct {
	mu       sync.Mutex
	pending  map[string]int
	incoming map[string]int
}

func (m *recordingMetrics) PendingPods(queue string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending[queue] = n
}

func (m *recordingMetrics) QueueIncoming(queue, event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.incoming[queue+"/"+event]++
}

func TestMetrics(t *testing.T) {
	m := &recordingMetrics{pending: map[string]int{}, incoming: map[string]int{}}
	q, _, logger := newTestQueue(t, Options{Metrics: m, PreEnqueuePlugins: gatePlugins()})
	q.Add(logger, pod("a").Obj())
	q.Add(logger, pod("b").Obj())
	q.Add(logger, pod("g").SchedulingGates("x").Obj())
	fail(t, q, logger, "X")
	want := map[string]int{QueueActive: 1, QueueBackoff: 0, QueueUnschedulable: 1, QueueGated: 1}
	if d := cmp.Diff(want, m.pending); d != "" {
		t.Errorf("pending (-want +got):\n%s", d)
	}
	wantIn := map[string]int{"active/PodAdd": 2, "gated/PodAdd": 1, "unschedulable/ScheduleAttemptFailure": 1}
	if d := cmp.Diff(wantIn, m.incoming); d != "" {
		t.Errorf("incoming (-want +got):\n%s", d)
	}
}

func TestRunFlushesWithTicker(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("p").Obj())
	fail(t, q, logger)
	q.Run(logger)
	defer q.Close()
	// Wait until both tickers are registered, then fire the backoff one.
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for where(q, "uid-p") != QueueActive {
		if time.Now().After(deadline) {
			t.Fatal("the backoff flush goroutine never moved the pod")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrent drives every entry point from several goroutines; run with
// -race. Afterwards every pod must be in exactly one place or scheduled.
func TestConcurrent(t *testing.T) {
	const n = 300
	q, clk, logger := newTestQueue(t, Options{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		ClusterEvents: map[string]map[string][]framework.ClusterEventWithHint{"": {"X": {{Event: nodeAdd}}}}})
	var scheduled sync.Map
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			q.Add(logger, pod(fmt.Sprintf("p%d", i)).Priority(int32(i%7)).Obj())
		}
	}()
	stopFlush := make(chan struct{})
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		for {
			select {
			case <-stopFlush:
				return
			default:
			}
			clk.Step(time.Millisecond)
			q.FlushBackoffQCompleted(logger)
			q.MoveAllToActiveOrBackoffQueue(logger, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add, Label: "NodeAdd"}, nil, nil, nil)
			q.FlushUnschedulablePodsLeftover(logger)
			_, _ = q.PendingPods()
		}
	}()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				p, err := q.Pop(logger)
				if err != nil {
					return
				}
				cycle := q.SchedulingCycle()
				if (i+w)%3 == 0 {
					scheduled.Store(p.Pod.UID, true)
					q.Done(p.Pod.UID)
					continue
				}
				if i%2 == 0 {
					p.UnschedulablePlugins = sets.New("X")
				}
				if err := q.AddUnschedulableIfNotPresent(logger, p, cycle); err != nil {
					t.Error(err)
				}
				q.Done(p.Pod.UID)
			}
		}()
	}
	// Let them run until everything is scheduled.
	deadline := time.Now().Add(30 * time.Second)
	for {
		count := 0
		scheduled.Range(func(any, any) bool { count++; return true })
		if count == n {
			break
		}
		if time.Now().After(deadline) {
			a, b, u := q.Len()
			t.Fatalf("only %d/%d pods scheduled; queue %d/%d/%d", count, n, a, b, u)
		}
		time.Sleep(time.Millisecond)
	}
	close(stopFlush)
	<-flushDone
	q.Close()
	wg.Wait()
	if a, b, u := q.Len(); a+b+u != 0 {
		t.Errorf("queue not empty after every pod was scheduled: %d/%d/%d", a, b, u)
	}
}

// gatePlugin holds back pods that still have scheduling gates, like the
// SchedulingGates plugin.
type gatePlugin struct{ code framework.Code }

func (gatePlugin) Name() string { return "SchedulingGates" }

func (g gatePlugin) PreEnqueue(_ context.Context, p *v1.Pod) *framework.Status {
	if len(p.Spec.SchedulingGates) == 0 {
		return nil
	}
	return framework.NewStatus(g.code, "waiting for scheduling gates")
}

func gatePlugins() map[string][]framework.PreEnqueuePlugin {
	return map[string][]framework.PreEnqueuePlugin{"": {gatePlugin{code: framework.UnschedulableAndUnresolvable}}}
}
