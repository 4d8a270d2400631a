package cache

import (
	"errors"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
)

// TestBindingCheck covers what happens to an assumed pod whose TTL has
// passed when a BindingCheck can ask the API server. The regression: with
// watch events held back longer than the TTL (found by test/chaos's
// watch-delay scenario), the cache used to drop pods whose binds had
// succeeded, freeing their node's capacity, and berth overcommitted the
// node by up to the dropped pods' requests once the events arrived.
func TestBindingCheck(t *testing.T) {
	p := makePod("p", "n1", "500m")
	onN2 := makePod("p", "n2", "500m")
	unbound := makePod("p", "", "500m")
	other := makePod("p", "n1", "500m")
	other.UID = "another-pod-of-the-same-name"
	failure := errors.New("API server unavailable")

	tests := []struct {
		name string
		// answers are the check's answers, one per cleanup past a TTL.
		answers     []answer
		wantInCache bool
		wantAssumed bool
		wantCPU     map[string]int64
		wantDrift   map[string]int
	}{
		{
			name:        "bound where assumed: confirmed, capacity kept",
			answers:     []answer{{pod: p}},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 500},
			wantDrift:   map[string]int{DriftAssumedPodConfirmedLate: 1},
		},
		{
			name:        "bound elsewhere: moved to the server's node",
			answers:     []answer{{pod: onN2}},
			wantInCache: true,
			wantCPU:     map[string]int64{"n1": 0, "n2": 500},
			wantDrift:   map[string]int{DriftAssumedPodConfirmedLate: 1},
		},
		{
			name:      "gone: dropped",
			answers:   []answer{{}},
			wantCPU:   map[string]int64{"n1": 0},
			wantDrift: map[string]int{DriftAssumedPodExpired: 1},
		},
		{
			name:      "not bound: dropped",
			answers:   []answer{{pod: unbound}},
			wantCPU:   map[string]int64{"n1": 0},
			wantDrift: map[string]int{DriftAssumedPodExpired: 1},
		},
		{
			name:      "replaced by a pod of the same name: dropped",
			answers:   []answer{{pod: other}},
			wantCPU:   map[string]int64{"n1": 0},
			wantDrift: map[string]int{DriftAssumedPodExpired: 1},
		},
		{
			name:        "server unavailable: kept assumed for another TTL",
			answers:     []answer{{err: failure}},
			wantInCache: true, wantAssumed: true,
			wantCPU: map[string]int64{"n1": 500},
		},
		{
			name:      "server unavailable, then the pod gone: dropped a TTL later",
			answers:   []answer{{err: failure}, {}},
			wantCPU:   map[string]int64{"n1": 0},
			wantDrift: map[string]int{DriftAssumedPodExpired: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			c, clk, m := newTestCache(ttl)
			calls := 0
			c.SetBindingCheck(func(pod *v1.Pod) (*v1.Pod, error) {
				if pod.UID != p.UID {
					t.Errorf("checked pod %s, want %s", pod.UID, p.UID)
				}
				if calls >= len(tc.answers) {
					t.Fatalf("check called %d times, want %d", calls+1, len(tc.answers))
				}
				a := tc.answers[calls]
				calls++
				return a.pod, a.err
			})
			if err := c.AssumePod(logger, p); err != nil {
				t.Fatal(err)
			}
			if err := c.FinishBinding(logger, p); err != nil {
				t.Fatal(err)
			}
			c.CleanupExpiredAssumedPods(logger) // before the TTL: not checked
			for range tc.answers {
				clk.Step(ttl)
				c.CleanupExpiredAssumedPods(logger)
			}
			if calls != len(tc.answers) {
				t.Errorf("check called %d times, want %d", calls, len(tc.answers))
			}
			_, err := c.GetPod(p)
			if inCache := err == nil; inCache != tc.wantInCache {
				t.Errorf("pod in cache = %v, want %v", inCache, tc.wantInCache)
			}
			if assumed, _ := c.IsAssumedPod(p); assumed != tc.wantAssumed {
				t.Errorf("IsAssumedPod = %v, want %v", assumed, tc.wantAssumed)
			}
			for node, want := range tc.wantCPU {
				if got := requestedCPU(c, node); got != want && !(want == 0 && got == -1) {
					t.Errorf("node %s requested cpu = %d, want %d", node, got, want)
				}
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

type answer struct {
	pod *v1.Pod
	err error
}

// TestBindingCheckRace: an add event that confirms the pod while the
// check is asking the server wins; the cleanup leaves the pod alone.
func TestBindingCheckRace(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	c, clk, m := newTestCache(ttl)
	p := makePod("p", "n1", "500m")
	c.SetBindingCheck(func(pod *v1.Pod) (*v1.Pod, error) {
		if err := c.AddPod(logger, p); err != nil {
			t.Error(err)
		}
		return nil, nil // the server's answer is older than the event
	})
	if err := c.AssumePod(logger, p); err != nil {
		t.Fatal(err)
	}
	if err := c.FinishBinding(logger, p); err != nil {
		t.Fatal(err)
	}
	clk.Step(ttl)
	c.CleanupExpiredAssumedPods(logger)
	if _, err := c.GetPod(p); err != nil {
		t.Errorf("pod confirmed during the check was dropped: %v", err)
	}
	if got := requestedCPU(c, "n1"); got != 500 {
		t.Errorf("n1 requested cpu = %d, want 500", got)
	}
	if len(m.drift) != 0 {
		t.Errorf("unexpected drift %v", m.drift)
	}
}
