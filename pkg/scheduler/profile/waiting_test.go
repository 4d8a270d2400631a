package profile

import (
	"context"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/berthsched/berth/internal/st"
	"github.com/berthsched/berth/pkg/framework"
)

// TestWaitingPodTimeoutsRunOnTheClock: each plugin's timeout counts from
// Permit on the injected clock; a plugin that allowed the pod no longer
// times it out, and the next plugin's timeout rejects it.
func TestWaitingPodTimeoutsRunOnTheClock(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		steps   []time.Duration // the verdict is expected after the last
		want    *framework.Status
		wantMsg string
	}{
		{
			name:    "the earliest timeout rejects",
			steps:   []time.Duration{59 * time.Second, time.Second},
			want:    framework.NewStatus(framework.Unschedulable).WithPlugin("Fast"),
			wantMsg: "rejected due to timeout after waiting 1m0s at plugin Fast",
		},
		{
			name:    "a plugin that allowed no longer times out",
			allow:   []string{"Fast"},
			steps:   []time.Duration{time.Minute, 3*time.Minute + 59*time.Second, time.Second},
			want:    framework.NewStatus(framework.Unschedulable).WithPlugin("Slow"),
			wantMsg: "rejected due to timeout after waiting 5m0s at plugin Slow",
		},
		{
			name:  "allowed by every plugin",
			allow: []string{"Fast", "Slow"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Unix(1000, 0))
			w := newWaitingPods(clk)
			wp := newWaitingPod(st.MakePod().Name("p").Obj(), map[string]time.Duration{"Fast": time.Minute, "Slow": 5 * time.Minute}, clk.Now())
			w.add(wp)
			for _, pl := range tc.allow {
				wp.Allow(pl)
			}
			got := make(chan *framework.Status, 1)
			go func() { got <- w.wait(context.Background(), wp) }()
			for i, d := range tc.steps {
				// Step only once the wait has a timer on the clock.
				for !clk.HasWaiters() {
					time.Sleep(time.Millisecond)
				}
				clk.Step(d)
				if i < len(tc.steps)-1 {
					select {
					case st := <-got:
						t.Fatalf("verdict %v after step %d, want none yet", st, i)
					default:
					}
				}
			}
			st := <-got
			if st.Code() != tc.want.Code() || st.Plugin() != tc.want.Plugin() || st.Message() != tc.wantMsg {
				t.Errorf("verdict = %v (plugin %q, message %q), want %v (plugin %q, message %q)", st.Code(), st.Plugin(), st.Message(), tc.want.Code(), tc.want.Plugin(), tc.wantMsg)
			}
		})
	}
}

// TestWaitingPodShutdown: a cancelled context ends the wait with an error
// and rejects the pod, so a late Allow changes nothing.
func TestWaitingPodShutdown(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Unix(1000, 0))
	w := newWaitingPods(clk)
	wp := newWaitingPod(st.MakePod().Name("p").Obj(), map[string]time.Duration{"Gang": time.Minute}, clk.Now())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := w.wait(ctx, wp); got.Code() != framework.Error {
		t.Errorf("verdict = %v, want Error", got)
	}
	wp.Allow("Gang")
	if clk.HasWaiters() {
		t.Error("the wait left a timer on the clock")
	}
}
