package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"

	"github.com/berthsched/berth/pkg/framework"
)

var (
	nodeAdd         = framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add, Label: "NodeAdd"}
	nodeLabelChange = framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeLabel, Label: "NodeLabelChange"}
	nodeTaintChange = framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeTaint, Label: "NodeTaintChange"}
	assignedPodDel  = framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete, Label: "AssignedPodDelete"}
	pvcAdd          = framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add, Label: "PVCAdd"}
	gatesRemoved    = framework.ClusterEvent{Resource: framework.UnscheduledPod, ActionType: framework.UpdatePodSchedulingGatesEliminated, Label: "PodSchedulingGatesEliminated"}
	forceAll        = framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.All, Label: "ForceAll"}
)

func hintQueue(klog.Logger, *v1.Pod, interface{}, interface{}) (framework.QueueingHint, error) {
	return framework.Queue, nil
}

func hintSkip(klog.Logger, *v1.Pod, interface{}, interface{}) (framework.QueueingHint, error) {
	return framework.QueueSkip, nil
}

func hintError(klog.Logger, *v1.Pod, interface{}, interface{}) (framework.QueueingHint, error) {
	return framework.QueueSkip, errors.New("boom")
}

// hintIfNodeLabeled queues only when the new node carries the label the pod
// selects, like NodeAffinity's hint.
func hintIfNodeLabeled(_ klog.Logger, p *v1.Pod, _, newObj interface{}) (framework.QueueingHint, error) {
	n, ok := newObj.(*v1.Node)
	if !ok {
		return framework.Queue, nil
	}
	for k, v := range p.Spec.NodeSelector {
		if n.Labels[k] != v {
			return framework.QueueSkip, nil
		}
	}
	return framework.Queue, nil
}

// testEvents is the registration of a made-up profile "" (the default
// schedulerName of st pods) whose plugins react to different events.
func testEvents() map[string]map[string][]framework.ClusterEventWithHint {
	return map[string]map[string][]framework.ClusterEventWithHint{
		"": {
			"Fit":          {{Event: nodeAdd}, {Event: assignedPodDel, QueueingHintFn: hintQueue}},
			"Affinity":     {{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}, QueueingHintFn: hintIfNodeLabeled}},
			"Taints":       {{Event: nodeTaintChange, QueueingHintFn: hintSkip}},
			"Flaky":        {{Event: pvcAdd, QueueingHintFn: hintError}},
			"Volumes":      {{Event: framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.Add}}},
			"Unregistered": nil,
		},
	}
}

