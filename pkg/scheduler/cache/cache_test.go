package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
)

const ttl = 30 * time.Second

// step is one action on the cache; wantErr says whether it must fail.
type step struct {
	name    string
	do      func(l klog.Logger, c *Cache, clk *testingclock.FakeClock) error
	wantErr bool
}

func assume(p *v1.Pod) step {
	return step{name: "assume " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.AssumePod(l, p) }}
}
func finish(p *v1.Pod) step {
	return step{name: "finish " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.FinishBinding(l, p) }}
}
func forget(p *v1.Pod) step {
	return step{name: "forget " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.ForgetPod(l, p) }}
}
func add(p *v1.Pod) step {
	return step{name: "add " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.AddPod(l, p) }}
}
func update(old, p *v1.Pod) step {
	return step{name: "update " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.UpdatePod(l, old, p) }}
}
func remove(p *v1.Pod) step {
	return step{name: "remove " + p.Name, do: func(l klog.Logger, c *Cache, _ *testingclock.FakeClock) error { return c.RemovePod(l, p) }}
}
func advance(d time.Duration) step {
	return step{name: "advance " + d.String(), do: func(l klog.Logger, c *Cache, clk *testingclock.FakeClock) error {
		clk.Step(d)
		c.CleanupExpiredAssumedPods(l)
		return nil
	}}
}
func failing(s step) step { s.wantErr = true; return s }