func TestMoveAllToActiveOrBackoffQueue(t *testing.T) {
	node := func(labels map[string]string) *v1.Node {
		return &v1.Node{Spec: v1.NodeSpec{}, Status: v1.NodeStatus{}, ObjectMeta: metaWithLabels(labels)}
	}
	type failed struct {
		name     string
		plugins  []string
		selector map[string]string
	}
	pods := []failed{
		{name: "fit", plugins: []string{"Fit"}},
		{name: "affinity", plugins: []string{"Affinity"}, selector: map[string]string{"zone": "a"}},
		{name: "taints", plugins: []string{"Taints"}},
		{name: "flaky", plugins: []string{"Flaky"}},
		{name: "volumes", plugins: []string{"Volumes"}},
		{name: "unregistered", plugins: []string{"Unregistered"}},
		{name: "fit+taints", plugins: []string{"Taints", "Fit"}},
	}
	tests := []struct {
		name     string
		event    framework.ClusterEvent
		newObj   interface{}
		preCheck func(*v1.Pod) bool
		step     time.Duration // clock advance before the event
		want     map[string][]string
	}{
		{
			name:   "node add during backoff: registered plugins to backoffQ",
			event:  nodeAdd,
			newObj: node(map[string]string{"zone": "a"}),
			want: map[string][]string{
				QueueBackoff:       {"affinity", "fit", "fit+taints", "volumes"},
				QueueUnschedulable: {"flaky", "taints", "unregistered"},
			},
		},
		{
			name:   "node add after backoff: to activeQ",
			event:  nodeAdd,
			newObj: node(map[string]string{"zone": "a"}),
			step:   time.Second,
			want: map[string][]string{
				QueueActive:        {"affinity", "fit", "fit+taints", "volumes"},
				QueueUnschedulable: {"flaky", "taints", "unregistered"},
			},
		},
		{
			name:   "hint skips a node in the wrong zone",
			event:  nodeAdd,
			newObj: node(map[string]string{"zone": "b"}),
			want: map[string][]string{
				QueueBackoff:       {"fit", "fit+taints", "volumes"},
				QueueUnschedulable: {"affinity", "flaky", "taints", "unregistered"},
			},
		},
		{
			name:   "label change wakes only Affinity",
			event:  nodeLabelChange,
			newObj: node(map[string]string{"zone": "a"}),
			want: map[string][]string{
				QueueBackoff:       {"affinity"},
				QueueUnschedulable: {"fit", "fit+taints", "flaky", "taints", "unregistered", "volumes"},
			},
		},
		{
			name:  "hint returning Skip keeps the pod",
			event: nodeTaintChange,
			want: map[string][]string{
				QueueUnschedulable: {"affinity", "fit", "fit+taints", "flaky", "taints", "unregistered", "volumes"},
			},
		},
		{
			name:  "hint error queues; wildcard registration matches",
			event: pvcAdd,
			want: map[string][]string{
				QueueBackoff:       {"flaky", "volumes"},
				QueueUnschedulable: {"affinity", "fit", "fit+taints", "taints", "unregistered"},
			},
		},
		{
			name:  "registered Pod event matches an AssignedPod event",
			event: assignedPodDel,
			want: map[string][]string{
				QueueBackoff:       {"fit", "fit+taints"},
				QueueUnschedulable: {"affinity", "flaky", "taints", "unregistered", "volumes"},
			},
		},
		{
			name:     "preCheck filters",
			event:    nodeAdd,
			newObj:   node(nil),
			preCheck: func(p *v1.Pod) bool { return p.Name != "fit" },
			want: map[string][]string{
				QueueBackoff:       {"fit+taints", "volumes"},
				QueueUnschedulable: {"affinity", "fit", "flaky", "taints", "unregistered"},
			},
		},
		{
			name:  "wildcard event moves everything",
			event: forceAll,
			want: map[string][]string{
				QueueBackoff: {"affinity", "fit", "fit+taints", "flaky", "taints", "unregistered", "volumes"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, clk, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
			for _, f := range pods {
				q.Add(logger, pod(f.name).NodeSelector(f.selector).Obj())
				fail(t, q, logger, f.plugins...)
			}
			clk.Step(tt.step)
			q.MoveAllToActiveOrBackoffQueue(logger, tt.event, nil, tt.newObj, tt.preCheck)
			if d := cmp.Diff(tt.want, layout(q)); d != "" {
				t.Errorf("queues (-want +got):\n%s", d)
			}
		})
	}
}

// layout lists the pods of each sub-queue by name.
func layout(q *PriorityQueue) map[string][]string {
	pods, _ := q.PendingPods()
	out := map[string][]string{}
	for _, p := range pods {
		w := where(q, p.UID)
		out[w] = append(out[w], p.Name)
	}
	for k := range out {
		out[k] = names(podsNamed(out[k]))
	}
	return out
}

func podsNamed(ns []string) []*v1.Pod {
	var out []*v1.Pod
	for _, n := range ns {
		out = append(out, pod(n).Obj())
	}
	return out
}

// A pod with no profile registration cannot be judged; it is retried rather
// than stranded.
func TestMoveUnknownProfile(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
	q.Add(logger, pod("p").SchedulerName("other").Obj())
	fail(t, q, logger, "Fit")
	q.MoveAllToActiveOrBackoffQueue(logger, nodeTaintChange, nil, nil, nil)
	if w := where(q, "uid-p"); w != QueueBackoff {
		t.Fatalf("pod in %s, want backoff", w)
	}
}

// Events that arrive while a pod is being scheduled must not be lost.
func TestInFlight(t *testing.T) {
	tests := []struct {
		name    string
		plugins []string
		// during runs between Pop and AddUnschedulableIfNotPresent.
		during func(q *PriorityQueue, logger klog.Logger)
		// doneFirst calls Done before AddUnschedulableIfNotPresent, which
		// leaves the queue only the cycle counters to go by.
		doneFirst bool
		want      string
	}{
		{
			name:    "no event: pool",
			plugins: []string{"Fit"},
			during:  func(*PriorityQueue, klog.Logger) {},
			want:    QueueUnschedulable,
		},
		{
			name:    "registered event: backoff",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil)
			},
			want: QueueBackoff,
		},
		{
			name:    "unrelated event: pool",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.MoveAllToActiveOrBackoffQueue(logger, nodeTaintChange, nil, nil, nil)
				q.MoveAllToActiveOrBackoffQueue(logger, pvcAdd, nil, nil, nil)
			},
			want: QueueUnschedulable,
		},
		{
			name:    "hint skip during flight: pool",
			plugins: []string{"Taints"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.MoveAllToActiveOrBackoffQueue(logger, nodeTaintChange, nil, nil, nil)
			},
			want: QueueUnschedulable,
		},
		{
			name:    "any event, Done first (cycle fallback): backoff",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.MoveAllToActiveOrBackoffQueue(logger, nodeTaintChange, nil, nil, nil)
			},
			doneFirst: true,
			want:      QueueBackoff,
		},
		{
			name:      "no event, Done first: pool",
			plugins:   []string{"Fit"},
			during:    func(*PriorityQueue, klog.Logger) {},
			doneFirst: true,
			want:      QueueUnschedulable,
		},
		{
			name:   "error: backoff",
			during: func(*PriorityQueue, klog.Logger) {},
			want:   QueueBackoff,
		},
		{
			name:    "pod updated: backoff",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.Update(logger, pod("p").Obj(), pod("p").Label("new", "label").Obj())
			},
			want: QueueBackoff,
		},
		{
			name:    "status-only update: pool",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.Update(logger, pod("p").Obj(), pod("p").Phase(v1.PodPending).Obj())
			},
			want: QueueUnschedulable,
		},
		{
			name:    "activated: active",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.Activate(logger, map[string]*v1.Pod{"p": pod("p").Obj()})
			},
			want: QueueActive,
		},
		{
			name:    "deleted: dropped",
			plugins: []string{"Fit"},
			during: func(q *PriorityQueue, logger klog.Logger) {
				q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil)
				q.Delete(pod("p").Obj())
			},
			want: "none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
			q.Add(logger, pod("p").Obj())
			p := mustPop(t, q, logger)
			cycle := q.SchedulingCycle()
			tt.during(q, logger)
			if w := where(q, "uid-p"); w != "inFlight" && w != "none" {
				t.Fatalf("in-flight pod was put in %s", w)
			}
			if tt.doneFirst {
				q.Done(p.Pod.UID)
			}
			p.UnschedulablePlugins = sets.New(tt.plugins...)
			if err := q.AddUnschedulableIfNotPresent(logger, p, cycle); err != nil {
				t.Fatal(err)
			}
			q.Done(p.Pod.UID)
			if w := where(q, "uid-p"); w != tt.want {
				t.Errorf("pod in %s, want %s", w, tt.want)
			}
			q.lock.Lock()
			defer q.lock.Unlock()
			if len(q.inFlight.pods) != 0 || len(q.inFlight.events) != 0 {
				t.Errorf("in-flight log not cleaned up: %d pods, %d events", len(q.inFlight.pods), len(q.inFlight.events))
			}
		})
	}
}

// The requeued pod carries the newest version received while in flight.
func TestInFlightKeepsLatestVersion(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
	q.Add(logger, pod("p").Obj())
	p := mustPop(t, q, logger)
	q.Update(logger, pod("p").Obj(), pod("p").Label("v", "2").Obj())
	p.UnschedulablePlugins = sets.New("Fit")
	if err := q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	pods, _ := q.PendingPods()
	if len(pods) != 1 || pods[0].Labels["v"] != "2" {
		t.Fatalf("requeued pod = %+v, want label v=2", pods)
	}
}

// Events are kept only for as long as some in-flight pod needs them, and
// each pod sees exactly the events since its own Pop.
func TestInFlightLogSharedAndTrimmed(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
	q.Add(logger, pod("a").Obj())
	clk.Step(time.Second)
	q.Add(logger, pod("b").Obj())
	a := mustPop(t, q, logger)
	q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil) // only a sees it
	b := mustPop(t, q, logger)
	q.MoveAllToActiveOrBackoffQueue(logger, pvcAdd, nil, nil, nil) // both see it
	q.lock.Lock()
	if n := len(q.inFlight.events); n != 2 {
		t.Errorf("log holds %d events, want 2", n)
	}
	q.lock.Unlock()

	a.UnschedulablePlugins = sets.New("Fit")
	_ = q.AddUnschedulableIfNotPresent(logger, a, 0)
	q.lock.Lock()
	if n := len(q.inFlight.events); n != 1 {
		t.Errorf("after a returned the log holds %d events, want 1", n)
	}
	q.lock.Unlock()
	b.UnschedulablePlugins = sets.New("Fit")
	_ = q.AddUnschedulableIfNotPresent(logger, b, 0)
	if wa, wb := where(q, "uid-a"), where(q, "uid-b"); wa != QueueBackoff || wb != QueueUnschedulable {
		t.Errorf("a in %s (want backoff), b in %s (want unschedulable)", wa, wb)
	}
	q.lock.Lock()
	defer q.lock.Unlock()
	if len(q.inFlight.events) != 0 {
		t.Errorf("log not emptied")
	}
}