func TestPodStateMachine(t *testing.T) {
	p := makePod("p", "n1", "500m")
	pOnN2 := makePod("p", "n2", "500m")
	pBigger := makePod("p", "n1", "700m")
	pDone := makePod("p", "n1", "500m")
	pDone.Status.Phase = v1.PodSucceeded
	noUID := makePod("q", "n1", "1")
	noUID.UID = ""
	unassigned := makePod("p", "", "1")

	tests := []struct {
		name        string
		steps       []step
		wantInCache bool
		wantAssumed bool
		// wantCPU is the requested millicpu per node; -1 means no NodeInfo.
		wantCPU   map[string]int64
		wantDrift map[string]int
	}{
		{
			name:        "assumed pod holds capacity",
			steps:       []step{assume(p)},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:        "assumed pod without FinishBinding never expires",
			steps:       []step{assume(p), advance(10 * ttl)},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:        "not expired before ttl after FinishBinding",
			steps:       []step{assume(p), advance(time.Hour), finish(p), advance(ttl - time.Second)},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:      "expired ttl after FinishBinding",
			steps:     []step{assume(p), finish(p), advance(ttl)},
			wantCPU:   map[string]int64{"n1": -1},
			wantDrift: map[string]int{DriftAssumedPodExpired: 1},
		},
		{
			name:        "confirmed pod never expires",
			steps:       []step{assume(p), finish(p), add(p), advance(10 * ttl)},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 500},
		},
		{
			name:        "confirmation by update also stops expiry",
			steps:       []step{assume(p), finish(p), update(p, pBigger), advance(10 * ttl)},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 700},
		},
		{
			name:    "forget undoes assume",
			steps:   []step{assume(p), forget(p)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:    "forget after expiry is not an error",
			steps:   []step{assume(p), finish(p), advance(2 * ttl), forget(p)},
			wantCPU: map[string]int64{"n1": -1},
			wantDrift: map[string]int{
				DriftAssumedPodExpired: 1,
			},
		},
		{
			name:        "forget on another node than assumed fails",
			steps:       []step{assume(p), failing(forget(pOnN2))},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:        "assume twice fails",
			steps:       []step{assume(p), failing(assume(p))},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:        "assume of an added pod fails",
			steps:       []step{add(p), failing(assume(p))},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 500},
		},
		{
			name:        "forget of a confirmed pod fails and keeps it",
			steps:       []step{assume(p), add(p), failing(forget(p))},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 500},
		},
		{
			name:        "add on another node than assumed moves the pod",
			steps:       []step{assume(p), finish(p), add(pOnN2), advance(10 * ttl)},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": -1, "n2": 500},
		},
		{
			name:    "removing an assumed pod",
			steps:   []step{assume(p), remove(p)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:        "add twice is an upsert",
			steps:       []step{add(p), add(pBigger)},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 700},
		},
		{
			name:        "update of an unknown pod adds it",
			steps:       []step{update(p, pBigger)},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 700},
		},
		{
			name:    "update to a terminal phase removes the pod",
			steps:   []step{add(p), update(p, pDone)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:    "add of a terminal pod is ignored",
			steps:   []step{add(pDone)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:    "add of a terminal assumed pod removes it",
			steps:   []step{assume(p), add(pDone)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:    "remove of an unknown pod is not an error",
			steps:   []step{remove(p), add(p), remove(p), remove(p)},
			wantCPU: map[string]int64{"n1": -1},
		},
		{
			name:    "invalid pods are rejected",
			steps:   []step{failing(assume(noUID)), failing(add(noUID)), failing(assume(unassigned)), failing(add(unassigned))},
			wantCPU: map[string]int64{"n1": -1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			c, clk, m := newTestCache(ttl)
			for _, s := range tc.steps {
				err := s.do(logger, c, clk)
				if (err != nil) != s.wantErr {
					t.Fatalf("%s: err = %v, want error %v", s.name, err, s.wantErr)
				}
			}
			got, err := c.GetPod(p)
			if inCache := err == nil; inCache != tc.wantInCache {
				t.Errorf("pod in cache = %v (%v), want %v", inCache, got, tc.wantInCache)
			}
			if assumed, _ := c.IsAssumedPod(p); assumed != tc.wantAssumed {
				t.Errorf("IsAssumedPod = %v, want %v", assumed, tc.wantAssumed)
			}
			for node, want := range tc.wantCPU {
				if got := requestedCPU(c, node); got != want {
					t.Errorf("node %s requested cpu = %d, want %d", node, got, want)
				}
			}
			n, _ := c.PodCount()
			if want := map[bool]int{true: 1, false: 0}[tc.wantInCache]; n != want {
				t.Errorf("PodCount = %d, want %d", n, want)
			}
			for kind, want := range tc.wantDrift {
				if m.drift[kind] != want {
					t.Errorf("drift %s = %d, want %d", kind, m.drift[kind], want)
				}
			}
			if len(tc.wantDrift) == 0 && len(m.drift) != 0 {
				t.Errorf("unexpected drift %v", m.drift)
			}
		})
	}
}

func TestDumpAssumedPods(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	a, b := makePod("a", "n1", "1"), makePod("b", "n1", "1")
	for _, p := range []*v1.Pod{b, a} {
		if err := c.AssumePod(logger, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.FinishBinding(logger, a); err != nil {
		t.Fatal(err)
	}
	d := c.Dump()
	if len(d.AssumedPods) != 2 || d.AssumedPods[0].Pod != a || d.AssumedPods[1].Pod != b {
		t.Fatalf("AssumedPods = %+v, want a then b", d.AssumedPods)
	}
	if !d.AssumedPods[0].BindingFinished || !d.AssumedPods[0].Deadline.Equal(t0.Add(ttl)) || d.AssumedPods[1].BindingFinished {
		t.Errorf("binding state wrong: %+v", d.AssumedPods)
	}
}

func TestNodeLifecycle(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	n1, n2 := makeNode("n1", "4"), makeNode("n2", "8")
	p1, p2 := makePod("p1", "n1", "1"), makePod("p2", "n1", "2")
	snap := NewEmptySnapshot()
	update := func(nodes []*v1.Node, pods ...*v1.Pod) {
		t.Helper()
		if err := c.UpdateSnapshot(logger, snap); err != nil {
			t.Fatal(err)
		}
		checkSnapshot(t, snap, pods, nodes)
	}

	if ni := c.AddNode(logger, n1); ni.Node() != n1 || ni.Allocatable.MilliCPU != 4000 {
		t.Fatalf("AddNode returned %+v", ni)
	}
	c.AddNode(logger, n2)
	for _, p := range []*v1.Pod{p1, p2} {
		if err := c.AddPod(logger, p); err != nil {
			t.Fatal(err)
		}
	}
	update([]*v1.Node{n1, n2}, p1, p2)

	n1Bigger := makeNode("n1", "16")
	if ni := c.UpdateNode(logger, n1, n1Bigger); ni.Allocatable.MilliCPU != 16000 || ni.Requested.MilliCPU != 3000 {
		t.Fatalf("UpdateNode returned allocatable %d requested %d", ni.Allocatable.MilliCPU, ni.Requested.MilliCPU)
	}
	update([]*v1.Node{n1Bigger, n2}, p1, p2)

	// The node goes, its pods stay until they are deleted.
	if err := c.RemoveNode(logger, n1Bigger); err != nil {
		t.Fatal(err)
	}
	if c.NodeCount() != 2 {
		t.Errorf("NodeCount = %d, want 2 (n2 and the pods of deleted n1)", c.NodeCount())
	}
	if n, _ := c.PodCount(); n != 2 {
		t.Errorf("PodCount = %d, want 2", n)
	}
	update([]*v1.Node{n2}, p1, p2)
	if _, err := snap.Get("n1"); err == nil {
		t.Error("deleted node n1 is still in the snapshot")
	}
	if requestedCPU(c, "n1") != 3000 {
		t.Errorf("deleted node's NodeInfo lost its pods: requested %d", requestedCPU(c, "n1"))
	}

	// The node comes back before its pods are gone: they count again.
	c.AddNode(logger, n1)
	update([]*v1.Node{n1, n2}, p1, p2)
	if err := c.RemoveNode(logger, n1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*v1.Pod{p1, p2} {
		if err := c.RemovePod(logger, p); err != nil {
			t.Fatal(err)
		}
	}
	if c.NodeCount() != 1 {
		t.Errorf("NodeCount = %d, want 1 once the deleted node's pods are gone", c.NodeCount())
	}
	update([]*v1.Node{n2})
	if err := c.RemoveNode(logger, n1); err != nil {
		t.Errorf("removing an unknown node: %v", err)
	}
	if err := c.RemoveNode(logger, &v1.Node{}); err == nil {
		t.Error("removing a node without a name succeeded")
	}
}

func TestRunExpiresAssumedPods(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := klog.FromContext(ctx)
	c, clk, m := newTestCache(ttl)
	p := makePod("p", "n1", "1")
	if err := c.AssumePod(logger, p); err != nil {
		t.Fatal(err)
	}
	if err := c.FinishBinding(logger, p); err != nil {
		t.Fatal(err)
	}
	c.Run(ctx, time.Second)
	// Step the fake clock until the loop has run past the deadline.
	err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		if clk.HasWaiters() {
			clk.Step(time.Second)
		}
		_, err := c.GetPod(p)
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("assumed pod was not expired by Run: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drift[DriftAssumedPodExpired] != 1 {
		t.Errorf("expired drift = %d, want 1", m.drift[DriftAssumedPodExpired])
	}
}

func TestConcurrentUse(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, _, _ := newTestCache(ttl)
	nodes := []*v1.Node{makeNode("n0", "64"), makeNode("n1", "64"), makeNode("n2", "64")}
	for _, n := range nodes {
		c.AddNode(logger, n)
	}
	const workers, perWorker = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				p := makePod(podName(w, i), nodes[i%3].Name, "10m")
				if err := c.AssumePod(logger, p); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					_ = c.ForgetPod(logger, p)
				} else {
					_ = c.FinishBinding(logger, p)
					_ = c.AddPod(logger, p)
				}
				_, _ = c.IsAssumedPod(p)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			n := makeNode("n1", "64")
			n.Labels["round"] = podName(0, i)
			c.UpdateNode(logger, nodes[1], n)
			c.CleanupExpiredAssumedPods(logger)
			_ = c.Dump()
		}
	})
	wg.Go(func() {
		snap := NewEmptySnapshot()
		for range 100 {
			if err := c.UpdateSnapshot(logger, snap); err != nil {
				t.Error(err)
				return
			}
			for _, ni := range snap.List() {
				_ = ni.Requested.MilliCPU
			}
		}
	})
	wg.Wait()
	if n, _ := c.PodCount(); n != workers*perWorker/2 {
		t.Errorf("PodCount = %d, want %d", n, workers*perWorker/2)
	}
	snap := NewEmptySnapshot()
	if err := c.UpdateSnapshot(logger, snap); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ni := range snap.List() {
		total += ni.Requested.MilliCPU
	}
	if want := int64(10 * workers * perWorker / 2); total != want {
		t.Errorf("requested cpu = %dm, want %dm", total, want)
	}
}

func podName(w, i int) string { return fmt.Sprintf("p-%d-%d", w, i) }