func TestAddUnschedulableIfPresent(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	q.Add(logger, pod("p").Obj())
	p := mustPop(t, q, logger)
	q.Done(p.Pod.UID)
	q.Add(logger, pod("p").Obj()) // e.g. a late informer add
	if err := q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle()); err == nil {
		t.Fatal("want an error for a pod already queued")
	}
	if a, b, u := q.Len(); a != 1 || b != 0 || u != 0 {
		t.Errorf("Len = %d,%d,%d; want the pod once in activeQ", a, b, u)
	}
}

func TestUpdateInPool(t *testing.T) {
	tests := []struct {
		name   string
		update func(*v1.Pod) *v1.Pod
		step   time.Duration
		want   string
	}{
		{"status only: stays", func(p *v1.Pod) *v1.Pod {
			c := p.DeepCopy()
			c.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse}}
			c.ResourceVersion = "7"
			return c
		}, 0, QueueUnschedulable},
		{"label change while backing off: backoff", func(p *v1.Pod) *v1.Pod {
			c := p.DeepCopy()
			c.Labels = map[string]string{"x": "y"}
			return c
		}, 0, QueueBackoff},
		{"generated claim named in status after backoff: active", func(p *v1.Pod) *v1.Pod {
			c := p.DeepCopy()
			name := "p-gpu-x7k2"
			c.Status.ResourceClaimStatuses = []v1.PodResourceClaimStatus{{Name: "gpu", ResourceClaimName: &name}}
			return c
		}, time.Second, QueueActive},
		{"spec change after backoff: active", func(p *v1.Pod) *v1.Pod {
			c := p.DeepCopy()
			c.Spec.NodeSelector = map[string]string{"x": "y"}
			return c
		}, time.Second, QueueActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, clk, logger := newTestQueue(t, Options{})
			old := pod("p").Obj()
			q.Add(logger, old)
			fail(t, q, logger, "Fit")
			clk.Step(tt.step)
			q.Update(logger, old, tt.update(old))
			if w := where(q, "uid-p"); w != tt.want {
				t.Errorf("pod in %s, want %s", w, tt.want)
			}
		})
	}
}

func TestUpdateUnknownAdds(t *testing.T) {
	q, _, logger := newTestQueue(t, Options{})
	q.Update(logger, nil, pod("p").Obj())
	if w := where(q, "uid-p"); w != QueueActive {
		t.Fatalf("pod in %s, want active", w)
	}
}

func TestPreEnqueueGating(t *testing.T) {
	for _, code := range []framework.Code{framework.UnschedulableAndUnresolvable, framework.Pending} {
		t.Run(code.String(), func(t *testing.T) {
			events := testEvents()
			events[""]["SchedulingGates"] = []framework.ClusterEventWithHint{{Event: gatesRemoved}}
			q, _, logger := newTestQueue(t, Options{
				ClusterEvents:     events,
				PreEnqueuePlugins: map[string][]framework.PreEnqueuePlugin{"": {gatePlugin{code: code}}},
			})
			gated := pod("g").SchedulingGates("wait").Obj()
			q.Add(logger, gated)
			q.Add(logger, pod("free").Obj())
			if w := where(q, "uid-g"); w != QueueGated {
				t.Fatalf("gated pod in %s", w)
			}
			q.lock.Lock()
			gp := q.pool["uid-g"]
			rejectors := gp.UnschedulablePlugins.Union(gp.PendingPlugins)
			q.lock.Unlock()
			if !rejectors.Has("SchedulingGates") {
				t.Fatalf("gating plugin not recorded: %v", sets.List(rejectors))
			}
			if a, _, u := q.Len(); a != 1 || u != 1 {
				t.Fatalf("Len active=%d unschedulable=%d, want 1,1", a, u)
			}

			// An unrelated event, the timeout flush and Activate do not
			// release it while the gate is there.
			q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil)
			q.FlushUnschedulablePodsLeftover(logger)
			q.Activate(logger, map[string]*v1.Pod{"g": gated})
			if w := where(q, "uid-g"); w != QueueGated {
				t.Fatalf("gated pod in %s after unrelated moves", w)
			}
			// The gate event with the gate still present re-gates it.
			q.MoveAllToActiveOrBackoffQueue(logger, gatesRemoved, nil, gated, nil)
			if w := where(q, "uid-g"); w != QueueGated {
				t.Fatalf("gated pod in %s, want still gated", w)
			}

			// The gate goes: the informer delivers an update, and the pod
			// enters activeQ without having been counted as an attempt.
			ungated := gated.DeepCopy()
			ungated.Spec.SchedulingGates = nil
			q.Update(logger, gated, ungated)
			if w := where(q, "uid-g"); w != QueueActive {
				t.Fatalf("ungated pod in %s, want active", w)
			}
			for range 2 {
				p := mustPop(t, q, logger)
				if p.Pod.Name == "g" && (p.Attempts != 1 || p.Gated || p.UnschedulablePlugins.Len() != 0) {
					t.Errorf("released pod: attempts=%d gated=%v plugins=%v", p.Attempts, p.Gated, sets.List(p.UnschedulablePlugins))
				}
			}
		})
	}
}

// switchGate gates every pod until opened, and registers an event that
// releases them; it stands for PreEnqueue plugins that wait on other objects.
type switchGate struct{ open *bool }

func (switchGate) Name() string { return "Switch" }

func (s switchGate) PreEnqueue(context.Context, *v1.Pod) *framework.Status {
	if *s.open {
		return nil
	}
	return framework.NewStatus(framework.Pending, "closed")
}

func TestPreEnqueueReleasedByEvent(t *testing.T) {
	open := false
	events := map[string]map[string][]framework.ClusterEventWithHint{"": {"Switch": {{Event: pvcAdd}}}}
	q, _, logger := newTestQueue(t, Options{
		ClusterEvents:     events,
		PreEnqueuePlugins: map[string][]framework.PreEnqueuePlugin{"": {switchGate{open: &open}}},
	})
	q.Add(logger, pod("p").Obj())
	if w := where(q, "uid-p"); w != QueueGated {
		t.Fatalf("pod in %s, want gated", w)
	}
	open = true
	q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil)
	if w := where(q, "uid-p"); w != QueueGated {
		t.Fatalf("unregistered event released the pod (in %s)", w)
	}
	q.MoveAllToActiveOrBackoffQueue(logger, pvcAdd, nil, nil, nil)
	if w := where(q, "uid-p"); w != QueueActive {
		t.Fatalf("pod in %s, want active", w)
	}
}

// A pod that goes back to activeQ after a failure meets PreEnqueue again.
func TestPreEnqueueOnBackoffFlush(t *testing.T) {
	open := true
	q, clk, logger := newTestQueue(t, Options{
		PreEnqueuePlugins: map[string][]framework.PreEnqueuePlugin{"": {switchGate{open: &open}}},
	})
	q.Add(logger, pod("p").Obj())
	fail(t, q, logger)
	open = false
	clk.Step(time.Second)
	q.FlushBackoffQCompleted(logger)
	if w := where(q, "uid-p"); w != QueueGated {
		t.Fatalf("pod in %s, want gated", w)
	}
}

func metaWithLabels(l map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: "n", Labels: l}
}

// TestPopFromBackoffWhenIdle: with activeQ empty, Pop takes a pod that an
// event moved to backoffQ without waiting out its backoff (as
// kube-scheduler's SchedulerPopFromBackoffQ), but never a pod that failed
// with an error, which waits its backoff out.
func TestPopFromBackoffWhenIdle(t *testing.T) {
	q, clk, logger := newTestQueue(t, Options{ClusterEvents: testEvents()})
	q.Add(logger, pod("moved").Obj())
	p := mustPop(t, q, logger)
	// A Node add arrives during the attempt; Fit registered for it.
	q.MoveAllToActiveOrBackoffQueue(logger, nodeAdd, nil, nil, nil)
	p.UnschedulablePlugins = sets.New("Fit")
	if err := q.AddUnschedulableIfNotPresent(logger, p, q.SchedulingCycle()); err != nil {
		t.Fatal(err)
	}
	if w := where(q, "uid-moved"); w != QueueBackoff {
		t.Fatalf("moved pod in %s, want backoff", w)
	}
	if got := mustPop(t, q, logger); got.Pod.Name != "moved" {
		t.Fatalf("Pop returned %s, want the moved pod from backoffQ", got.Pod.Name)
	}
	q.Done("uid-moved")

	q.Add(logger, pod("erred").Obj())
	fail(t, q, logger) // no plugins: an Error
	got := make(chan string, 1)
	go func() {
		if p, err := q.Pop(logger); err == nil {
			got <- p.Pod.Name
		}
	}()
	select {
	case n := <-got:
		t.Fatalf("Pop returned %q, which failed with an error and is backing off", n)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Step(time.Second)
	q.FlushBackoffQCompleted(logger)
	if n := <-got; n != "erred" {
		t.Fatalf("Pop returned %q after the backoff, want erred", n)
	}
}

// msgGate holds every pod back with its current message, as
// GangScheduling does for a pod whose group is short of members.
type msgGate struct{ msg *string }

func (msgGate) Name() string { return "Gang" }

func (g msgGate) PreEnqueue(context.Context, *v1.Pod) *framework.Status {
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, *g.msg)
}

// TestLongGated: a pod held by a PreEnqueue plugin is reported once it
// has waited the delay, then again only when the message changes and
// the interval has passed; pods held by SchedulingGates never are (the
// API server marks them), and a pod that leaves the gate is forgotten.
func TestLongGated(t *testing.T) {
	msg := "waiting for members: 1 of 3 exist"
	q, clk, logger := newTestQueue(t, Options{
		ClusterEvents:     map[string]map[string][]framework.ClusterEventWithHint{"": {"Gang": {{Event: pvcAdd}}}},
		PreEnqueuePlugins: map[string][]framework.PreEnqueuePlugin{"": {gatePlugin{code: framework.UnschedulableAndUnresolvable}, msgGate{msg: &msg}}},
	})
	gated := pod("gates").Obj()
	gated.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "example.com/hold"}}
	q.Add(logger, gated)
	q.Add(logger, pod("member").Obj())
	if got := q.LongGated(logger, 10*time.Second, time.Minute); len(got) != 0 {
		t.Fatalf("reported before the delay: %+v", got)
	}
	clk.Step(10 * time.Second)
	got := q.LongGated(logger, 10*time.Second, time.Minute)
	if len(got) != 1 || got[0].Pod.Name != "member" || got[0].Message != "Gang: waiting for members: 1 of 3 exist" {
		t.Fatalf("reports after the delay: %+v, want the member with the gang's message", got)
	}
	if got := q.LongGated(logger, 10*time.Second, time.Minute); len(got) != 0 {
		t.Fatalf("the same message reported twice: %+v", got)
	}
	// A new message (asked again at report time, with no event): not
	// before the interval.
	msg = "waiting for members: 2 of 3 exist"
	clk.Step(30 * time.Second)
	if got := q.LongGated(logger, 10*time.Second, time.Minute); len(got) != 0 {
		t.Fatalf("reported again within the interval: %+v", got)
	}
	clk.Step(30 * time.Second)
	if got := q.LongGated(logger, 10*time.Second, time.Minute); len(got) != 1 || got[0].Message != "Gang: "+msg {
		t.Fatalf("changed message after the interval: %+v", got)
	}
	if w := where(q, "uid-member"); w != QueueGated {
		t.Fatalf("member in %s, want gated", w)
	}
}
